import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT } from '../../helpers/proxy.js';
import { freePort, httpAnswers, waitUntil } from '../../helpers/tools.js';
import { baseConfig, workspace } from '../admin/fixture.js';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Runs `serve` with stdout and stderr apart, until `ready` holds; then stops it with SIGTERM. */
async function serveUntil(configPath: string, ready: (out: { stdout: string; stderr: string }) => Promise<boolean>) {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out.stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out.stderr += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitUntil('the proxy to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`serve exited:\n${out.stdout}\n${out.stderr}`);
      return ready(out);
    }, 60_000);
  } finally {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killer);
  }
  return out;
}

describe('start-up, for a person watching the terminal', () => {
  for (const workers of [1, 2]) {
    it(`prints one human line on stderr, JSON logs on stdout unchanged (${workers} worker${workers > 1 ? 's' : ''})`, async () => {
      const ws = await workspace(`startup-line-${workers}`);
      try {
        const port = await freePort();
        await ws.write(baseConfig({
          listen: `127.0.0.1:${port}`,
          server: { workers },
          upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9' }, { name: 'ghcr.io', url: 'https://ghcr.io' }],
        }));
        const serving = (stdout: string) => stdout.split('\n').filter((l) => l.includes('"serving"')).length;
        const out = await serveUntil(ws.configPath, async ({ stdout, stderr }) =>
          serving(stdout) >= workers && stderr.includes('\n') && (await httpAnswers(`http://127.0.0.1:${port}/healthz`, 200)));
        expect(out.stderr).toBe(
          `portcullis ${VERSION} listening on http://127.0.0.1:${port} ` +
          `(console: http://127.0.0.1:${port}/ui/; upstreams: upstream.test, ghcr.io; policy version 1)\n`,
        );
        for (const line of out.stdout.trim().split('\n')) expect(() => JSON.parse(line), line).not.toThrow();
      } finally {
        await ws.remove();
      }
    }, 120_000);
  }

  it('gives a wildcard address a console URL a browser can open, and says when nobody can sign in', async () => {
    const ws = await workspace('startup-line-console');
    try {
      const port = await freePort();
      await ws.write(baseConfig({ listen: `0.0.0.0:${port}`, server: { workers: 1 }, auth: { tokens: [] } }));
      const out = await serveUntil(ws.configPath, async ({ stderr }) => stderr.includes('\n'));
      expect(out.stderr).toContain(`listening on http://0.0.0.0:${port} (console: http://127.0.0.1:${port}/ui/ (no auth.tokens: nobody can sign in);`);
    } finally {
      await ws.remove();
    }
  }, 120_000);
});
