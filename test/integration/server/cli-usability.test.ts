import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI } from '../../helpers/proxy.js';
import { baseConfig, workspace } from '../admin/fixture.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { createApp } from '../../../src/app.js';
import { silentLogger } from '../../../src/logger.js';

const run = promisify(execFile);

/** Runs the built CLI in `cwd` with exactly `env` (plus PATH), never throwing on a non-zero exit. */
async function portcullis(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const env = { PATH: process.env.PATH, ...opts.env };
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: opts.cwd, env, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('the command line, for people typing it', { timeout: 180_000 }, () => {
  it('calls a misspelt option unknown and suggests the right one, even where a value would follow', async () => {
    const ws = await workspace('cli-typo');
    try {
      writeFileSync(join(ws.dir, 'p.json'), '[]');
      // Independent invocations, run together: each is a process start.
      const [atEnd, beforeFlag, withValue, far, command, sub, missing] = await Promise.all([
        portcullis(['policy', 'apply', 'p.json', '--config', ws.configPath, '--dryrun']),
        portcullis(['policy', 'apply', 'p.json', '--dryrun', '--config', ws.configPath]),
        portcullis(['audit', 'query', '--confg', ws.configPath]),
        portcullis(['audit', 'query', '--config', ws.configPath, '--zzz']),
        portcullis(['serv']),
        portcullis(['audit', 'qurey']),
        portcullis(['audit', 'query', '--config']),
      ]);
      expect(atEnd.code).toBe(2);
      expect(atEnd.stderr).toBe('portcullis: unknown option --dryrun (did you mean --dry-run?)\n');
      expect(beforeFlag.stderr).toContain('unknown option --dryrun (did you mean --dry-run?)');
      expect(withValue.code).toBe(2);
      expect(withValue.stderr).toContain('unknown option --confg (did you mean --config?)');
      expect(far.stderr).toBe('portcullis: unknown option --zzz\n');
      expect(command.code).toBe(2);
      expect(command.stderr).toContain('unknown command "serv" (did you mean "serve"?)');
      expect(sub.stderr).toContain('unknown command "audit qurey" (did you mean "audit query"?)');
      // A known option without its value still says so.
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('--config needs a value');
    } finally {
      await ws.remove();
    }
  });

  it('names a misspelt config key and the setting it probably means', async () => {
    const ws = await workspace('cli-config-typo');
    try {
      await ws.write(baseConfig({ server: { wokers: 2 } }));
      const out = await portcullis(['check-config', '--config', ws.configPath]);
      expect(out.code).toBe(2);
      expect(out.stderr).toContain('server.wokers: unknown setting (did you mean server.workers?)');
    } finally {
      await ws.remove();
    }
  });

  it('finds the config in PORTCULLIS_CONFIG, then ./portcullis.json, and says where it looked when there is none', async () => {
    const ws = await workspace('cli-config-path');
    try {
      await ws.write(baseConfig());
      const [fromEnv, fromCwd, flagWins, badEnv, none] = await Promise.all([
        portcullis(['check-config'], { env: { PORTCULLIS_CONFIG: ws.configPath } }),
        portcullis(['check-config'], { cwd: ws.dir }),
        // --config wins over the variable.
        portcullis(['check-config', '--config', ws.configPath], { env: { PORTCULLIS_CONFIG: '/nonexistent.json' } }),
        // A variable naming a missing file is an error, not a reason to look elsewhere.
        portcullis(['check-config'], { cwd: ws.dir, env: { PORTCULLIS_CONFIG: join(ws.dir, 'nope.json') } }),
        portcullis(['check-config'], { cwd: join(ws.dir, '..') }),
      ]);
      expect(fromEnv.code, fromEnv.stderr).toBe(0);
      expect(fromEnv.stdout).toContain(`${ws.configPath}: ok`);
      expect(fromCwd.code, fromCwd.stderr).toBe(0);
      expect(fromCwd.stdout).toContain(`${ws.configPath}: ok`);
      expect(flagWins.code, flagWins.stderr).toBe(0);
      expect(badEnv.code).toBe(2);
      expect(badEnv.stderr).toContain('nope.json');
      expect(none.code).toBe(2);
      expect(none.stderr).toContain('no config file: give --config FILE, set PORTCULLIS_CONFIG, or create ./portcullis.json or /etc/portcullis/config.json');
    } finally {
      await ws.remove();
    }
  });

  it('prints audit events as an aligned table for people, long values shortened', async () => {
    const ws = await workspace('cli-table');
    try {
      await ws.write(baseConfig());
      const app = await createApp(loadConfigFile(ws.configPath), { log: silentLogger });
      const long = 'x'.repeat(300);
      await app.audit.append({ kind: 'pull.manifest', client: '10.0.0.7', user: 'ci', upstream: 'upstream.test', repository: 'upstream.test/org/app', reference: '1.0', digest: `sha256:${'a'.repeat(64)}`, decision: 'allow', reasons: [] });
      await app.audit.append({ kind: 'pull.manifest', client: '10.0.0.8', user: null, upstream: 'upstream.test', repository: `upstream.test/org/${'very-long-name-'.repeat(6)}`, reference: `sha256:${'b'.repeat(64)}`, decision: 'deny', reasons: [`no trusted signature ${long}`, 'second'] });
      await app.close();
      const out = await portcullis(['audit', 'query', '--format', 'table'], { env: { PORTCULLIS_CONFIG: ws.configPath } });
      expect(out.code, out.stderr).toBe(0);
      const lines = out.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^TIME\s+DECISION\s+IMAGE\s+PULLER\s+REASON$/);
      // policy.update (from adopting the config) and the two pulls.
      const allow = lines.find((l) => l.includes('upstream.test/org/app:1.0'))!;
      const deny = lines.find((l) => l.includes(' deny '))!;
      expect(allow).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+allow\s+upstream\.test\/org\/app:1\.0\s+ci\s+-$/);
      expect(deny).toContain('10.0.0.8');
      expect(deny).toContain('no trusted signature xxx');
      expect(deny).toContain('…');
      expect(deny).not.toContain(long);
      // Columns line up: every column starts at the header's offset.
      for (const name of ['DECISION', 'IMAGE', 'PULLER', 'REASON']) {
        const at = lines[0]!.indexOf(name);
        for (const l of [allow, deny]) expect(l[at - 1], `${name} in ${l}`).toBe(' ');
        for (const l of [allow, deny]) expect(l[at], `${name} in ${l}`).not.toBe(' ');
      }
      const unknown = await portcullis(['audit', 'query', '--format', 'tabel'], { env: { PORTCULLIS_CONFIG: ws.configPath } });
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('--format must be json, ndjson, csv or table');
    } finally {
      await ws.remove();
    }
  });
});
