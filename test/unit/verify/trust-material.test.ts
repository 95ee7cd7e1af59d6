import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTrust, TrustMaterialError } from '../../../src/verify/trust-material.js';

const pub = (type: 'ec' | 'ed25519' | 'rsa', opts: { modulusLength?: number } = {}): string => {
  const pair =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: opts.modulusLength ?? 2048 })
        : generateKeyPairSync('ed25519');
  return pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;
};

describe('loadTrust', () => {
  it('loads the public-good root shipped with the code, offline, with EC, RSA and Ed25519 keys', () => {
    const t = loadTrust({ trustedRoot: 'public-good', keys: { ec: pub('ec'), ed: pub('ed25519'), rsa: pub('rsa', { modulusLength: 2048 }) }, verifyTtlMs: 0 });
    expect(t.roots.map((r) => r.name)).toEqual(['default']);
    const [root] = t.roots[0]!.instances;
    expect(root!.material.tlogs.length).toBeGreaterThan(0);
    expect(root!.material.certificateAuthorities.length).toBeGreaterThan(0);
    expect(root).toMatchObject({ hasTlogs: true, hasCtlogs: true });
    expect([...t.keys.keys()]).toEqual(['ec', 'ed', 'rsa']);
  });

  it('gives a fingerprint that is stable for the same material and changes with the keys', () => {
    const key = pub('ec');
    const a = loadTrust({ trustedRoot: 'public-good', keys: { k: key }, verifyTtlMs: 0 }).fingerprint;
    const b = loadTrust({ trustedRoot: 'public-good', keys: { k: key }, verifyTtlMs: 1 }).fingerprint;
    const c = loadTrust({ trustedRoot: 'public-good', keys: { k: pub('ec') }, verifyTtlMs: 0 }).fingerprint;
    const d = loadTrust({ trustedRoot: 'public-good', keys: { renamed: key }, verifyTtlMs: 0 }).fingerprint;
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(d).not.toBe(a);
  });

  it('refuses bad keys with the key name in the message', () => {
    expect(() => loadTrust({ trustedRoot: 'public-good', keys: { broken: 'not a key' }, verifyTtlMs: 0 })).toThrow(/trust\.keys\.broken/);
    expect(() => loadTrust({ trustedRoot: 'public-good', keys: { weak: pub('rsa', { modulusLength: 1024 }) }, verifyTtlMs: 0 })).toThrow(TrustMaterialError);
  });

  it('refuses a relative or unreadable root path', () => {
    expect(() => loadTrust({ trustedRoot: 'trusted_root.json', keys: {}, verifyTtlMs: 0 })).toThrow(/absolute path/);
    expect(() => loadTrust({ trustedRoot: '/nonexistent/root.json', keys: {}, verifyTtlMs: 0 })).toThrow(/cannot read/);
  });

  it('refuses a root whose log has no validity start (sigstore-js would trust it since the epoch)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'root-'));
    const seeds = JSON.parse(readFileSync(join('node_modules', '@sigstore', 'tuf', 'seeds.json'), 'utf8'));
    const root = JSON.parse(Buffer.from(seeds['https://tuf-repo-cdn.sigstore.dev'].targets['trusted_root.json'], 'base64').toString('utf8'));
    delete root.tlogs[0].publicKey.validFor.start;
    writeFileSync(join(dir, 'root.json'), JSON.stringify(root));
    expect(() => loadTrust({ trustedRoot: join(dir, 'root.json'), keys: {}, verifyTtlMs: 0 })).toThrow(/tlogs\[0\]\.publicKey\.validFor\.start is missing/);
    writeFileSync(join(dir, 'bad.json'), '{"mediaType":"text/plain"}');
    expect(() => loadTrust({ trustedRoot: join(dir, 'bad.json'), keys: {}, verifyTtlMs: 0 })).toThrow(/unsupported mediaType/);
  });
});
