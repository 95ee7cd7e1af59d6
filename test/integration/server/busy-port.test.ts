import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../helpers/proxy.js';
import { baseConfig, workspace, type Workspace } from '../admin/fixture.js';

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

/** Runs `portcullis serve`; resolves once it exits, or with code null if it is still running after `limitMs`. */
function serveUntilExit(configPath: string, limitMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: null, stderr });
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/**
 * A port another program holds: the proxy exits non-zero with one line saying so, whatever the number of
 * workers, and leaves no process behind serving nothing.
 */
describe('serve on a port in use', () => {
  let holder: Server;
  let port: number;
  let ws: Workspace;

  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    port = (holder.address() as AddressInfo).port;
    ws = await workspace('busy-port');
  });
  afterAll(async () => {
    await new Promise((resolve) => holder.close(resolve));
    await ws.remove();
  });

  for (const workers of [1, 2]) {
    it(`exits 4 with one clear line (workers: ${workers})`, async () => {
      await ws.write(baseConfig({ listen: `127.0.0.1:${port}`, server: { workers } }));
      // Start-up alone may take seconds on a loaded machine; a proxy that stays up never exits at all.
      const { code, stderr } = await serveUntilExit(ws.configPath, 45_000);
      expect(code, stderr).toBe(4);
      expect(stderr).toBe(`portcullis: cannot listen on 127.0.0.1:${port}: the address is in use\n`);
      expect(processesNaming(ws.configPath)).toEqual([]);
    }, 60_000);
  }
});
