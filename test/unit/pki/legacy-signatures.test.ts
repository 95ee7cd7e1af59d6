import { verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  cosignManifest,
  createSignatureArtifact,
  createSignatureLayer,
  createTestImage,
  createTestPki,
  digestOf,
  generateKey,
  legacyLayerToBundle,
  type CosignLayer,
  type IssuedCertificate,
} from '../../helpers/pki/index.js';
import { verifyWithSigstore } from '../../helpers/pki/sigstore-check.js';

const pki = createTestPki();
const root = pki.trustedRoot();
const image = createTestImage('legacy-sig');
const repository = 'localhost:5000/team/app';

function check(layer: CosignLayer, opts: Parameters<typeof verifyWithSigstore>[3] = {}, digestAlgorithm?: 'sha384') {
  const { bundle, artifact } = legacyLayerToBundle(layer, { hint: 'k', digestAlgorithm });
  return verifyWithSigstore(root, bundle, artifact, opts);
}

function keyless(signer: IssuedCertificate = pki.fulcio.issue(), rekor = pki.rekor, integratedTime?: Date): CosignLayer {
  return createSignatureLayer({ digest: image.digest, repository, signer, rekor, integratedTime });
}

describe('legacy .sig artifacts', () => {
  it('keyless signature with a Rekor bundle verifies and exposes the identity', () => {
    const signer = pki.fulcio.issue({ email: 'dev@acme.test', issuer: 'https://accounts.acme.test' });
    const result = check(keyless(signer));
    expect(result.identity?.subjectAlternativeName).toBe('dev@acme.test');
    expect(result.identity?.extensions?.issuer).toBe('https://accounts.acme.test');
  });

  it('has the exact cosign payload, annotations, manifest and tag', () => {
    const layer = keyless();
    expect(JSON.parse(layer.blob.toString())).toEqual({
      critical: {
        identity: { 'docker-reference': repository },
        image: { 'docker-manifest-digest': image.digest },
        type: 'cosign container image signature',
      },
      optional: null,
    });
    expect(Object.keys(layer.annotations).sort()).toEqual([
      'dev.cosignproject.cosign/signature',
      'dev.sigstore.cosign/bundle',
      'dev.sigstore.cosign/certificate',
      'dev.sigstore.cosign/chain',
    ]);
    const body = JSON.parse(Buffer.from(JSON.parse(layer.annotations['dev.sigstore.cosign/bundle']!).Payload.body, 'base64').toString());
    expect(body.kind).toBe('hashedrekord');
    expect(Buffer.from(body.spec.signature.publicKey.content, 'base64').toString()).toBe(layer.annotations['dev.sigstore.cosign/certificate']);
    const art = cosignManifest(image.digest, [layer], 'sig');
    expect(art.tag).toBe(`sha256-${image.digest.slice(7)}.sig`);
    const manifest = JSON.parse(art.manifest.toString());
    expect(manifest.layers[0].mediaType).toBe('application/vnd.dev.cosign.simplesigning.v1+json');
    expect(manifest.layers[0].digest).toBe(digestOf(layer.blob));
    expect(manifest.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
    expect(art.blobs.map(digestOf)).toEqual([manifest.config.digest, manifest.layers[0].digest]);
    expect(JSON.parse(art.blobs[0]!.toString()).rootfs.diff_ids).toEqual([digestOf(layer.blob)]);
  });

  it('a SET from an untrusted log fails', () => {
    expect(() => check(keyless(pki.fulcio.issue(), pki.untrusted.rekor))).toThrow(/inclusion promise/);
  });

  it('a tampered SET fails', () => {
    const layer = keyless();
    const rb = JSON.parse(layer.annotations['dev.sigstore.cosign/bundle']!);
    rb.Payload.integratedTime -= 1;
    const annotations = { ...layer.annotations, 'dev.sigstore.cosign/bundle': JSON.stringify(rb) };
    expect(() => check({ ...layer, annotations })).toThrow(/inclusion promise/);
  });

  it('a tampered payload fails', () => {
    const layer = keyless();
    const tampered = { ...layer, blob: Buffer.from(layer.blob.toString().replace('team/app', 'team/evil')) };
    expect(() => check(tampered)).toThrow(/digest mismatch/);
  });

  it('a certificate whose SCT is from an unknown log or over another precertificate fails', () => {
    expect(() => check(keyless(pki.fulcio.issue({ sct: 'untrusted-log' })))).toThrow(/SCT/);
    expect(() => check(keyless(pki.fulcio.issue({ sct: 'bad-signature' })))).toThrow(/SCT/);
    expect(() => check(keyless(pki.fulcio.issue({ sct: 'none' })))).toThrow(/SCTs/);
  });

  it('a certificate from an untrusted CA fails', () => {
    expect(() => check(keyless(pki.untrusted.fulcio.issue()))).toThrow(/certificate chain/);
  });

  it('an old signature verifies at its integratedTime, and fails when logged after expiry', () => {
    const at = new Date(Date.now() - 400 * 86400_000);
    const old = pki.fulcio.issue({ notBefore: at });
    expect(() => check(keyless(old, pki.rekor, new Date(at.getTime() + 60_000)))).not.toThrow();
    expect(() => check(keyless(pki.fulcio.issue({ notBefore: at }), pki.rekor, new Date()))).toThrow(/certificate/);
  });

  it('key-signed with a tlog entry verifies; without one it needs zero thresholds', () => {
    const key = generateKey('ecdsa-p256');
    const logged = createSignatureLayer({ digest: image.digest, repository, signer: key, rekor: pki.rekor });
    expect(logged.annotations['dev.sigstore.cosign/certificate']).toBeUndefined();
    expect(() => check(logged, { keys: { k: key } })).not.toThrow();
    const bare = createSignatureLayer({ digest: image.digest, repository, signer: key });
    expect(Object.keys(bare.annotations)).toEqual(['dev.cosignproject.cosign/signature']);
    expect(() => check(bare, { keys: { k: key }, tlogThreshold: 0, timestampThreshold: 0 })).not.toThrow();
    expect(() => check(bare, { keys: { k: generateKey() }, tlogThreshold: 0, timestampThreshold: 0 })).toThrow(/signature/);
  });

  it('signs with P-384, RSA-2048 and Ed25519 keys', () => {
    const keyOnly = { tlogThreshold: 0, timestampThreshold: 0 };
    const p384 = generateKey('ecdsa-p384');
    const rsa = generateKey('rsa-2048');
    expect(p384.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const sign = (signer: typeof p384) => createSignatureLayer({ digest: image.digest, repository, signer });
    expect(() => check(sign(p384), { keys: { k: p384 }, ...keyOnly }, 'sha384')).not.toThrow();
    expect(() => check(sign(rsa), { keys: { k: rsa }, ...keyOnly })).not.toThrow();
    const ed = generateKey('ed25519');
    const layer = sign(ed);
    const sig = Buffer.from(layer.annotations['dev.cosignproject.cosign/signature']!, 'base64');
    expect(verify(null, layer.blob, ed.publicKey, sig)).toBe(true);
  });

  it('several signatures share one manifest', () => {
    const art = createSignatureArtifact({ digest: image.digest, repository, signer: pki.fulcio.issue(), rekor: pki.rekor });
    const two = cosignManifest(image.digest, [keyless(), keyless(pki.untrusted.fulcio.issue())], 'sig');
    expect(JSON.parse(two.manifest.toString()).layers).toHaveLength(2);
    expect(two.tag).toBe(art.tag);
    expect(two.blobs).toHaveLength(2); // config + one payload: identical payload bytes are one blob
  });
});
