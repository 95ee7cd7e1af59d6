import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/logger.js';
import { startJwtIssuer, type JwtIssuer } from '../../helpers/jwt-issuer.js';
import { pushImage, startRegistry, type Registry } from '../../helpers/registry.js';
import { haveTools } from '../../helpers/tools.js';
import { basic, baseConfig, TOKENS, workspace, type Workspace } from './fixture.js';

/**
 * The Docker token endpoint grants what was asked for and may be had, nothing more (distribution token
 * spec: the token's `access` is the intersection of the requested scope and the identity's rights). A
 * workload limited to some repositories can pull nothing else by any credential path; no token grants push.
 */
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json';
const TOOLS = { sub: 'repo:org/tools:ref:refs/heads/dev', aud: 'portcullis' };

interface Access {
  type: string;
  name: string;
  actions: string[];
}

describe.skipIf(!haveTools(['docker-registry']))('token endpoint scope', () => {
  let registry: Registry;
  let issuer: JwtIssuer;
  let ws: Workspace;
  let app: App;
  const manifest = (repo: string, auth: string) =>
    request(app.express).get(`/v2/upstream.test/${repo}/manifests/1`).set('Accept', ACCEPT).set('Authorization', auth);
  const token = (auth: string, ...scopes: string[]) => {
    const q = new URLSearchParams([['service', 'portcullis'], ...scopes.map((s) => ['scope', s] as [string, string])]);
    return request(app.express).get(`/auth/token?${q.toString()}`).set('Authorization', auth);
  };
  /** The `access` the issued token carries (its payload is signed, not secret). */
  const accessOf = (issued: string): Access[] => (JSON.parse(Buffer.from(issued.split('.')[1]!, 'base64url').toString('utf8')) as { access: Access[] }).access;

  beforeAll(async () => {
    registry = await startRegistry();
    await Promise.all(['org/app', 'org/lib', 'other/app'].map((repo) => pushImage(registry.url, repo, '1')));
    issuer = await startJwtIssuer();
    ws = await workspace('token-scope');
    const config = baseConfig({ upstreams: [{ name: 'upstream.test', url: registry.url }] });
    await ws.write({
      ...config,
      auth: {
        ...(config.auth as object),
        pull: 'token',
        oidc: { issuers: [{ name: 'ci-tools', issuer: issuer.url, audience: 'portcullis', subject: TOOLS.sub, repositories: ['upstream.test/org/**'] }] },
      },
    });
    app = await createApp(loadConfigFile(ws.configPath), { log: silentLogger });
  });
  afterAll(async () => {
    await app?.close();
    await ws?.remove();
    await registry?.stop();
    await issuer?.stop();
  });

  it('limits a workload to its repositories with the JWT as Basic password and as bearer token', async () => {
    const jwt = await issuer.mint(TOOLS);
    for (const auth of [basic('oidc', jwt), `Bearer ${jwt}`]) {
      expect((await manifest('org/app', auth)).status).toBe(200);
      const denied = await manifest('other/app', auth);
      expect(denied.status).toBe(403);
      expect(denied.body.errors[0].message).toContain('may pull only upstream.test/org/**; not upstream.test/other/app');
    }
  });

  it("grants a workload's token only the requested repositories its rule allows", async () => {
    const jwt = await issuer.mint(TOOLS);
    const res = await token(basic('oidc', jwt), 'repository:upstream.test/org/app:pull', 'repository:upstream.test/other/app:pull');
    expect(res.status, res.text).toBe(200);
    expect(accessOf(res.body.token)).toEqual([{ type: 'repository', name: 'upstream.test/org/app', actions: ['pull'] }]);
    const bearer = `Bearer ${res.body.token}`;
    expect((await manifest('org/app', bearer)).status).toBe(200);
    // Inside the workload's globs, but not asked for.
    const lib = await manifest('org/lib', bearer);
    expect(lib.status).toBe(403);
    expect(lib.body.errors[0].message).toMatch(/grants pull of upstream\.test\/org\/app only.*not upstream\.test\/org\/lib/);
    expect((await manifest('other/app', bearer)).status).toBe(403);
  });

  it('grants a workload nothing outside its globs, whatever it asks for, by bearer JWT too', async () => {
    const jwt = await issuer.mint(TOOLS);
    const res = await token(`Bearer ${jwt}`, 'repository:upstream.test/other/app:pull');
    expect(res.status, res.text).toBe(200);
    expect(accessOf(res.body.token)).toEqual([]);
    expect((await manifest('other/app', `Bearer ${res.body.token}`)).status).toBe(403);
    expect((await manifest('org/app', `Bearer ${res.body.token}`)).status).toBe(403);
    // The base endpoint (a login check) still answers.
    expect((await request(app.express).get('/v2/').set('Authorization', `Bearer ${res.body.token}`)).status).toBe(200);
  });

  it("narrows a person's token to the requested repositories too, resolving names as /v2 paths do", async () => {
    const alice = basic('alice', TOKENS.alice.secret);
    // Space-separated scopes in one parameter, and a name without its upstream (the default upstream's).
    const res = await token(alice, 'repository:org/app:pull repository:upstream.test/org/lib:pull');
    expect(accessOf(res.body.token)).toEqual([
      { type: 'repository', name: 'upstream.test/org/app', actions: ['pull'] },
      { type: 'repository', name: 'upstream.test/org/lib', actions: ['pull'] },
    ]);
    expect((await manifest('org/app', `Bearer ${res.body.token}`)).status).toBe(200);
    expect((await manifest('org/lib', `Bearer ${res.body.token}`)).status).toBe(200);
    expect((await manifest('other/app', `Bearer ${res.body.token}`)).status).toBe(403);
    const none = await token(alice);
    expect(accessOf(none.body.token)).toEqual([]);
    expect((await manifest('org/app', `Bearer ${none.body.token}`)).status).toBe(403);
  });

  it('never grants push, delete or "*": the proxy is pull-only', async () => {
    const alice = basic('alice', TOKENS.alice.secret);
    const res = await token(alice, 'repository:upstream.test/org/app:push', 'repository:upstream.test/org/lib:*', 'repository:upstream.test/other/app:pull,push,delete');
    expect(res.status, res.text).toBe(200);
    expect(accessOf(res.body.token)).toEqual([{ type: 'repository', name: 'upstream.test/other/app', actions: ['pull'] }]);
    const jwt = await issuer.mint(TOOLS);
    const wl = await token(basic('oidc', jwt), 'repository:upstream.test/org/app:*', 'registry:catalog:*');
    expect(accessOf(wl.body.token)).toEqual([]);
  });

  it('does not exchange an issued token for a wider one', async () => {
    const narrow = await token(basic('alice', TOKENS.alice.secret), 'repository:upstream.test/org/app:pull');
    const again = await token(`Bearer ${narrow.body.token}`, 'repository:upstream.test/other/app:pull');
    expect(again.status).toBe(401);
  });

  it('answers a malformed or oversized scope with 400 and the reason', async () => {
    const alice = basic('alice', TOKENS.alice.secret);
    const bad = await token(alice, 'repository:org/app');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].message).toContain('scope "repository:org/app" is not TYPE:NAME:ACTIONS');
    const many = await token(alice, Array.from({ length: 40 }, (_, i) => `repository:org/app${i}:pull`).join(' '));
    expect(many.status).toBe(400);
    expect(many.body.errors[0].message).toContain('at most 16 scopes');
    // The most a token may grant still fits in a request header.
    const longest = Array.from({ length: 16 }, (_, i) => `repository:upstream.test/${`r${i}-`.padEnd(250, 'x')}:pull`);
    const big = await token(alice, ...longest);
    expect(accessOf(big.body.token)).toHaveLength(16);
    expect((await request(app.express).get('/v2/').set('Authorization', `Bearer ${big.body.token}`)).status).toBe(200);
  });
});
