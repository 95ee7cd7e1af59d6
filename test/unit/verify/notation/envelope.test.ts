import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyNotationEnvelope, type SignedDescriptor } from '../../../../src/verify/notation/verify-envelope.js';
import { loadNotationTrust } from '../../../../src/verify/notation/trust-store.js';
import { toReason } from '../../../../src/verify/verify-error.js';
import { createNotationCa, NOTATION, signCose, signJws, writeTrustStore, type SignOptions } from '../../../helpers/pki/notation.js';
import { createTestImage, descriptorOf } from '../../../helpers/pki/oci.js';
import { createTestTsa } from '../../../helpers/pki/tsa.js';

const DAY = 86_400_000;
const ca = createNotationCa();
const other = createNotationCa({ C: 'US', ST: 'CA', O: 'Other', CN: 'Other Root' });
const dir = mkdtempSync(join(tmpdir(), 'notation-store-'));
writeTrustStore(dir, 'ca', 'acme', [ca.pem]);
writeTrustStore(dir, 'signingAuthority', 'acme-sa', [ca.pem]);
const tsa = createTestTsa();
const untrustedTsa = createTestTsa({ commonName: 'stranger-tsa' });
writeTrustStore(dir, 'tsa', 'corp', [tsa.root.pem]);
const trust = loadNotationTrust(dir);
const image = createTestImage('notation');
const subject: SignedDescriptor = descriptorOf(image);
const leaf = ca.issue();

const formats = [
  ['JWS', NOTATION.jws, signJws],
  ['COSE', NOTATION.cose, signCose],
] as const;

async function verdict(mediaType: string, envelope: Buffer, now = new Date()): Promise<string> {
  try {
    const s = await verifyNotationEnvelope(envelope, mediaType, subject, trust, now);
    return `OK ${s.trustStores.join(',')} ${s.subject}`;
  } catch (err) {
    return toReason(err);
  }
}

describe.each(formats)('Notation %s envelopes', (_name, mediaType, signEnvelope) => {
  const sign = (o: Partial<SignOptions> = {}) => signEnvelope({ signer: leaf, target: subject, ...o });

  it('accept a signature over this manifest by a certificate of a named store, with its subject and fingerprint', async () => {
    const s = await verifyNotationEnvelope(sign(), mediaType, subject, trust, new Date());
    expect(s).toMatchObject({ type: 'notation', subject: 'C=US, ST=WA, O=Acme, CN=release', trustStores: ['ca:acme'], signingScheme: 'notary.x509' });
    expect(s.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('accept RSA-PSS (PS256) as well as ECDSA', async () => {
    const rsa = ca.issue({ algorithm: 'rsa-2048' });
    expect(await verdict(mediaType, signEnvelope({ signer: rsa, target: subject }))).toMatch(/^OK ca:acme/);
  });

  it('deny a signature for another manifest', async () => {
    const otherImage = descriptorOf(createTestImage('another'));
    expect(await verdict(mediaType, sign({ target: otherImage }))).toBe(`DIGEST_MISMATCH: the signature is for ${otherImage.digest}, not ${subject.digest}`);
    expect(await verdict(mediaType, sign({ target: { ...subject, size: subject.size + 1 } }))).toMatch(/^DIGEST_MISMATCH: the signature names size/);
    expect(await verdict(mediaType, sign({ target: { ...subject, mediaType: 'application/vnd.oci.image.index.v1+json' } }))).toMatch(/^DIGEST_MISMATCH: the signature names media type/);
  });

  it('deny an unknown critical header', async () => {
    expect(await verdict(mediaType, sign({ extraCritical: { 'io.cncf.notary.verificationPlugin': 'com.example.plugin' } }))).toBe(
      'UNSUPPORTED: unknown critical header "io.cncf.notary.verificationPlugin"',
    );
  });

  it('deny a signature past its expiry, and one whose expiry precedes its signing time', async () => {
    const past = new Date(Date.now() - DAY);
    expect(await verdict(mediaType, sign({ signingTime: new Date(Date.now() - 2 * DAY), expiry: past }))).toMatch(/^SIGNATURE_INVALID: the signature expired at/);
    expect(await verdict(mediaType, sign({ signingTime: new Date(), expiry: past }))).toBe('MALFORMED: the expiry is earlier than the signing time');
  });

  it('deny an expired certificate without a timestamp', async () => {
    const expired = ca.issue({ notBefore: new Date(Date.now() - 60 * DAY), notAfter: new Date(Date.now() - DAY) });
    expect(await verdict(mediaType, signEnvelope({ signer: expired, target: subject }))).toMatch(/^CERT_CHAIN: certificate .*CN=release is not valid at .* and the signature has no trusted timestamp$/);
  });

  it('accept an expired certificate when a trusted TSA stamped the signature while it was valid, and name the TSA store', async () => {
    const expired = ca.issue({ notBefore: new Date(Date.now() - 60 * DAY), notAfter: new Date(Date.now() - DAY) });
    const stampedAt = new Date(Date.now() - 10 * DAY);
    const env = signEnvelope({ signer: expired, target: subject, signingTime: stampedAt, timestamp: (sig) => tsa.timestamp(sig, stampedAt) });
    const s = await verifyNotationEnvelope(env, mediaType, subject, trust, new Date());
    expect(s).toMatchObject({ trustStores: ['ca:acme'], timestampStores: ['tsa:corp'] });
    // Stamped after the certificate expired: no help.
    const late = signEnvelope({ signer: expired, target: subject, timestamp: (sig) => tsa.timestamp(sig, new Date()) });
    expect(await verdict(mediaType, late)).toMatch(/^CERT_CHAIN: .*the timestamp does not vouch for it/);
    // Stamped by an authority no tsa store holds.
    const stranger = signEnvelope({ signer: expired, target: subject, timestamp: (sig) => untrustedTsa.timestamp(sig, stampedAt) });
    expect(await verdict(mediaType, stranger)).toMatch(/^CERT_CHAIN: .*the timestamp does not verify under a tsa store \(tsa:corp: /);
    // Over other bytes than this signature.
    const other = signEnvelope({ signer: expired, target: subject, timestamp: () => tsa.timestamp(Buffer.from('something else'), stampedAt) });
    expect(await verdict(mediaType, other)).toMatch(/^CERT_CHAIN: .*the timestamp is not over this signature/);
  });

  it('accept an expired certificate under notary.x509.signingAuthority when it was valid at the authentic signing time', async () => {
    const signedAt = new Date(Date.now() - 10 * DAY);
    const expired = ca.issue({ notBefore: new Date(Date.now() - 60 * DAY), notAfter: new Date(Date.now() - DAY) });
    const env = signEnvelope({ signer: expired, target: subject, scheme: 'notary.x509.signingAuthority', signingTime: signedAt });
    expect(await verdict(mediaType, env)).toMatch(/^OK signingAuthority:acme-sa /);
  });

  it('deny a chain that leads to no named store', async () => {
    expect(await verdict(mediaType, signEnvelope({ signer: other.issue(), target: subject }))).toMatch(/^CERT_CHAIN: the certificate chain leads to no ca trust store \(ca:acme: /);
  });

  it('deny a leaf without the code-signing usage', async () => {
    expect(await verdict(mediaType, signEnvelope({ signer: ca.issue({ codeSigning: false }), target: subject }))).toBe(
      'CERT_CHAIN: the signing certificate lacks the code-signing extended key usage',
    );
  });

  it('deny a signature that does not verify', async () => {
    const bytes = sign();
    const tampered = mediaType === NOTATION.jws ? tamperJws(bytes) : Buffer.from(bytes.subarray(0, bytes.length - 1).toString('latin1') + String.fromCharCode(bytes[bytes.length - 1]! ^ 1), 'latin1');
    expect(await verdict(mediaType, tampered)).toMatch(/^SIGNATURE_INVALID: /);
  });

  it('deny a chain longer than any real one before validating it', async () => {
    const long = { ...leaf, chain: Array.from({ length: 11 }, () => leaf.der) };
    expect(await verdict(mediaType, signEnvelope({ signer: long, target: subject }))).toBe('MALFORMED: the certificate chain has 11 certificates; at most 10 are accepted');
  });

  it('deny malformed envelopes with a reason, never a crash', async () => {
    for (const junk of [Buffer.alloc(0), Buffer.from('{"payload":1}'), Buffer.from([0xd2, 0x84, 0x40]), Buffer.from('\u0000\u00ff'), Buffer.from('[]')]) {
      expect(await verdict(mediaType, junk)).toMatch(/^(MALFORMED|UNSUPPORTED): /);
    }
  });
});

function tamperJws(bytes: Buffer): Buffer {
  const doc = JSON.parse(bytes.toString()) as { signature: string };
  const sig = Buffer.from(doc.signature, 'base64url');
  sig[5] ^= 1;
  return Buffer.from(JSON.stringify({ ...doc, signature: sig.toString('base64url') }));
}
