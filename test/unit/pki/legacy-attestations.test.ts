import { describe, expect, it } from 'vitest';
import {
  createAttestationArtifact,
  createAttestationLayer,
  createTestImage,
  createTestPki,
  generateKey,
  legacyLayerToBundle,
  preAuthEncoding,
  type CosignLayer,
} from '../../helpers/pki/index.js';
import { verifyWithSigstore } from '../../helpers/pki/sigstore-check.js';

const pki = createTestPki();
const root = pki.trustedRoot();
const image = createTestImage('legacy-att');

function check(layer: CosignLayer, opts: Parameters<typeof verifyWithSigstore>[3] = {}) {
  const { bundle } = legacyLayerToBundle(layer, { hint: 'k' });
  return verifyWithSigstore(root, bundle, undefined, opts);
}

function statementOf(layer: CosignLayer) {
  const env = JSON.parse(layer.blob.toString());
  return { env, statement: JSON.parse(Buffer.from(env.payload, 'base64').toString()) };
}

describe('legacy .att artifacts', () => {
  it('keyless SLSA v0.2 attestation with a dsse tlog entry verifies', () => {
    const finishedOn = new Date('2025-01-02T03:04:05Z');
    const layer = createAttestationLayer({
      digest: image.digest,
      signer: pki.fulcio.issue(),
      rekor: pki.rekor,
      provenance: { builderId: 'https://builder.test/b@v1', sourceRepository: 'https://github.com/acme/app', finishedOn },
    });
    expect(() => check(layer)).not.toThrow();
    const { env, statement } = statementOf(layer);
    expect(env.payloadType).toBe('application/vnd.in-toto+json');
    expect(env.signatures).toHaveLength(1);
    expect(layer.annotations.predicateType).toBe('https://slsa.dev/provenance/v0.2');
    expect(layer.annotations['dev.cosignproject.cosign/signature']).toBe('');
    expect(statement._type).toBe('https://in-toto.io/Statement/v0.1');
    expect(statement.subject[0].digest.sha256).toBe(image.digest.slice(7));
    expect(statement.predicate.builder.id).toBe('https://builder.test/b@v1');
    expect(statement.predicate.invocation.configSource.uri).toBe('git+https://github.com/acme/app@refs/heads/main');
    expect(statement.predicate.metadata.buildFinishedOn).toBe(finishedOn.toISOString());
    const body = JSON.parse(layer.tlogEntry!.body.toString());
    expect(body.kind).toBe('dsse');
    expect(body.spec.signatures[0].signature).toBe(env.signatures[0].sig);
  });

  it('SLSA v1 provenance for another digest is still validly signed (the subject check is the consumer’s)', () => {
    const other = createTestImage('other');
    const art = createAttestationArtifact({
      digest: image.digest,
      subjectDigest: other.digest,
      signer: pki.fulcio.issue(),
      rekor: pki.rekor,
      provenance: { version: 'v1', builderId: 'https://github.com/actions/runner/github-hosted', sourceRef: 'refs/tags/v1.0.0' },
    });
    expect(art.tag).toBe(`sha256-${image.digest.slice(7)}.att`);
    const manifest = JSON.parse(art.manifest.toString());
    expect(manifest.layers[0].mediaType).toBe('application/vnd.dsse.envelope.v1+json');
    const layer = { mediaType: manifest.layers[0].mediaType, blob: art.blobs[1]!, annotations: manifest.layers[0].annotations };
    expect(() => check(layer)).not.toThrow();
    const { statement } = statementOf(layer);
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.subject[0].digest.sha256).toBe(other.digest.slice(7));
    expect(statement.predicate.runDetails.builder.id).toBe('https://github.com/actions/runner/github-hosted');
    expect(statement.predicate.buildDefinition.externalParameters.workflow.ref).toBe('refs/tags/v1.0.0');
  });

  it('a tampered statement fails', () => {
    const layer = createAttestationLayer({ digest: image.digest, signer: pki.fulcio.issue(), rekor: pki.rekor });
    const { env, statement } = statementOf(layer);
    statement.predicate.builder.id = 'https://evil.test';
    env.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
    expect(() => check({ ...layer, blob: Buffer.from(JSON.stringify(env)) })).toThrow(/payload hash|signature/);
  });

  it('an untrusted log fails', () => {
    const layer = createAttestationLayer({ digest: image.digest, signer: pki.fulcio.issue(), rekor: pki.untrusted.rekor });
    expect(() => check(layer)).toThrow(/inclusion promise/);
  });

  it('Ed25519 keys sign DSSE envelopes (pure Ed25519 over the PAE)', () => {
    const key = generateKey('ed25519');
    const layer = createAttestationLayer({ digest: image.digest, signer: key, rekor: pki.rekor });
    expect(() => check(layer, { keys: { k: key } })).not.toThrow();
    const { env } = statementOf(layer);
    expect(preAuthEncoding(env.payloadType, Buffer.from(env.payload, 'base64')).subarray(0, 7).toString()).toBe('DSSEv1 ');
  });
});
