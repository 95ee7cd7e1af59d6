import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNotationTrust } from '../../../../src/verify/notation/trust-store.js';
import { createNotationCa, writeTrustStore } from '../../../helpers/pki/notation.js';

describe('Notation trust store folders', () => {
  const ca = createNotationCa();

  it('reads ca, signingAuthority and tsa stores, PEM (several in a file) or DER, named as notation names them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ts-'));
    writeTrustStore(dir, 'ca', 'acme', [ca.pem + ca.pem]);
    writeTrustStore(dir, 'tsa', 'corp', []);
    writeFileSync(join(dir, 'x509', 'tsa', 'corp', 'root.cer'), ca.der);
    writeFileSync(join(dir, 'x509', 'tsa', 'corp', 'notes.txt'), 'not a certificate, not read');
    mkdirSync(join(dir, 'x509', 'signingAuthority', 'empty'), { recursive: true });
    const trust = loadNotationTrust(dir);
    expect(trust.stores.map((s) => [s.id, s.certificates.length])).toEqual([['ca:acme', 2], ['tsa:corp', 1]]);
    expect(trust.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses at start a folder that is not a trust store, a relative path, and a file that holds no certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ts-'));
    expect(() => loadNotationTrust(dir)).toThrow(/has no x509 folder/);
    expect(() => loadNotationTrust('relative/store')).toThrow(/must be an absolute path/);
    writeTrustStore(dir, 'ca', 'acme', ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n']);
    expect(() => loadNotationTrust(dir)).toThrow(/Notation trust store file .*cert-0\.pem is not a PEM or DER certificate/);
  });
});
