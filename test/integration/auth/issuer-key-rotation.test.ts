import { jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { IssuerKeys } from '../../../src/auth/issuer-keys.js';
import { WorkloadVerifier } from '../../../src/auth/workload-identity.js';
import { JWT_ALGORITHMS, type OidcIssuerConfig } from '../../../src/config/oidc-issuers.js';
import { startJwtIssuer, type JwtIssuer } from '../../helpers/jwt-issuer.js';
import { waitUntil } from '../../helpers/tools.js';

/**
 * A key the issuer drops from its JWKS (rotation after a compromise) stops being accepted within a bound,
 * even when every token still names it (so no unknown key id prompts a fetch): the keys are fetched again
 * once they are older than `maxKeyAge` (10 min by default). Real issuers on loopback ports.
 */
const CLAIMS = { sub: 'job', aud: 'portcullis' };
const rule = (issuer: string, more: Partial<OidcIssuerConfig> = {}): OidcIssuerConfig => ({
  name: 'ci', issuer, audience: ['portcullis'], role: 'puller', subject: 'job', claims: {}, claimsRegExp: {},
  algorithms: [...JWT_ALGORITHMS], minKeyRefreshMs: 1000, ...more,
});

describe('issuer key rotation', () => {
  const issuers: JwtIssuer[] = [];
  afterEach(async () => {
    await Promise.all(issuers.splice(0).map((i) => i.stop()));
  });
  const issuer = async () => {
    const i = await startJwtIssuer();
    issuers.push(i);
    return i;
  };

  it('stops accepting a key removed from the JWKS once the cached keys are 10 minutes old, by default', async () => {
    const ci = await issuer();
    let clock = Date.now();
    const keys = new IssuerKeys({ kind: 'discovery', issuer: ci.url }, { minRefreshMs: 30_000, now: () => clock });
    const compromised = await ci.mint(CLAIMS);
    await expect(jwtVerify(compromised, keys.resolve)).resolves.toBeTruthy();
    await ci.rotate();
    const fetched = ci.jwksRequests();
    clock += 9 * 60_000;
    // Still within the bound: the cached key is used, and the issuer is not asked.
    await expect(jwtVerify(compromised, keys.resolve)).resolves.toBeTruthy();
    expect(ci.jwksRequests()).toBe(fetched);
    clock += 2 * 60_000;
    await expect(jwtVerify(compromised, keys.resolve)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    expect(ci.jwksRequests()).toBe(fetched + 1);
    // The new key is taken at once.
    await expect(jwtVerify(await ci.mint(CLAIMS), keys.resolve)).resolves.toBeTruthy();
  });

  it('refuses a dropped key within maxKeyAge plus minKeyRefresh through the verifier', async () => {
    const ci = await issuer();
    const verifier = new WorkloadVerifier([rule(ci.url, { minKeyRefreshMs: 1000, maxKeyAgeMs: 2000 })]);
    const compromised = await ci.mint(CLAIMS);
    expect(await verifier.verify(compromised)).toHaveProperty('identity');
    await ci.rotate();
    const rotatedAt = Date.now();
    await waitUntil('the dropped key is refused', async () => 'reason' in (await verifier.verify(compromised)), 15_000);
    expect(Date.now() - rotatedAt).toBeLessThan(2000 + 1000 + 2000);
    expect(await verifier.verify(compromised)).toEqual({ reason: expect.stringContaining("no key of issuer") });
    expect(await verifier.verify(await ci.mint(CLAIMS))).toHaveProperty('identity');
  });

  it('fetches the keys again when a token names an unknown key, at most once per minKeyRefresh', async () => {
    const ci = await issuer();
    let clock = Date.now();
    const keys = new IssuerKeys({ kind: 'discovery', issuer: ci.url }, { minRefreshMs: 30_000, now: () => clock });
    await expect(jwtVerify(await ci.mint(CLAIMS), keys.resolve)).resolves.toBeTruthy();
    const fetched = ci.jwksRequests();
    await ci.rotate({ keepOld: true });
    // A key published after the last fetch is looked up as soon as the cooldown allows (no wait for the cache to age).
    clock += 1000;
    await expect(jwtVerify(await ci.mint(CLAIMS), keys.resolve)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    expect(ci.jwksRequests()).toBe(fetched);
    clock += 30_000;
    await expect(jwtVerify(await ci.mint(CLAIMS), keys.resolve)).resolves.toBeTruthy();
    expect(ci.jwksRequests()).toBe(fetched + 1);
    // Made-up key ids within the cooldown do not reach the issuer.
    const stray = await ci.strayKey();
    for (let i = 0; i < 5; i++) {
      clock += 1000;
      await expect(jwtVerify(await ci.mint(CLAIMS, { kid: `invented-${i}`, key: stray }), keys.resolve)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    }
    expect(ci.jwksRequests()).toBe(fetched + 1);
    clock += 30_000;
    await ci.rotate();
    await expect(jwtVerify(await ci.mint(CLAIMS), keys.resolve)).resolves.toBeTruthy();
    expect(ci.jwksRequests()).toBe(fetched + 2);
  });
  it('refuses tokens once the keys are too old and the issuer cannot be asked again, as jose does', async () => {
    const ci = await issuer();
    let clock = Date.now();
    const keys = new IssuerKeys({ kind: 'discovery', issuer: ci.url }, { minRefreshMs: 30_000, now: () => clock });
    const token = await ci.mint(CLAIMS);
    await expect(jwtVerify(token, keys.resolve)).resolves.toBeTruthy();
    await ci.stop();
    // Within the bound the known keys serve while the issuer is down.
    clock += 9 * 60_000;
    await expect(jwtVerify(token, keys.resolve)).resolves.toBeTruthy();
    // Past it, a key the issuer may have dropped meanwhile is not taken on trust.
    clock += 2 * 60_000;
    await expect(jwtVerify(token, keys.resolve)).rejects.toThrow(/keys fetched 11 min ago are older than maxKeyAge \(10 min\) and could not be fetched again: GET .* failed: ECONNREFUSED/);
    // Also within the cooldown, without asking the issuer again.
    clock += 1000;
    await expect(jwtVerify(token, keys.resolve)).rejects.toThrow(/older than maxKeyAge/);
  });
});
