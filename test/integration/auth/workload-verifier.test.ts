import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IssuedTokens } from '../../../src/auth/issued-tokens.js';
import { WorkloadVerifier } from '../../../src/auth/workload-identity.js';
import { JWT_ALGORITHMS, type OidcIssuerConfig } from '../../../src/config/oidc-issuers.js';
import { waitUntil } from '../../helpers/tools.js';
import { startJwtIssuer, type JwtIssuer } from '../../helpers/jwt-issuer.js';

const rule = (issuer: string, more: Partial<OidcIssuerConfig> = {}): OidcIssuerConfig => ({
  name: 'ci', issuer, audience: ['portcullis'], role: 'puller', subject: 'job', claims: {}, claimsRegExp: {},
  algorithms: [...JWT_ALGORITHMS], minKeyRefreshMs: 1000, ...more,
});
const CLAIMS = { sub: 'job', aud: 'portcullis' };

describe('workload JWT verification', () => {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((s) => s()));
  });
  const issuer = async (): Promise<JwtIssuer> => {
    const i = await startJwtIssuer();
    stops.push(() => i.stop());
    return i;
  };

  it('says the issuer is down, and does not ask it again on every token', async () => {
    const ci = await issuer();
    const token = await ci.mint(CLAIMS);
    await ci.stop();
    const verifier = new WorkloadVerifier([rule(ci.url, { minKeyRefreshMs: 60_000 })]);
    const first = await verifier.verify(token);
    expect(first).toEqual({ reason: expect.stringMatching(/^JWT refused: the keys of issuer http:\/\/127\.0\.0\.1:\d+ could not be fetched: GET .*openid-configuration failed: ECONNREFUSED/) });
    const started = Date.now();
    expect(await verifier.verify(token)).toEqual(first);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('gives up on an issuer that hangs or answers without end, within seconds', async () => {
    const held: Array<import('node:http').ServerResponse> = [];
    const server = createServer((req, res) => {
      if (req.url === '/hang/.well-known/openid-configuration') {
        held.push(res);
        return;
      }
      // An endless document: chunks until the client goes away.
      const more = () => {
        while (res.write('x'.repeat(64 * 1024)));
      };
      res.on('drain', more);
      more();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise((r) => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close(() => r());
    }));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const ci = await issuer();
    const verifier = new WorkloadVerifier([rule(`${base}/hang`), rule(`${base}/endless`, { name: 'endless' })]);
    const started = Date.now();
    const [hung, endless] = await Promise.all([
      verifier.verify(await ci.mint(CLAIMS, { issuer: `${base}/hang` })),
      verifier.verify(await ci.mint(CLAIMS, { issuer: `${base}/endless` })),
    ]);
    expect(hung).toEqual({ reason: expect.stringMatching(/could not be fetched: GET .*\/hang\/\.well-known\/openid-configuration failed: no complete answer within 5 s/) });
    expect(endless).toEqual({ reason: expect.stringContaining('the document is larger than 524288 bytes') });
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 30_000);

  it('refuses keys from a discovery document that names another issuer', async () => {
    const server = createServer((_req, res) => res.end(JSON.stringify({ issuer: 'https://elsewhere.example', jwks_uri: 'http://127.0.0.1:1/jwks' })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const ci = await issuer();
    const token = await ci.mint(CLAIMS, { issuer: url });
    const out = await new WorkloadVerifier([rule(url)]).verify(token);
    expect(out).toEqual({ reason: expect.stringContaining('names issuer "https://elsewhere.example"') });
  });

  it('rereads a JWKS file when a token names a key it lacks (rotation on an air-gapped site)', async () => {
    const ci = await issuer();
    const file = join(mkdtempSync(join(tmpdir(), 'jwks-')), 'jwks.json');
    writeFileSync(file, JSON.stringify(ci.jwks()));
    const verifier = new WorkloadVerifier([rule('https://cluster.local', { jwksFile: file })]);
    expect(await verifier.verify(await ci.mint(CLAIMS, { issuer: 'https://cluster.local' }))).toHaveProperty('identity.name', 'job (ci)');
    await ci.rotate();
    const rotated = await ci.mint(CLAIMS, { issuer: 'https://cluster.local' });
    expect(await verifier.verify(rotated)).toEqual({ reason: expect.stringContaining('no key of issuer https://cluster.local matches') });
    writeFileSync(file, JSON.stringify(ci.jwks()));
    await waitUntil('the new key is read', async () => 'identity' in (await verifier.verify(rotated)), 10_000);
  });

  it('issues a bearer token for a workload that carries its role and limits and expires with the JWT', async () => {
    const issued = new IssuedTokens(Buffer.alloc(32, 7), 300);
    const now = Date.now();
    const access = [{ type: 'repository' as const, name: 'ghcr.io/org/app', actions: ['pull'] as ['pull'] }];
    const t = issued.issue('job (ci)', access, now, { role: 'puller', repositories: ['ghcr.io/org/**'], expiresAt: now + 60_000 });
    expect(t.expiresIn).toBe(60);
    expect(issued.check(t.token, now)).toEqual({ name: 'job (ci)', pullable: ['ghcr.io/org/app'], workload: { role: 'puller', repositories: ['ghcr.io/org/**'] } });
    expect(issued.check(t.token, now + 61_000)).toEqual({ error: 'token expired' });
    // A configured identity's token names it only; its role is looked up again on use.
    expect(issued.check(issued.issue('ops', [], now).token, now)).toEqual({ name: 'ops', pullable: [] });
  });
});
