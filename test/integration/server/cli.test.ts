import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/proxy.js';
import { baseConfig, cli, workspace } from '../admin/fixture.js';

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
});
