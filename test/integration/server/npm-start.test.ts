import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT } from '../../helpers/proxy.js';
import { freePort, httpAnswers, waitUntil } from '../../helpers/tools.js';
import { baseConfig } from '../admin/fixture.js';

/** Pids of processes whose command line names `needle` (Linux /proc). */
function processesNaming(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * The README's run command on a built checkout: `npm start` serves without building again, and SIGTERM to
 * the process it starts (npm) stops the supervisor and its workers and frees the port.
 */
describe('npm start', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'npm-start-'));
  });
  afterAll(async () => {
    for (const pid of processesNaming(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('serves without rebuilding and stops on SIGTERM to npm, leaving no process and a free port', async () => {
    const port = await freePort();
    const configPath = join(dir, 'portcullis.json');
    await writeFile(configPath, JSON.stringify(baseConfig({ listen: `127.0.0.1:${port}`, server: { workers: 2 } })));
    const builtAt = statSync(CLI).mtimeMs;

    const npm = spawn('npm', ['start', '--', '--config', configPath], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    for (const stream of [npm.stdout, npm.stderr]) stream.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | string | null>((resolve) => npm.on('exit', (code, signal) => resolve(code ?? signal)));

    await waitUntil('npm start answering /healthz', () => httpAnswers(`http://127.0.0.1:${port}/healthz`, 200), 60_000);
    expect(statSync(CLI).mtimeMs, 'a built checkout is not built again').toBe(builtAt);
    expect(output).not.toContain('building first');
    // npm, the proxy's supervisor and its two workers
    expect(processesNaming(configPath).length, output).toBeGreaterThanOrEqual(4);

    npm.kill('SIGTERM');
    await exited;
    await waitUntil('every process of npm start gone', async () => processesNaming(configPath).length === 0, 30_000);
    expect(await portOpen(port)).toBe(false);
    expect(output).toContain('"msg":"stopped"');
  }, 120_000);
});
