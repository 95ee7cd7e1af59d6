import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../../helpers/proxy.js';
import { waitUntil } from '../../helpers/tools.js';
import { useBackends } from '../../helpers/backends.js';
import { queryRows } from '../../helpers/db-query.js';
import type { Config } from '../../../src/config/types.js';
import { cli } from './fixture.js';

/**
 * `policy validate` and `policy apply` against a running proxy (its own process): what apply stores is
 * served within seconds, audited with the OS user; the start-up log says what the proxy runs with.
 */
const OPEN = [{ name: 'open', match: ['**'], mode: 'allow' }];
const BLOCKED = [
  { name: 'blocked', match: ['upstream.test/org/blocked'], mode: 'deny' },
  { name: 'open', match: ['**'], mode: 'allow' },
];
const PASSWORD = 'upstream-pw-7c1f9e2a';

const backends = useBackends();

describe.each(backends.names)('policy validate and apply (%s)', (backend) => {
  let proxy: Proxy;
  let database: Config['database'];
  const file = (name: string) => join(proxy.dataDir, name);
  const headBlocked = () => fetch(`${proxy.url}/v2/upstream.test/org/blocked/manifests/1`, { method: 'HEAD' });
  const policy = (...args: string[]) => cli(['policy', ...args, '--config', proxy.configPath]);

  beforeAll(async () => {
    process.env.UPSTREAM_PW = PASSWORD; // the CLI reads the same config
    const db = await backends.database(backend);
    proxy = await startProxy({
      upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9', username: 'puller', passwordEnv: 'UPSTREAM_PW', retries: 0, connectTimeout: '1s' }],
      policies: OPEN,
      env: { UPSTREAM_PW: PASSWORD },
      extra: { database: db },
    });
    database = 'path' in db ? { path: join(proxy.dataDir, 'portcullis.db') } : (db as { url: string });
    await writeFile(file('blocked.json'), JSON.stringify({ policies: BLOCKED }));
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it('logs at start the active policy and its origin, the upstreams without credentials, and the trust material', async () => {
    // With workers, the one doing the upkeep (worker 0) reports; another may be serving first.
    await waitUntil('the start-up log', async () => proxy.jsonLogs().some((l) => l.msg === 'trust material'));
    const logs = proxy.jsonLogs();
    expect(logs.find((l) => l.msg === 'active policy'), proxy.logs().join('\n')).toMatchObject({ version: 1, source: 'config', from: proxy.configPath });
    expect(logs.find((l) => l.msg === 'upstreams')).toMatchObject({ upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9', credentials: true }] });
    expect(logs.find((l) => l.msg === 'trust material')).toMatchObject({ trustedRoot: 'public-good' });
    expect(proxy.logs().join('\n')).not.toContain(PASSWORD);
  });

  it('validates a policy file: 0 with warnings on stderr, 2 with every error and its path', async () => {
    const ok = await policy('validate', file('blocked.json'));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('valid (2 rules, 0 warning(s))');
    await writeFile(file('warned.json'), JSON.stringify([...OPEN, { name: 'late', match: ['quay.io/**'], mode: 'deny' }]));
    const warned = await policy('validate', file('warned.json'));
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain('warning: policies[1].match[0]: "quay.io/**" can never match');
    expect(warned.stderr).toContain('warning: policies[1].match: rule "late" never applies');
    await writeFile(file('bad.json'), JSON.stringify([{ name: 'x', match: [], mode: 'enforce', signatures: { anyOf: [{ key: 'nobody' }] } }]));
    const bad = await policy('validate', file('bad.json'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error: policies[0].match:');
    expect(bad.stderr).toContain('error: policies[0].signatures.anyOf[0].key:');
    expect((await policy('validate', file('missing.json'))).code).toBe(2);
    expect((await cli(['policy', 'validate', file('blocked.json')])).code).toBe(2);
    const help = await cli(['policy', 'validate', '--help']);
    expect(help.stdout).toContain('Exits 0 when the policy is valid');
  });

  it('previews with --dry-run, storing nothing', async () => {
    const dry = await policy('apply', file('blocked.json'), '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, activeVersion: 1, summary: 'added blocked' });
    expect(await queryRows(database, 'SELECT version FROM policy_versions')).toHaveLength(1);
  });

  it('applies a policy file that the running proxy then serves under, audited with the OS user', async () => {
    expect((await headBlocked()).status).toBe(502); // allowed, and the upstream is down
    const applied = await policy('apply', file('blocked.json'), '--comment', 'block org/blocked', '--if-version', '1');
    expect(applied.code, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ version: 2, author: `cli:${userInfo().username}`, comment: 'block org/blocked', warnings: [] });
    let res: Response | undefined;
    await waitUntil('the proxy to serve under version 2', async () => (res = await headBlocked()).status === 403, 10_000);
    expect(res!.headers.get('x-portcullis-rule')).toBe('blocked');
    const events = await queryRows<{ user: string; evidence: string }>(database, `SELECT "user", evidence FROM audit_events WHERE kind = 'policy.update' ORDER BY id`);
    expect(events.at(-1)!.user).toBe(`cli:${userInfo().username}`);
    expect(JSON.parse(events.at(-1)!.evidence)).toMatchObject({ comment: 'block org/blocked', source: 'api' });
    await waitUntil('the request log line', async () =>
      proxy.jsonLogs().some((l) => l.msg === 'request' && l.status === 403 && l.rule === 'blocked' && Array.isArray(l.reasons)),
    );
  });

  it('refuses --if-version naming a version no longer active (exit 1), storing nothing', async () => {
    const stale = await policy('apply', file('blocked.json'), '--if-version', '1');
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('the active policy version is now 2');
    expect(await queryRows(database, 'SELECT version FROM policy_versions')).toHaveLength(2);
    expect((await policy('apply', file('blocked.json'), '--if-version', 'two')).code).toBe(2);
  });
});
