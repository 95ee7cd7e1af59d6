import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile } from '../../../src/config/load.js';
import { startServer } from '../../../src/main.js';
import { silentLogger } from '../../../src/logger.js';
import { freePort, haveTools } from '../../helpers/tools.js';
import { cli } from '../admin/fixture.js';

/** The container's HEALTHCHECK: it must follow the configured port and scheme, and fail when nothing answers. */
const dir = mkdtempSync(join(tmpdir(), 'healthcheck-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!haveTools(['openssl']))('portcullis healthcheck', () => {
  it('exits 0 while the proxy answers on the configured TLS port and 1 once it is gone', async () => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=proxy.example', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify({
      listen: `0.0.0.0:${await freePort()}`,
      tls: { cert: 'cert.pem', key: 'key.pem' },
      server: { workers: 1 },
      upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9' }],
      policies: [{ name: 'open', match: ['**'], mode: 'allow' }],
    }));
    const running = await startServer(loadConfigFile(configPath), { log: silentLogger });
    try {
      const up = await cli(['healthcheck', '--config', configPath]);
      expect(up.code, up.stderr).toBe(0);
    } finally {
      await running.stop();
    }
    const down = await cli(['healthcheck', '--config', configPath]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/https:\/\/127\.0\.0\.1:\d+\/healthz/);
  });
});
