import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCoseEnvelope } from '../../../../src/verify/notation/envelope-cose.js';
import { parseJwsEnvelope } from '../../../../src/verify/notation/envelope-jws.js';
import { loadNotationTrust } from '../../../../src/verify/notation/trust-store.js';
import { verifyNotationEnvelope, type SignedDescriptor } from '../../../../src/verify/notation/verify-envelope.js';
import { toReason } from '../../../../src/verify/verify-error.js';
import { writeTrustStore } from '../../../helpers/pki/notation.js';

/**
 * Signatures notation itself wrote (notation-go's test data; see test/fixtures/notation-go/README.md). Their
 * self-signed signing certificates are trusted as notation's tests trust them: the certificate in a `ca` store.
 */
const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'notation-go');
const read = (name: string) => readFileSync(join(FIXTURES, name));
const ALPINE_2023 = { digest: 'sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0', mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 481 };
const ALPINE_2024 = { digest: 'sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda', mediaType: 'application/vnd.docker.distribution.manifest.v2+json', size: 528 };

function storeWith(pem: string, tsa?: string): ReturnType<typeof loadNotationTrust> {
  const dir = mkdtempSync(join(tmpdir(), 'notation-real-'));
  writeTrustStore(dir, 'ca', 'notary', [pem]);
  if (tsa) writeTrustStore(dir, 'tsa', 'globalsign', [tsa]);
  return loadNotationTrust(dir);
}

async function verdict(file: string, mediaType: string, subject: SignedDescriptor, pem: string, tsa?: string): Promise<string> {
  try {
    const s = await verifyNotationEnvelope(read(file), mediaType, subject, storeWith(pem, tsa), new Date());
    return `OK ${s.envelope} ${s.subject} ${s.trustStores.join(',')}${s.timestampStores ? ` timestamp ${s.timestampStores.join(',')}` : ''}`;
  } catch (err) {
    return toReason(err);
  }
}

const JWS = 'application/jose+json';
const COSE = 'application/cose';
const signerOf = (file: string, mediaType: string) => (mediaType === JWS ? parseJwsEnvelope(read(file)) : parseCoseEnvelope(read(file))).chain[0]!;

describe('signatures written by notation', () => {
  it('verifies JWS (PS256) and COSE envelopes over the manifest they name', async () => {
    const pem = signerOf('jws_signature.sig', JWS).toString();
    expect(await verdict('jws_signature.sig', JWS, ALPINE_2023, pem)).toBe('OK jws C=US, ST=WA, L=Seattle, O=Notary, CN=alpine ca:notary');
    expect(await verdict('cose_signature.sig', COSE, ALPINE_2023, pem)).toBe('OK cose C=US, ST=WA, L=Seattle, O=Notary, CN=alpine ca:notary');
    // The certificate notation's tests keep in their trust store for these (TestTimestamp.crt).
    const stored = new X509Certificate(read('TestTimestamp.crt')).toString();
    expect(await verdict('withoutTimestamp.sig', JWS, ALPINE_2024, stored)).toMatch(/^OK jws .*CN=alpine ca:notary$/);
    expect(await verdict('jwsWithTimestamp.sig', JWS, ALPINE_2024, stored)).toMatch(/^OK jws/);
    expect(await verdict('coseWithTimestamp.sig', COSE, ALPINE_2024, stored)).toMatch(/^OK cose/);
  });

  it('refuses them for another manifest, under a store that does not hold their signer, and once expired without a trusted timestamp', async () => {
    const pem = signerOf('jws_signature.sig', JWS).toString();
    expect(await verdict('jws_signature.sig', JWS, ALPINE_2024, pem)).toMatch(/^DIGEST_MISMATCH: the signature is for sha256:19dbd2e4/);
    expect(await verdict('cose_signature.sig', COSE, ALPINE_2023, read('wabbit-networks.io.crt').toString())).toMatch(/^CERT_CHAIN: the certificate chain leads to no ca trust store/);
    // Signed in June 2024 by a certificate valid for ten minutes; only the RFC 3161 countersignature could vouch for it.
    const expired = signerOf('jwsExpiredWithTimestamp.sig', JWS).toString();
    expect(await verdict('jwsExpiredWithTimestamp.sig', JWS, ALPINE_2024, expired)).toMatch(/^CERT_CHAIN: certificate .*CN=testTSA is not valid at/);
  });

  it('accepts a certificate that expired since, when an RFC 3161 countersignature from a trusted TSA vouches for the signing', async () => {
    const globalSign = new X509Certificate(read('globalsignRoot.cer')).toString();
    for (const [file, type] of [['jwsExpiredWithTimestamp.sig', JWS], ['coseExpiredWithTimestamp.sig', COSE]] as const) {
      const expired = signerOf(file, type).toString();
      expect(await verdict(file, type, ALPINE_2024, expired, globalSign)).toMatch(/^OK (jws|cose) .*CN=testTSA ca:notary timestamp tsa:globalsign$/);
      // A TSA store that does not hold the timestamp authority's root vouches for nothing.
      expect(await verdict(file, type, ALPINE_2024, expired, read('NotationTestRoot.pem').toString())).toMatch(/^CERT_CHAIN: .*the timestamp does not verify under a tsa store/);
    }
  });

  it('refuses a real envelope with one byte changed', async () => {
    const bytes = read('cose_signature.sig');
    const tampered = Buffer.from(bytes);
    tampered[tampered.length - 10] ^= 0xff;
    const pem = signerOf('cose_signature.sig', COSE).toString();
    const dir = mkdtempSync(join(tmpdir(), 'notation-real-'));
    writeTrustStore(dir, 'ca', 'notary', [pem]);
    await expect(verifyNotationEnvelope(tampered, COSE, ALPINE_2023, loadNotationTrust(dir), new Date())).rejects.toThrow(/COSE signature does not verify/);
  });
});
