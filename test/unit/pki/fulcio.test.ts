import { X509Certificate as SigstoreCert } from '@sigstore/core';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTestPki, OID } from '../../helpers/pki/index.js';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const pki = createTestPki();

describe('test Fulcio', () => {
  it('issues a leaf that chains to the intermediate and root', () => {
    const leaf = pki.fulcio.issue();
    const node = new X509Certificate(leaf.der);
    const intermediate = new X509Certificate(pki.fulcio.intermediate.der);
    const root = new X509Certificate(pki.fulcio.root.der);
    expect(node.verify(intermediate.publicKey)).toBe(true);
    expect(node.checkIssued(intermediate)).toBe(true);
    expect(intermediate.verify(root.publicKey)).toBe(true);
    expect(root.verify(root.publicKey)).toBe(true);
    expect(root.ca).toBe(true);
    expect(node.ca).toBe(false);
    expect(leaf.chainPem).toBe(pki.fulcio.intermediate.pem + pki.fulcio.root.pem);
  });

  it('writes SAN, issuer extensions, code-signing EKU and an embedded SCT', () => {
    const leaf = pki.fulcio.issue({
      uri: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
      issuer: 'https://token.actions.githubusercontent.com',
      extraExtensions: { '1.3.6.1.4.1.57264.1.12': 'https://github.com/acme/app' },
    });
    const node = new X509Certificate(leaf.der);
    expect(node.subjectAltName).toBe('URI:https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main');
    expect(node.keyUsage).toEqual(['1.3.6.1.5.5.7.3.3']);
    const cert = SigstoreCert.parse(Buffer.from(leaf.der));
    expect(cert.extension(OID.fulcioIssuerV1)?.value.toString()).toBe('https://token.actions.githubusercontent.com');
    expect(cert.extension(OID.fulcioIssuerV2)?.valueObj.subs[0]?.value.toString()).toBe(
      'https://token.actions.githubusercontent.com',
    );
    expect(cert.extension('1.3.6.1.4.1.57264.1.12')?.valueObj.subs[0]?.value.toString()).toBe('https://github.com/acme/app');
    expect(cert.extSCT?.signedCertificateTimestamps[0]?.logID.equals(pki.ctLog.logId)).toBe(true);
    expect(leaf.subjectAlternativeName).toMatch(/^https:\/\/github.com\/acme/);
  });

  it('honours notBefore/notAfter for certificates valid only in the past', () => {
    const at = new Date(Date.now() - 400 * 86400_000);
    const leaf = pki.fulcio.issue({ notBefore: at, email: 'old@portcullis.test' });
    const node = new X509Certificate(leaf.der);
    expect(new Date(node.validFrom).getTime()).toBe(Math.floor(at.getTime() / 1000) * 1000);
    expect(new Date(node.validTo).getTime() - new Date(node.validFrom).getTime()).toBe(10 * 60_000);
    expect(node.subjectAltName).toBe('email:old@portcullis.test');
  });

  it('produces a trusted root that protobuf-specs accepts and lists only trusted services', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pki-'));
    try {
      const path = await pki.writeTrustedRoot(dir);
      const root = TrustedRoot.fromJSON(JSON.parse(await readFile(path, 'utf8')));
      expect(root.mediaType).toBe('application/vnd.dev.sigstore.trustedroot+json;version=0.1');
      expect(root.tlogs.map((t) => Buffer.from(t.logId!.keyId).toString('hex'))).toEqual([pki.rekor.logId.toString('hex')]);
      expect(root.ctlogs.map((t) => Buffer.from(t.logId!.keyId).equals(pki.ctLog.logId))).toEqual([true]);
      expect(root.certificateAuthorities[0]!.certChain!.certificates.length).toBe(2);
      expect(root.tlogs[0]!.publicKey!.validFor!.start).toBeInstanceOf(Date);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
