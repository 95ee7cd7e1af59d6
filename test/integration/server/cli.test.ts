import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/proxy.js';
import { baseConfig, cli, workspace } from '../admin/fixture.js';
import { createApp } from '../../../src/app.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/logger.js';

/** What scripts rely on from the CLI: its version, and exit codes that tell a usage or config error (2) from a finding (1). */
describe('the command line', () => {
  it('prints the package version with --version', async () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const out = await cli(['--version']);
    expect(out.code).toBe(0);
    expect(out.stdout.trim()).toBe(`portcullis ${version}`);
  });

  it('exits 2 for an invalid config and for a usage error', async () => {
    const ws = await workspace('cli-codes');
    try {
      await ws.write({ listen: 'nowhere', policies: [{ name: 'x' }] });
      const bad = await cli(['check-config', '--config', ws.configPath]);
      expect(bad.code, bad.stderr).toBe(2);
      expect(bad.stderr).toContain('policies[0]');
      const usage = await cli(['audit', 'query']);
      expect(usage.code, usage.stderr).toBe(2);
    } finally {
      await ws.remove();
    }
  });

  it('refuses an unknown option with exit 2 for every command, serve and check-config included', async () => {
    const commands = [['serve'], ['check-config'], ['audit', 'query'], ['audit', 'verify'], ['policy', 'show'],
      ['policy', 'versions'], ['policy', 'evaluate', 'upstream.test/org/app:1'], ['policy', 'validate', 'p.json'],
      ['policy', 'apply', 'p.json'], ['healthcheck'], ['cache', 'purge']];
    const results = await Promise.all(commands.map((c) => cli([...c, '--config', 'portcullis.json', '--bogus', 'x'])));
    for (const [i, r] of results.entries()) {
      expect(r.code, commands[i]!.join(' ')).toBe(2);
      expect(r.stderr).toContain('unknown option --bogus');
    }
    const global = await cli(['--bogus']);
    expect(global.code).toBe(2);
    expect(global.stderr).toContain('unknown option "--bogus"');
  });

  it('exits 4, never 1 (a tampered log), when a command fails while running', async () => {
    const ws = await workspace('cli-failed');
    try {
      // The database path is a folder: the config is valid, but the database cannot be opened.
      await ws.write(baseConfig({ database: { path: '.' } }));
      const verify = await cli(['audit', 'verify', '--config', ws.configPath]);
      expect(verify.code, verify.stderr).toBe(4);
      expect(verify.stderr).toMatch(/^portcullis: /);
      const timeout = await cli(['healthcheck', '--config', ws.configPath, '--timeout', 'soon']);
      expect(timeout.code).toBe(2);
      expect(timeout.stderr).toContain('--timeout must be');
      const show = await cli(['policy', 'show', '--config', ws.configPath, '--version', 'latest']);
      expect(show.code).toBe(2);
      expect(show.stderr).toContain('--version must be');
    } finally {
      await ws.remove();
    }
  });

  it('runs the read-only commands (audit, policy show/versions/validate) without the token, upstream password and checkpoint key secrets; serving still needs them', async () => {
    const ws = await workspace('cli-read-only');
    try {
      writeFileSync(join(ws.dir, 'checkpoint.pem'), generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
      await ws.write(baseConfig({
        upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9', username: 'robot', passwordEnv: 'UPSTREAM_PASSWORD' }],
        auth: { tokens: [{ name: 'alice', role: 'admin', tokenEnv: 'ADMIN_TOKEN' }] },
        audit: { checkpoint: { key: 'checkpoint.pem', file: 'checkpoints.jsonl' } },
      }));
      const secrets = { UPSTREAM_PASSWORD: 'pw', ADMIN_TOKEN: 'admin-token' };
      // The admin's proxy runs once with every secret: it stores the policy and writes audit events.
      const app = await createApp(loadConfigFile(ws.configPath, { ...process.env, ...secrets }), { log: silentLogger });
      await app.close();
      // The auditor has the config file and the database, not the admin's secrets nor the signing key.
      rmSync(join(ws.dir, 'checkpoint.pem'));
      const env = { PATH: process.env.PATH };
      const config = ['--config', ws.configPath];
      const show = await cli(['policy', 'show', ...config], env);
      expect(show.code, show.stderr).toBe(0);
      expect(JSON.parse(show.stdout)).toMatchObject({ version: 1, policies: [{ name: 'open' }] });
      const versions = await cli(['policy', 'versions', ...config], env);
      expect(versions.code, versions.stderr).toBe(0);
      const events = await cli(['audit', 'query', ...config, '--format', 'ndjson'], env);
      expect(events.code, events.stderr).toBe(0);
      expect(events.stdout.trim().split('\n').map((l) => JSON.parse(l).kind)).toContain('policy.update');
      const verify = await cli(['audit', 'verify', ...config], env);
      expect(verify.code, verify.stderr).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
      writeFileSync(join(ws.dir, 'policy.json'), JSON.stringify([{ name: 'open', match: ['**'], mode: 'allow' }]));
      const validate = await cli(['policy', 'validate', join(ws.dir, 'policy.json'), ...config], env);
      expect(validate.code, validate.stderr).toBe(0);

      const check = await cli(['check-config', ...config], env);
      expect(check.code).toBe(2);
      expect(check.stderr).toContain('upstreams[0].passwordEnv: environment variable UPSTREAM_PASSWORD is not set');
      expect(check.stderr).toContain('auth.tokens[0].tokenEnv: environment variable ADMIN_TOKEN is not set');
      expect(check.stderr).toContain('audit.checkpoint.key: file not found');
      const serve = await cli(['serve', ...config], env);
      expect(serve.code).toBe(2);
      expect(serve.stderr).toContain('ADMIN_TOKEN is not set');
    } finally {
      await ws.remove();
    }
  });
});
