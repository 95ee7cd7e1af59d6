import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI } from '../../helpers/proxy.js';
import { baseConfig, workspace } from '../admin/fixture.js';

const run = promisify(execFile);

async function portcullis(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A prefix nginx cannot be pointed at is refused before anything is served, by check-config and by serve. */
describe('storage.offload at start', { timeout: 120_000 }, () => {
  it('refuses a prefix that is not an absolute path, naming the setting, and accepts a good one', async () => {
    const ws = await workspace('offload-config');
    try {
      await ws.write(baseConfig({ storage: { path: './store', offload: { xAccelRedirect: '_portcullis/store' } } }));
      const [check, serve] = await Promise.all([
        portcullis(['check-config', '--config', ws.configPath]),
        portcullis(['serve', '--config', ws.configPath]),
      ]);
      for (const out of [check, serve]) {
        expect(out.code, out.stderr).toBe(2);
        expect(out.stderr).toContain('storage.offload.xAccelRedirect: must be an absolute URL path ending in "/"');
      }
      await ws.write(baseConfig({ storage: { path: './store', offload: { xAccelRedirect: '/_portcullis/store/' } }, server: { trustedProxies: ['127.0.0.1'] } }));
      const ok = await portcullis(['check-config', '--config', ws.configPath]);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      await ws.remove();
    }
  });
});
