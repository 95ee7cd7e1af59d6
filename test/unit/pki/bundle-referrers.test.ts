import { describe, expect, it } from 'vitest';
import {
  buildTrustedRoot,
  createAttestationReferrer,
  createSignatureReferrer,
  createTestImage,
  createTestPki,
  createTestRekor,
  descriptorOf,
  digestOf,
  generateKey,
  referrersTagIndex,
} from '../../helpers/pki/index.js';
import { verifyWithSigstore } from '../../helpers/pki/sigstore-check.js';

const pki = createTestPki();
const root = pki.trustedRoot();
const image = createTestImage('bundle');
const subject = descriptorOf(image);

describe('OCI 1.1 referrers with Sigstore bundle v0.3', () => {
  it('cosign v3 keyless signature bundle verifies (SET + inclusion proof + checkpoint)', () => {
    const ref = createSignatureReferrer({ subject, signer: pki.fulcio.issue({ email: 'rel@acme.test' }), rekor: pki.rekor });
    const result = verifyWithSigstore(root, ref.bundle, undefined);
    expect(result.identity?.subjectAlternativeName).toBe('rel@acme.test');
    const entry = (ref.bundle.verificationMaterial as { tlogEntries: Record<string, unknown>[] }).tlogEntries[0]!;
    expect(entry.inclusionProof).toBeDefined();
    expect(entry.inclusionPromise).toBeDefined();
    const statement = JSON.parse(Buffer.from((ref.bundle.dsseEnvelope as { payload: string }).payload, 'base64').toString());
    expect(statement).toMatchObject({
      _type: 'https://in-toto.io/Statement/v1',
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
      subject: [{ digest: { sha256: image.digest.slice(7) } }],
    });
  });

  it('has the referrer manifest shape cosign writes', () => {
    const ref = createSignatureReferrer({ subject, signer: pki.fulcio.issue(), rekor: pki.rekor, created: new Date('2025-02-28T19:18:11Z') });
    const m = JSON.parse(ref.manifest.toString());
    expect(ref.tag).toBeUndefined();
    expect(m.artifactType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(m.config).toMatchObject({
      mediaType: 'application/vnd.oci.empty.v1+json',
      size: 2,
      digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    });
    expect(m.layers).toEqual([{ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', size: ref.blobs[1]!.length, digest: digestOf(ref.blobs[1]!) }]);
    expect(m.subject).toEqual(subject);
    expect(m.annotations).toEqual({
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
      'org.opencontainers.image.created': '2025-02-28T19:18:11Z',
    });
    const index = referrersTagIndex(image.digest, [ref]);
    expect(index.tag).toBe(`sha256-${image.digest.slice(7)}`);
    expect(JSON.parse(index.manifest.toString()).manifests[0]).toMatchObject({ digest: ref.digest, artifactType: m.artifactType });
  });

  it('provenance attestation bundle verifies and carries the predicate', () => {
    const ref = createAttestationReferrer({
      subject,
      signer: pki.fulcio.issue(),
      rekor: pki.rekor,
      provenance: { version: 'v1', sourceRepository: 'https://github.com/acme/app' },
    });
    expect(() => verifyWithSigstore(root, ref.bundle, undefined)).not.toThrow();
    expect(ref.predicateType).toBe('https://slsa.dev/provenance/v1');
    expect(JSON.parse(ref.manifest.toString()).annotations['dev.sigstore.bundle.predicateType']).toBe('https://slsa.dev/provenance/v1');
  });

  it('inclusion proofs verify for every leaf of trees of several sizes', () => {
    const rekor = createTestRekor();
    const localRoot = buildTrustedRoot({ fulcio: [pki.fulcio], rekor: [rekor], ctLogs: [pki.ctLog] });
    const refs = [];
    for (let size = 1; size <= 9; size++) {
      refs.push(createSignatureReferrer({ subject, signer: pki.fulcio.issue(), rekor }));
      for (const ref of refs) {
        const bundle = structuredClone(ref.bundle) as any;
        bundle.verificationMaterial.tlogEntries[0].inclusionProof = rekor.inclusionProof(ref.tlogEntry!);
        expect(bundle.verificationMaterial.tlogEntries[0].inclusionProof.treeSize).toBe(String(size));
        expect(() => verifyWithSigstore(localRoot, bundle, undefined)).not.toThrow();
      }
    }
  });

  it('a tampered inclusion proof or checkpoint fails', () => {
    const ref = createSignatureReferrer({ subject, signer: pki.fulcio.issue(), rekor: pki.rekor });
    const entry = (ref.bundle.verificationMaterial as { tlogEntries: Record<string, any>[] }).tlogEntries[0]!;
    const badRoot = structuredClone(ref.bundle) as any;
    badRoot.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint.envelope = entry.inclusionProof.checkpoint.envelope.replace(
      /\n\d+\n/,
      '\n999\n',
    );
    expect(() => verifyWithSigstore(root, badRoot, undefined)).toThrow(/checkpoint/);
  });

  it('an untrusted log, a wrong SCT or a tampered statement fails', () => {
    const untrusted = createSignatureReferrer({ subject, signer: pki.fulcio.issue(), rekor: pki.untrusted.rekor });
    expect(() => verifyWithSigstore(root, untrusted.bundle, undefined)).toThrow();
    const badSct = createSignatureReferrer({ subject, signer: pki.fulcio.issue({ sct: 'bad-signature' }), rekor: pki.rekor });
    expect(() => verifyWithSigstore(root, badSct.bundle, undefined)).toThrow(/SCT/);
    const ok = createSignatureReferrer({ subject, signer: pki.fulcio.issue(), rekor: pki.rekor });
    const tampered = structuredClone(ok.bundle) as any;
    const other = createTestImage('other').digest.slice(7);
    tampered.dsseEnvelope.payload = Buffer.from(
      Buffer.from(tampered.dsseEnvelope.payload, 'base64').toString().replace(image.digest.slice(7), other),
    ).toString('base64');
    expect(() => verifyWithSigstore(root, tampered, undefined)).toThrow(/payload hash|signature/);
  });

  it('key-signed bundles use a public key hint', () => {
    const key = generateKey('ecdsa-p256');
    const ref = createSignatureReferrer({ subject, signer: key, rekor: pki.rekor, keyHint: 'release-key' });
    expect(() => verifyWithSigstore(root, ref.bundle, undefined, { keys: { 'release-key': key } })).not.toThrow();
    expect(() => verifyWithSigstore(root, ref.bundle, undefined, { keys: { 'release-key': generateKey() } })).toThrow();
  });
});
