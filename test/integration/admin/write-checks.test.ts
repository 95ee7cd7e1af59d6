import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../../helpers/registry.js';
import { haveTools } from '../../helpers/tools.js';
import { baseConfig, bearer, workspace, type Workspace } from './fixture.js';

/**
 * Admin writes that used to succeed quietly where they should not: accepting a digest a tag never pointed
 * to, an exception that can never apply, a rollback that changes nothing, a glob with a character globs
 * do not know.
 */
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json';
const OPEN = { name: 'open', match: ['upstream.test/**'], mode: 'allow' };
const BLOCKED = { name: 'blocked', match: ['upstream.test/org/blocked'], mode: 'deny' };

describe('admin write checks', () => {
  let ws: Workspace;
  let app: App;
  const admin = (req: request.Test) => req.set('Authorization', bearer('alice'));
  const api = () => request(app.handler);
  const versions = async () => (await admin(api().get('/api/v1/policy/versions'))).body.versions.length as number;

  beforeAll(async () => {
    ws = await workspace('write-checks');
    await ws.write(baseConfig({ policies: [BLOCKED, OPEN] }));
    app = await ws.open();
  });
  afterAll(async () => {
    await ws?.remove();
  });

  it('warns that an exception for a name a deny rule refuses never applies without coverDenyRule', async () => {
    const blocked = await admin(api().post('/api/v1/exceptions')).send({ match: 'upstream.test/org/blocked', until: '1h', reason: 'hotfix' });
    expect(blocked.status, blocked.text).toBe(201);
    expect(blocked.body.warnings).toEqual([
      { path: 'coverDenyRule', message: 'policy "blocked" denies upstream.test/org/blocked by name, so this exception never applies unless coverDenyRule is true' },
    ]);
    const unmatched = await admin(api().post('/api/v1/exceptions')).send({ match: 'elsewhere.test/org/app', until: '1h', reason: 'hotfix' });
    expect(unmatched.status).toBe(400); // not a configured upstream
    const covered = await admin(api().post('/api/v1/exceptions')).send({ match: 'upstream.test/org/blocked', until: '1h', reason: 'hotfix', coverDenyRule: true });
    expect(covered.status).toBe(201);
    expect(covered.body.warnings).toEqual([]);
    const allowed = await admin(api().post('/api/v1/exceptions')).send({ match: 'upstream.test/org/app', until: '1h', reason: 'hotfix' });
    expect(allowed.body.warnings).toEqual([]);
  });

  it('warns too when no rule matches the name', async () => {
    const put = await admin(api().put('/api/v1/policy')).send({ policies: [BLOCKED, { ...OPEN, match: ['upstream.test/org/*'] }] });
    expect(put.status, put.text).toBe(200);
    const res = await admin(api().post('/api/v1/exceptions')).send({ match: 'upstream.test/team/app', until: '1h', reason: 'hotfix' });
    expect(res.status).toBe(201);
    expect(res.body.warnings).toEqual([
      { path: 'coverDenyRule', message: 'no policy rule matches upstream.test/team/app, so it is denied by name and this exception never applies unless coverDenyRule is true' },
    ]);
  });

  it('refuses a rollback to the active version with 409, making no version', async () => {
    const before = await versions();
    const active = (await admin(api().get('/api/v1/policy'))).body.version as number;
    for (const path of ['/api/v1/policy/rollback', '/api/v1/policy/rollback?dryRun=true']) {
      const res = await admin(api().post(path)).send({ version: active });
      expect(res.status, res.text).toBe(409);
      expect(res.body.error).toEqual({ code: 'NO_CHANGE', message: `version ${active} is the active policy; a rollback to it would change nothing` });
    }
    // A version whose rules are the active ones is the same thing.
    const same = await admin(api().put('/api/v1/policy')).send({ policies: [BLOCKED, OPEN] });
    expect(same.status).toBe(200);
    const res = await admin(api().post('/api/v1/policy/rollback')).send({ version: 1 });
    expect(res.status, res.text).toBe(409);
    expect(res.body.error.message).toBe(`version 1 has the rules of the active version ${same.body.version as number}; a rollback to it would change nothing`);
    expect(await versions()).toBe(before + 1);
  });

  it('refuses a match glob holding a character globs do not know, naming the rule', async () => {
    for (const glob of ['upstream.test/org/[ab]pp', 'upstream.test/org/{a,b}', 'upstream.test/org/a\\*', 'upstream.test/org/app]']) {
      const res = await admin(api().put('/api/v1/policy')).send({ policies: [OPEN, { name: 'bad', match: ['upstream.test/x', glob], mode: 'deny' }] });
      expect(res.status, glob).toBe(400);
      expect(res.body.errors).toEqual([{ path: 'policies[1].match[1]', message: expect.stringMatching(/^".+" is not a glob character: globs know only \*, \*\* and \?/) }]);
    }
  });

  it('refuses such a glob in the config file too', async () => {
    await ws.write(baseConfig({ policies: [{ name: 'bad', match: ['upstream.test/org/[ab]pp'], mode: 'allow' }] }));
    expect(() => loadConfigFile(ws.configPath)).toThrow(/policies\[0\]\.match\[0\]: "\[" is not a glob character/);
  });
});

describe.skipIf(!haveTools(['docker-registry']))('accepting a tag', () => {
  let registry: Registry;
  let ws: Workspace;
  let app: App;
  let first: PushedImage;
  let moved: PushedImage;
  let elsewhere: PushedImage;
  const admin = (req: request.Test) => req.set('Authorization', bearer('alice'));
  const pull = (name: string) => request(app.handler).get(`/v2/upstream.test/${name}/manifests/1`).set('Accept', ACCEPT);
  const accept = (digest: string, repository = 'upstream.test/org/app') =>
    admin(request(app.handler).post('/api/v1/tags/accept')).send({ repository, tag: '1', digest });

  beforeAll(async () => {
    registry = await startRegistry();
    first = await pushImage(registry.url, 'org/app', '1');
    elsewhere = await pushImage(registry.url, 'org/other', '1');
    ws = await workspace('tag-accept');
    await ws.write(baseConfig({ upstreams: [{ name: 'upstream.test', url: registry.url, tagDrift: 'deny' }], policies: [OPEN] }));
    app = await ws.open();
    expect((await pull('org/app')).status).toBe(200);
    expect((await pull('org/other')).status).toBe(200);
    moved = await pushImage(registry.url, 'org/app', '1');
    // Forget the cached tag, so the next pull sees the move.
    expect((await admin(request(app.handler).post('/api/v1/cache/purge')).send({ repository: 'upstream.test/org/app' })).status).toBe(200);
    const refused = await pull('org/app');
    expect(refused.status).toBe(403);
    expect(refused.body.errors[0].message).toContain('refused until an admin accepts');
  });
  afterAll(async () => {
    await ws?.remove();
    await registry?.stop();
  });

  it('refuses a digest the tag never pointed to, even one another repository serves', async () => {
    for (const digest of [elsewhere.digest, `sha256:${'0'.repeat(64)}`]) {
      const res = await accept(digest);
      expect(res.status, res.text).toBe(400);
      expect(res.body.errors).toEqual([
        { path: 'digest', message: expect.stringContaining(`tag "1" of upstream.test/org/app has not pointed to ${digest}`) },
      ]);
      expect(res.body.errors[0].message).toContain(moved.digest);
    }
    expect((await accept(elsewhere.digest, 'upstream.test/org/other')).status).toBe(200);
    expect((await pull('org/app')).status).toBe(403);
    const events = await admin(request(app.handler).get('/api/v1/audit/events?kind=tag.accept'));
    expect(events.body.events.map((e: { repository: string }) => e.repository)).toEqual(['upstream.test/org/other']);
  });

  it('accepts the digest the tag moved to, and one it pointed to before', async () => {
    const res = await accept(moved.digest);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ digest: moved.digest, previousDigest: first.digest });
    expect((await pull('org/app')).headers['docker-content-digest']).toBe(moved.digest);
    const back = await accept(first.digest);
    expect(back.status, back.text).toBe(200);
  });

  it('refuses a repository name that cannot exist', async () => {
    const res = await accept(moved.digest, 'upstream.test/Org/App');
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: 'repository' })]);
  });
});
