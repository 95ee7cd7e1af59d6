import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../../helpers/registry.js';
import { haveTools } from '../../helpers/tools.js';
import { ALLOW_ALL, baseConfig, bearer, cli, workspace, type Workspace } from './fixture.js';
import { useBackends } from '../../helpers/backends.js';
import { queryColumn } from '../../helpers/db-query.js';

/**
 * Live policy administration against a real distribution registry: a PUT applies to the next pull and
 * survives restarts, the config file only wins when it changes, rollback, evaluate and replay.
 */
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
const WARN_UNSIGNED = [{ name: 'signed', match: ['upstream.test/**'], mode: 'warn', signatures: { anyOf: [{ key: 'release' }] } }];
const BLOCK_APP = [
  { name: 'blocked', match: ['upstream.test/org/app'], mode: 'deny' },
  { name: 'open', match: ['**'], mode: 'allow' },
];
const ENFORCE_SIGNED = [{ name: 'signed', match: ['upstream.test/**'], mode: 'enforce', signatures: { anyOf: [{ key: 'release' }] } }];

const backends = useBackends();

describe.skipIf(!haveTools(['docker-registry'])).each(backends.names)('live policy (%s)', (backend) => {
  let registry: Registry;
  let ws: Workspace;
  let app: App;
  let image: PushedImage;
  let other: PushedImage;
  let config: Record<string, unknown>;
  const started = new Date(Date.now() - 1000).toISOString();

  const pull = (name = 'org/app') => request(app.express).get(`/v2/upstream.test/${name}/manifests/1`).set('Accept', ACCEPT);
  const api = () => request(app.express);
  const restart = async () => {
    await app.close();
    app = await ws.open();
  };

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushImage(registry.url, 'org/app', '1');
    other = await pushImage(registry.url, 'org/other', '1');
    ws = await workspace('policy');
    config = baseConfig({ upstreams: [{ name: 'upstream.test', url: registry.url }], policies: WARN_UNSIGNED, database: await backends.database(backend) });
    await ws.write(config);
    app = await ws.open();
  });
  afterAll(async () => {
    await ws?.remove();
    await registry?.stop();
  });

  it('starts with the config file policy as version 1 and serves under it', async () => {
    const res = await api().get('/api/v1/policy').set('Authorization', bearer('audrey'));
    expect(res.body).toEqual({ version: 1, policies: WARN_UNSIGNED });
    const pulled = await pull();
    expect(pulled.status, pulled.text).toBe(200);
    expect(pulled.headers['docker-content-digest']).toBe(image.digest);
  });

  it('applies a PUT to the very next pull', async () => {
    const put = await api().put('/api/v1/policy').set('Authorization', bearer('alice')).send({ policies: BLOCK_APP });
    expect(put.status, put.text).toBe(200);
    expect(put.body).toMatchObject({ version: 2, source: 'api', author: 'alice', diff: { added: ['blocked', 'open'], removed: ['signed'] } });
    const denied = await pull();
    expect(denied.status).toBe(403);
    expect(denied.body.errors[0].code).toBe('DENIED');
    expect(denied.body.errors[0].message).toContain('"blocked"');
    expect((await pull('org/other')).status).toBe(200);
  });

  it('rejects an invalid policy listing every error with its path, leaving the active one in place', async () => {
    const bad = [
      { name: 'a', match: [], mode: 'enforce' },
      { name: 'b', match: ['**'], mode: 'sometimes', surprise: true },
      { name: 'c', match: ['**'], mode: 'enforce', signatures: { anyOf: [{ key: 'nobody' }] } },
      { name: 'd', match: ['**'], mode: 'enforce', condition: "image.config.Usr != 'root'" },
    ];
    const res = await api().put('/api/v1/policy').set('Authorization', bearer('alice')).send({ policies: bad });
    expect(res.status).toBe(400);
    const paths = (res.body.errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining([
      'policies[0].match', 'policies[0]', 'policies[1].mode', 'policies[1].surprise', 'policies[2].signatures.anyOf[0].key', 'policies[3].condition',
    ]));
    expect((res.body.errors as { path: string; message: string }[]).find((e) => e.path === 'policies[3].condition')?.message).toBe(
      "type error at 1:13: image.config has no field 'Usr' (did you mean 'User'?)",
    );
    const active = await api().get('/api/v1/policy').set('Authorization', bearer('alice'));
    expect(active.body.version).toBe(2);
    expect((await pull()).status).toBe(403);
  });

  it('keeps an API change across a restart while the config file is unchanged', async () => {
    await restart();
    expect((await api().get('/api/v1/policy').set('Authorization', bearer('alice'))).body.version).toBe(2);
    expect((await pull()).status).toBe(403);
  });

  it('adopts the config file policy when the file changes', async () => {
    await ws.write({ ...config, policies: ALLOW_ALL });
    await restart();
    const active = await api().get('/api/v1/policy').set('Authorization', bearer('alice'));
    expect(active.body).toEqual({ version: 3, policies: ALLOW_ALL });
    expect((await pull()).status).toBe(200);
    expect((await pull('org/other')).status).toBe(200);
  });

  it('rolls back to an old version as a new version, applied at once', async () => {
    const res = await api().post('/api/v1/policy/rollback').set('Authorization', bearer('alice')).send({ version: 2 });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ version: 4, policies: BLOCK_APP, source: 'api', author: 'alice' });
    expect((await pull()).status).toBe(403);
    const missing = await api().post('/api/v1/policy/rollback').set('Authorization', bearer('alice')).send({ version: 99 });
    expect(missing.status).toBe(404);
  });

  it('lists versions with number, time, author, source and a diff summary, over the API and the CLI', async () => {
    const res = await api().get('/api/v1/policy/versions').set('Authorization', bearer('audrey'));
    const versions = res.body.versions as Array<Record<string, unknown>>;
    expect(versions.map((v) => [v.version, v.source, v.author, v.rollbackOf])).toEqual([
      [4, 'api', 'alice', 2],
      [3, 'config', 'config', null],
      [2, 'api', 'alice', null],
      [1, 'config', 'config', null],
    ]);
    expect(versions[0]!.summary).toBe('added blocked');
    expect(versions[1]!.summary).toBe('removed blocked');
    expect(versions.every((v) => typeof v.time === 'string' && !Number.isNaN(Date.parse(v.time as string)))).toBe(true);
    const fromCli = await cli(['policy', 'versions', '--config', ws.configPath]);
    expect(fromCli.code, fromCli.stderr).toBe(0);
    expect(JSON.parse(fromCli.stdout)).toEqual(res.body);
    const show = await cli(['policy', 'show', '--config', ws.configPath]);
    expect(JSON.parse(show.stdout)).toEqual({ version: 4, policies: BLOCK_APP });
  });

  it('records every policy change in the audit log with its author and version', async () => {
    const res = await api().get('/api/v1/audit/events?kind=policy.update').set('Authorization', bearer('audrey'));
    expect((res.body.events as Array<{ policyVersion: number; user: string }>).map((e) => [e.policyVersion, e.user])).toEqual([
      [1, 'config'], [2, 'alice'], [3, 'config'],
    ]);
    const rollback = await api().get('/api/v1/audit/events?kind=policy.rollback').set('Authorization', bearer('audrey'));
    expect(rollback.body.events).toHaveLength(1);
    expect(rollback.body.events[0]).toMatchObject({ user: 'alice', policyVersion: 4, client: expect.any(String) });
  });

  it('evaluates an image without serving it or recording a pull', async () => {
    const pulls = () => queryColumn(app.config.database, `SELECT count(*) FROM audit_events WHERE kind LIKE 'pull.%'`);
    const before = await pulls();
    // A name a deny rule covers is refused by name, as a pull is, without asking the upstream.
    const res = await api().post('/api/v1/policy/evaluate').set('Authorization', bearer('audrey')).send({ image: 'upstream.test/org/app:1' });
    expect(res.status, res.text).toBe(403);
    expect(res.body.error).toEqual({ code: 'DENIED', message: 'portcullis: policy "blocked": denied by policy' });
    const ok = await api().post('/api/v1/policy/evaluate').set('Authorization', bearer('alice')).send({ image: `upstream.test/org/other@${other.digest}` });
    expect(ok.body).toMatchObject({ decision: 'allow', rule: 'open', digest: other.digest });
    expect(await pulls()).toEqual(before);
    const unknown = await api().post('/api/v1/policy/evaluate').set('Authorization', bearer('alice')).send({ image: 'upstream.test/org/absent:1' });
    expect(unknown.status).toBe(404);
  });

  it('evaluates from the CLI with the stored policy, exiting 3 for a denied image', async () => {
    await app.close();
    const denied = await cli(['policy', 'evaluate', 'upstream.test/org/app:1', '--config', ws.configPath]);
    expect(denied.code, denied.stderr).toBe(3);
    expect(JSON.parse(denied.stdout)).toMatchObject({ decision: 'deny', rule: 'blocked', reasons: ['denied by policy'] });
    const allowed = await cli(['policy', 'evaluate', 'upstream.test/org/other:1', '--config', ws.configPath]);
    expect(allowed.code, allowed.stderr).toBe(0);
    app = await ws.open();
  });

  it('replays a draft policy over past pulls: flips both ways and unknowns without cached evidence', async () => {
    // org/app pulls so far: warn (evidence cached: unsigned), deny ×3, allow, deny; the denies came from a deny
    // rule, which refuses by name before a digest is resolved. org/other: allowed twice.
    const until = new Date(Date.now() + 1000).toISOString();
    const open = await api().post('/api/v1/policy/replay').set('Authorization', bearer('alice'))
      .send({ policies: ALLOW_ALL, since: started, until });
    expect(open.status, open.text).toBe(200);
    expect(open.body.denyToAllow.pulls).toBe(4);
    expect(open.body.denyToAllow.images).toEqual([
      expect.objectContaining({ repository: 'upstream.test/org/app', digest: null, references: ['1'], before: 'deny', after: 'allow', pulls: 4 }),
    ]);
    expect(open.body.allowToDeny.pulls).toBe(0);

    const strict = await api().post('/api/v1/policy/replay').set('Authorization', bearer('alice'))
      .send({ policies: ENFORCE_SIGNED, since: started, until });
    expect(strict.body.pulls).toBe(open.body.pulls);
    expect(strict.body.allowToDeny.pulls).toBe(2);
    expect(strict.body.allowToDeny.images[0]).toMatchObject({ digest: image.digest, after: 'deny', rule: 'signed' });
    // Unknown: org/other (no evidence was gathered under allow) and the name-refused org/app pulls (no digest).
    expect(strict.body.unknown.pulls).toBe(6);
    expect(strict.body.unknown.images.map((i: { digest: string }) => i.digest)).toEqual([null, other.digest]);

    // A condition judges the cached image facts: these images set no user, so a rootless rule denies them.
    const rootless = await api().post('/api/v1/policy/replay').set('Authorization', bearer('alice'))
      .send({ policies: [{ name: 'rootless', match: ['**'], mode: 'enforce', condition: "image.config.User != ''" }], since: started, until });
    expect(rootless.body.allowToDeny.pulls).toBe(2);
    expect(rootless.body.allowToDeny.images[0]).toMatchObject({ digest: image.digest, rule: 'rootless', reasons: [`condition "image.config.User != ''" is false (image.config.User is "")`] });

    const invalid = await api().post('/api/v1/policy/replay').set('Authorization', bearer('alice'))
      .send({ policies: [{ name: 'x' }], since: 'yesterday' });
    expect(invalid.status).toBe(400);
    expect((invalid.body.errors as { path: string }[]).map((e) => e.path)).toEqual(expect.arrayContaining(['policies[0].match', 'since']));
  });

  it('applies a change made through another replica within a second', async () => {
    const other = await ws.open();
    const waitFor = async (status: number) => {
      const started = Date.now();
      while ((await pull()).status !== status) {
        expect(Date.now() - started, `pull answers ${status} within a second`).toBeLessThan(1500);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      expect((await pull()).status).toBe(403);
      const put = await request(other.express).put('/api/v1/policy').set('Authorization', bearer('alice')).send({ policies: ALLOW_ALL });
      expect(put.status, put.text).toBe(200);
      await waitFor(200);
      const back = await request(other.express).post('/api/v1/policy/rollback').set('Authorization', bearer('alice')).send({ version: 2 });
      expect(back.status, back.text).toBe(200);
      await waitFor(403);
    } finally {
      await other.close();
    }
  });
});
