import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { readCopiedImage, runCommand } from '../helpers/clients.js';
import { startJwtIssuer, unsignedToken, type JwtIssuer } from '../helpers/jwt-issuer.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveTools, waitUntil } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, expectOciError, removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * Workload identity: JWTs minted here by a real issuer (an HTTP server with a discovery document and a
 * JWKS) are pull credentials, as a CI job's or a Kubernetes service account's token is. skopeo pulls with
 * `--src-creds oidc:$TOKEN`; every bad token is a 401 with the reason; the audit log names the workload.
 */
const AUDITOR_TOKEN = 'e2e-auditor-wl-81c2';
const K8S_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const MAIN = { sub: 'repo:org/app:ref:refs/heads/main', aud: 'portcullis', repository: 'org/app', ref: 'refs/heads/main' };
const CI_NAME = 'repo:org/app:ref:refs/heads/main (ci; ref=refs/heads/main, repository=org/app)';

describe.skipIf(!haveTools(['docker-registry', 'skopeo']))('workload identity (JWT pull credentials)', () => {
  let registry: Registry;
  let proxy: Proxy;
  let image: PushedImage;
  let ci: JwtIssuer;
  let cluster: JwtIssuer;
  let stranger: JwtIssuer;
  /** Every token minted, to check that none reaches a log line. */
  const minted: string[] = [];
  const mint = async (issuer: JwtIssuer, claims: Record<string, unknown>, opts?: Parameters<JwtIssuer['mint']>[1]) => {
    const t = await issuer.mint(claims, opts);
    minted.push(t);
    return t;
  };
  const keep = (t: string) => (minted.push(t), t);

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    image = await pushImage(registry.url, 'org/app', '1', { layers: 2 });
    await pushImage(registry.url, 'other/app', '1');
    [ci, cluster, stranger] = await Promise.all([startJwtIssuer(), startJwtIssuer(), startJwtIssuer()]);
    const dataDir = await tempDir('proxy');
    // Air-gapped: the cluster's keys are a file, its issuer URL never fetched.
    await writeFile(join(dataDir, 'cluster-jwks.json'), JSON.stringify(cluster.jwks()));
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      dataDir,
      extra: {
        // Each worker process keeps its own cache of the issuer's keys.
        server: { workers: 2 },
        auth: {
          pull: 'token',
          tokens: [{ name: 'audrey', role: 'auditor', tokenSha256: createHash('sha256').update(AUDITOR_TOKEN).digest('hex') }],
          oidc: {
            issuers: [
              { name: 'ci', issuer: ci.url, audience: 'portcullis', subjectRegExp: 'repo:org/[a-z-]+:ref:refs/heads/main', claims: { ref: 'refs/heads/main' }, claimsRegExp: { repository: 'org/.+' }, minKeyRefresh: '1s' },
              { name: 'ci-tools', issuer: ci.url, audience: 'portcullis', subject: 'repo:org/tools:ref:refs/heads/dev', repositories: [`${UPSTREAM}/org/**`] },
              { name: 'ci-audit', issuer: ci.url, audience: 'portcullis-audit', role: 'auditor', claims: { repository: 'org/compliance' } },
              { name: 'cluster', issuer: K8S_ISSUER, audience: 'portcullis', subject: 'system:serviceaccount:ci:builder', jwksFile: './cluster-jwks.json' },
            ],
          },
        },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await Promise.all([ci?.stop(), cluster?.stop(), stranger?.stop()]);
    await removeTempDirs();
  });

  // Bad credentials are counted per address and user name (10 each, 100 in all a minute): the refusals
  // below claim different user names and stay under 100, so none is answered 429 instead.
  const basic = (token: string, user = 'oidc') => `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
  const manifest = (authorization: string, repo = 'org/app') =>
    fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/manifests/1`, { headers: { authorization, accept: ACCEPT_ALL_MANIFESTS } });
  /** A 401 with an OCI error body whose message gives `reason`, and the Basic challenge. */
  async function refused(res: Response, reason: RegExp): Promise<void> {
    const error = await expectOciError(res, 401, 'UNAUTHORIZED');
    expect(error.message).toMatch(reason);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="portcullis"');
  }
  const skopeo = (creds: string, dest: string, repo = 'org/app') =>
    runCommand('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', '--src-creds', creds, `docker://${proxy.host}/${UPSTREAM}/${repo}:1`, `oci:${dest}`]);

  it('skopeo pulls with --creds oidc:$TOKEN, and the audit log names the workload and the claims its rule used', async () => {
    const token = await mint(ci, MAIN);
    const dest = await tempDir('copy');
    await skopeo(`oidc:${token}`, dest);
    expect((await readCopiedImage(dest)).manifestDigest).toBe(image.digest);
    const served = auditRows(join(proxy.dataDir, 'portcullis.db'), "kind IN ('pull.manifest', 'pull.blob') AND status = 200");
    expect(served.length).toBeGreaterThan(0);
    expect(new Set(served.map((r) => r.user))).toEqual(new Set([CI_NAME]));
  });

  it('tells a client without credentials that a workload JWT is accepted', async () => {
    const res = await fetch(`${proxy.url}/v2/${UPSTREAM}/org/app/manifests/1`);
    expect((await expectOciError(res, 401, 'UNAUTHORIZED')).message).toContain('or a workload JWT from a trusted issuer as the password, with any user name');
  });

  it('accepts the JWT as a bearer token, and from a Kubernetes service account whose keys are a file', async () => {
    expect((await manifest(`Bearer ${await mint(ci, MAIN)}`)).status).toBe(200);
    const sa = await mint(cluster, { sub: 'system:serviceaccount:ci:builder', aud: ['portcullis', 'api'] }, { issuer: K8S_ISSUER });
    expect((await manifest(basic(sa, 'anything'))).status).toBe(200);
    const other = await mint(cluster, { sub: 'system:serviceaccount:default:default', aud: 'portcullis' }, { issuer: K8S_ISSUER });
    await refused(await manifest(basic(other, 'k8s-other')), /subject "system:serviceaccount:default:default".*sub must be "system:serviceaccount:ci:builder"/);
  });

  it('refuses expired, not-yet-valid, wrong-audience, wrong-issuer and unknown-key tokens with the reason', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(await manifest(basic(await mint(ci, { ...MAIN, iat: now - 3600, exp: now - 600 }), 'expired')), /JWT refused: expired \(exp /);
    await refused(await manifest(basic(await mint(ci, { ...MAIN, nbf: now + 3600 }), 'early')), /JWT refused: not valid yet \(nbf /);
    await refused(await manifest(basic(await mint(ci, { ...MAIN, aud: 'someone-else' }), 'aud')), /audience "someone-else" is not accepted .* must be "portcullis" or/);
    await refused(await manifest(basic(await mint(stranger, MAIN), 'iss')), /issuer "http:\/\/127\.0\.0\.1:\d+" is not trusted/);
    const stray = await mint(ci, MAIN, { kid: 'made-up', key: await ci.strayKey() });
    await refused(await manifest(basic(stray, 'kid')), /no key of issuer .* matches the token's key id/);
    // Signed with a key it does not name: the signature fails against the named key.
    const forged = await mint(ci, MAIN, { key: await ci.strayKey() });
    await refused(await manifest(basic(forged, 'forged')), /signature invalid/);
  });

  it('refuses alg none, HMAC signed with the public key, and subjects or claims outside the rules', async () => {
    await refused(await manifest(basic(keep(unsignedToken({ ...MAIN, iss: ci.url })), 'none')), /unsigned \(alg "none"\)/);
    await refused(await manifest(basic(keep(await ci.hmacConfused(MAIN)), 'hmac')), /HMAC-signed/);
    await refused(await manifest(`Bearer ${keep(await ci.hmacConfused(MAIN))}`), /HMAC-signed/);
    const fork = await mint(ci, { ...MAIN, sub: 'repo:attacker/app:ref:refs/heads/main', repository: 'attacker/app' });
    await refused(await manifest(basic(fork, 'fork')), /subject "repo:attacker\/app:ref:refs\/heads\/main" does not meet any of 2 rules/);
    const branch = await mint(ci, { ...MAIN, sub: 'repo:org/app:ref:refs/heads/main', ref: 'refs/heads/feature' });
    await refused(await manifest(basic(branch, 'branch')), /claim ref is "refs\/heads\/feature", must be "refs\/heads\/main"/);
  });

  it('skopeo prints why an expired token is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await mint(ci, { ...MAIN, iat: now - 3600, exp: now - 600 });
    await expect(skopeo(`oidc:${expired}`, await tempDir('copy'))).rejects.toThrow(/JWT refused: expired/);
  });

  it('limits a workload to its repositories, on /v2 and through the token endpoint', async () => {
    const tools = await mint(ci, { sub: 'repo:org/tools:ref:refs/heads/dev', aud: 'portcullis' });
    expect((await manifest(basic(tools))).status).toBe(200);
    const denied = await expectOciError(await manifest(basic(tools), 'other/app'), 403, 'DENIED');
    expect(denied.message).toContain(`may pull only ${UPSTREAM}/org/**; not ${UPSTREAM}/other/app`);
    // The token grants what was asked for and the rule allows: org/app, not other/app.
    const scope = `scope=repository:${UPSTREAM}/org/app:pull&scope=repository:${UPSTREAM}/other/app:pull`;
    const res = await fetch(`${proxy.url}/auth/token?service=portcullis&${scope}`, { headers: { authorization: basic(tools) } });
    expect(res.status).toBe(200);
    const issued = ((await res.json()) as { token: string; expires_in: number }).token;
    minted.push(issued);
    expect((await manifest(`Bearer ${issued}`)).status).toBe(200);
    await expectOciError(await manifest(`Bearer ${issued}`, 'other/app'), 403, 'DENIED');
    const refusals = auditRows(join(proxy.dataDir, 'portcullis.db'), "reference LIKE '%/other/app/%' AND status = 403");
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.every((r) => r.user === 'repo:org/tools:ref:refs/heads/dev (ci-tools)')).toBe(true);
  });

  it('grants the auditor role to the rule that says so, for the API, and not the right to pull', async () => {
    const audit = await mint(ci, { sub: 'repo:org/compliance:ref:refs/heads/main', aud: 'portcullis-audit', repository: 'org/compliance' });
    const res = await fetch(`${proxy.url}/api/v1/audit/events?limit=1`, { headers: { authorization: `Bearer ${audit}` } });
    expect(res.status).toBe(200);
    await expectOciError(await manifest(basic(audit)), 403, 'DENIED');
  });

  it('takes a rotated key after fetching the JWKS again', async () => {
    const before = await mint(ci, MAIN);
    expect((await manifest(basic(before))).status).toBe(200);
    await ci.rotate();
    const after = await mint(ci, MAIN);
    // Refreshes are at most once per minKeyRefresh (1s): a token with the new key id may wait for it.
    await waitUntil('the rotated key is accepted', async () => (await manifest(basic(after, 'rotated'))).status === 200, 20_000);
  });

  it('fetches the keys again at most once per minKeyRefresh, however many unknown key ids arrive', async () => {
    const stray = await ci.strayKey();
    const tokens = await Promise.all(Array.from({ length: 30 }, (_, i) => mint(ci, MAIN, { kid: `invented-${i}`, key: stray })));
    const start = ci.jwksRequests();
    const started = Date.now();
    const answers = await Promise.all(tokens.map((t, i) => manifest(basic(t, `flood-${i}`)).then((r) => r.status)));
    const seconds = Math.ceil((Date.now() - started) / 1000);
    expect(new Set(answers)).toEqual(new Set([401]));
    // Each of the 2 workers fetches at most once per second of the flood (plus the one it may start with).
    expect(ci.jwksRequests() - start).toBeLessThanOrEqual(2 * (1 + seconds));
    expect(ci.jwksRequests() - start).toBeLessThan(30);
  });

  it('answers hostile tokens with a 401 or a header-size refusal, never a 500, and keeps serving', async () => {
    const valid = await mint(ci, MAIN);
    const [h, p] = valid.split('.');
    const hostile = [
      'eyJ', 'eyJhbGciOiJSUzI1NiJ9', `${h}.${p}`, `${valid}.extra`, `eyJ!!!.${p}.sig`, `${h}.${p}.${'A'.repeat(7000)}`,
      `eyJ${'A'.repeat(9000)}.${p}.x`, `${Buffer.from('{"alg":"RS256","kid":{"$ne":1}}').toString('base64url')}.${p}.x`,
      `${Buffer.from('[1,2]').toString('base64url')}.${p}.x`, `${h}.${Buffer.from('"just a string"').toString('base64url')}.x`,
      `${h}.${Buffer.from(JSON.stringify({ iss: ci.url, exp: 1e300, sub: 'x'.repeat(5000) })).toString('base64url')}.x`,
    ].map(keep);
    for (const [i, token] of hostile.entries()) {
      const res = await manifest(basic(token, `hostile-${i}`));
      expect([401, 431], `token ${i}: ${res.status}`).toContain(res.status);
      if (res.status === 401) await refused(res, /JWT refused|invalid credentials/);
      else await res.body?.cancel();
    }
    const huge = await fetch(`${proxy.url}/v2/`, { headers: { authorization: `Bearer eyJ${'A'.repeat(200_000)}` } }).catch((e: Error) => e);
    if (!(huge instanceof Error)) expect(huge.status).toBeLessThan(500);
    expect((await manifest(basic(valid))).status).toBe(200);
  });

  it('never writes a token to the log or the audit log', () => {
    expect(minted.length).toBeGreaterThan(20);
    const logs = proxy.logs().join('\n');
    const audit = JSON.stringify(auditRows(join(proxy.dataDir, 'portcullis.db')));
    for (const token of minted) {
      // The signature is the secret part: no log line may hold it (nor the whole token).
      const signature = token.split('.')[2] ?? '';
      if (signature.length < 16) continue;
      expect(logs).not.toContain(signature);
      expect(audit).not.toContain(signature);
    }
    expect(logs).not.toContain(AUDITOR_TOKEN);
  });
});
