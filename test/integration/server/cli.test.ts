import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/proxy.js';
import { cli, workspace } from '../admin/fixture.js';

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
});
