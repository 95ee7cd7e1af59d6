import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { parseConfig } from '../../../src/config/load.js';
import { startServer } from '../../../src/main.js';
import { silentLogger } from '../../../src/logger.js';
import { haveTools } from '../../helpers/tools.js';

/** The server as `serve` runs it: TLS from the config, and a clean stop. */
const dir = mkdtempSync(join(tmpdir(), 'tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!haveTools(['openssl']))('serve', () => {
  it('serves /v2/ over TLS with the configured certificate, then stops and releases its database', async () => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    const config = parseConfig(
      {
        listen: '127.0.0.1:0',
        tls: { cert: 'cert.pem', key: 'key.pem' },
        upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9' }],
        policies: [{ name: 'open', match: ['**'], mode: 'allow' }],
      },
      join(dir, 'config.json'),
    );
    const running = await startServer(config, { log: silentLogger });
    const ca = readFileSync(join(dir, 'cert.pem'));
    const answer = await new Promise<{ status: number; header: string | undefined }>((resolve, reject) => {
      request({ host: '127.0.0.1', port: running.port, path: '/v2/', ca }, (res) => {
        res.resume();
        resolve({ status: res.statusCode!, header: res.headers['docker-distribution-api-version'] as string | undefined });
      })
        .on('error', reject)
        .end();
    });
    expect(answer).toEqual({ status: 200, header: 'registry/2.0' });
    await running.stop();
    expect(running.server.listening).toBe(false);
    await expect(running.app.db.ping()).rejects.toThrow();
  });
});
