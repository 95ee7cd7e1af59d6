import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { dsse } from '@sigstore/core';
import { digestTag, sha256, type Digest } from '../../../src/oci/digest.js';
import { parseManifest } from '../../../src/oci/manifest.js';
import { createEvidenceGatherer } from '../../../src/verify/gatherer.js';
import type { SubjectManifest } from '../../../src/verify/types.js';
import { MemorySource } from './memory-source.js';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;
const gatherer = createEvidenceGatherer({ trustedRoot: 'public-good', keys: { release: pem(ec.publicKey), edkey: pem(ed.publicKey) }, verifyTtlMs: 0 });

const SIMPLE = 'application/vnd.dev.cosign.simplesigning.v1+json';
const CREATED = '2025-05-01T12:00:00Z';

function setup(): { src: MemorySource; subject: SubjectManifest } {
  const src = new MemorySource();
  const config = src.putBlob(JSON.stringify({ created: CREATED, architecture: 'amd64', os: 'linux' }));
  const doc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [],
  };
  const { digest, bytes } = src.putManifest(doc);
  return { src, subject: { digest, bytes, parsed: parseManifest(bytes) } };
}

function payload(digest: string, type = 'cosign container image signature'): Buffer {
  return Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': 'r/x' }, image: { 'docker-manifest-digest': digest }, type }, optional: null }));
}

function signWith(key: KeyObject, data: Buffer): string {
  return sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key).toString('base64');
}

/** A cosign-shaped `.sig` (or `.att`) manifest holding the given layers. */
function putTagManifest(src: MemorySource, subject: Digest, suffix: 'sig' | 'att', layers: Array<{ blob: Buffer; mediaType: string; annotations: Record<string, string>; size?: number }>) {
  const config = src.putBlob('{}');
  const descs = layers.map((l) => {
    const b = src.putBlob(l.blob);
    return { mediaType: l.mediaType, digest: b.digest, size: l.size ?? b.size, annotations: l.annotations };
  });
  return src.putManifest({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: descs }, digestTag(subject, suffix));
}

const sigLayer = (key: KeyObject, body: Buffer) => ({ blob: body, mediaType: SIMPLE, annotations: { 'dev.cosignproject.cosign/signature': signWith(key, body) } });

describe('createEvidenceGatherer: legacy .sig', () => {
  it('verifies ECDSA and Ed25519 key signatures and reads the config created date', async () => {
    const { src, subject } = setup();
    putTagManifest(src, subject.digest, 'sig', [sigLayer(ec.privateKey, payload(subject.digest)), sigLayer(ed.privateKey, payload(subject.digest))]);
    const ev = await gatherer.gather(subject, src);
    expect(ev.signatures.map((s) => s.signer)).toEqual([{ type: 'key', key: 'release' }, { type: 'key', key: 'edkey' }]);
    expect(ev.signatures[0]!.tlog).toBeUndefined();
    expect(ev.rejected).toEqual([]);
    expect(ev.gatherError).toBeUndefined();
    expect(ev.configCreated).toBe(CREATED);
  });

  it('keeps a good layer and records why the others were rejected', async () => {
    const { src, subject } = setup();
    const other = `sha256:${'b'.repeat(64)}`;
    const sigManifest = putTagManifest(src, subject.digest, 'sig', [
      sigLayer(stranger.privateKey, payload(subject.digest)),
      sigLayer(ec.privateKey, payload(other)),
      sigLayer(ec.privateKey, payload(subject.digest, 'something else')),
      { blob: Buffer.from('hello'), mediaType: 'text/plain', annotations: {} },
      { ...sigLayer(ec.privateKey, payload(subject.digest)), annotations: { 'dev.cosignproject.cosign/signature': 'AAAA', 'dev.sigstore.cosign/certificate': '-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----' } },
      sigLayer(ec.privateKey, payload(subject.digest)),
    ]);
    const ev = await gatherer.gather(subject, src);
    expect(ev.signatures).toEqual([{ source: 'sig-tag', artifactDigest: sigManifest.digest, signer: { type: 'key', key: 'release' } }]);
    const reasons = ev.rejected.map((r) => r.reason);
    expect(reasons[0]).toBe('SIGNATURE_INVALID: signature does not verify with any configured key (layer 0)');
    expect(reasons[1]).toBe(`DIGEST_MISMATCH: signed payload names ${other} not ${subject.digest} (layer 1)`);
    expect(reasons[2]).toMatch(/^MALFORMED: payload critical.type/);
    expect(reasons[3]).toMatch(/^UNSUPPORTED: layer media type "text\/plain"/);
    expect(reasons[4]).toMatch(/^MALFORMED: certificate does not parse/);
    expect(ev.gatherError).toBeUndefined();
  });

  it('refuses oversized layers without downloading them and caps the number of layers', async () => {
    const { src, subject } = setup();
    const good = sigLayer(ec.privateKey, payload(subject.digest));
    putTagManifest(src, subject.digest, 'sig', [{ ...good, size: 3 * 1024 * 1024 }]);
    let ev = await gatherer.gather(subject, src);
    expect(ev.rejected.map((r) => r.reason)).toEqual(['TOO_LARGE: layer 0 is 3145728 bytes; the limit is 2097152']);
    expect(src.blobFetches).toBe(1); // only the image config

    const many = setup();
    putTagManifest(many.src, many.subject.digest, 'sig', Array.from({ length: 70 }, () => sigLayer(stranger.privateKey, payload(many.subject.digest))));
    ev = await gatherer.gather(many.subject, many.src);
    expect(ev.rejected[0]!.reason).toBe('TOO_LARGE: 70 layers; only the first 64 are considered');
    expect(ev.rejected).toHaveLength(65);
    expect(many.src.blobFetches).toBe(65);
  });

  it('fails closed when the upstream errors, but an absent signature is not an error', async () => {
    const { src, subject } = setup();
    let ev = await gatherer.gather(subject, src);
    expect(ev).toMatchObject({ signatures: [], attestations: [], rejected: [] });
    expect(ev.gatherError).toBeUndefined();

    putTagManifest(src, subject.digest, 'sig', [sigLayer(ec.privateKey, payload(subject.digest))]);
    src.failing.add(digestTag(subject.digest, 'att'));
    ev = await gatherer.gather(subject, src);
    expect(ev.signatures).toHaveLength(1);
    expect(ev.gatherError).toContain(`manifest ${digestTag(subject.digest, 'att')}: upstream answered 503`);
  });

  it('reports an unreadable image config separately from signature fetch errors', async () => {
    const { src, subject } = setup();
    src.failing.add(subject.parsed.config!.digest);
    const ev = await gatherer.gather(subject, src);
    expect(ev.gatherError).toBeUndefined();
    expect(ev.configError).toContain('upstream answered 503');
  });
});

describe('createEvidenceGatherer: legacy .att', () => {
  const statement = (digest: string) => ({
    _type: 'https://in-toto.io/Statement/v0.1',
    predicateType: 'https://slsa.dev/provenance/v0.2',
    subject: [{ name: 'r/x', digest: { sha256: digest.slice(7) } }],
    predicate: {
      builder: { id: 'https://builder.example/ci' },
      invocation: { configSource: { uri: 'git+https://github.com/acme/app@refs/heads/main' } },
      metadata: { buildFinishedOn: '2025-05-02T00:00:00Z' },
    },
  });
  const envelope = (key: KeyObject, st: unknown, payloadType = 'application/vnd.in-toto+json') => {
    const body = Buffer.from(JSON.stringify(st));
    const sig = sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', dsse.preAuthEncoding(payloadType, body), key);
    return Buffer.from(JSON.stringify({ payloadType, payload: body.toString('base64'), signatures: [{ keyid: '', sig: sig.toString('base64') }] }));
  };
  const attLayer = (blob: Buffer) => ({ blob, mediaType: 'application/vnd.dsse.envelope.v1+json', annotations: { 'dev.cosignproject.cosign/signature': '', predicateType: 'https://slsa.dev/provenance/v0.2' } });

  it('verifies a key-signed SLSA v0.2 attestation and extracts provenance facts', async () => {
    const { src, subject } = setup();
    const blob = envelope(ec.privateKey, statement(subject.digest));
    putTagManifest(src, subject.digest, 'att', [attLayer(blob)]);
    const ev = await gatherer.gather(subject, src);
    expect(ev.rejected).toEqual([]);
    expect(ev.attestations).toHaveLength(1);
    expect(ev.attestations[0]).toMatchObject({
      source: 'att-tag',
      signer: { type: 'key', key: 'release' },
      predicateType: 'https://slsa.dev/provenance/v0.2',
      statementDigest: sha256(Buffer.from(JSON.parse(blob.toString()).payload, 'base64')),
      provenance: {
        builderId: 'https://builder.example/ci',
        sourceRepository: 'https://github.com/acme/app',
        sourceRef: 'refs/heads/main',
        sourceBranch: 'main',
        finishedOn: '2025-05-02T00:00:00.000Z',
      },
    });
  });

  it('rejects statements about another image and non-in-toto payloads', async () => {
    const { src, subject } = setup();
    putTagManifest(src, subject.digest, 'att', [
      attLayer(envelope(ec.privateKey, statement(`sha256:${'c'.repeat(64)}`))),
      attLayer(envelope(ec.privateKey, statement(subject.digest), 'text/plain')),
    ]);
    const ev = await gatherer.gather(subject, src);
    expect(ev.attestations).toEqual([]);
    expect(ev.rejected.map((r) => r.reason.split(':')[0])).toEqual(['DIGEST_MISMATCH', 'UNSUPPORTED']);
  });
});

describe('createEvidenceGatherer: OCI 1.1 referrers', () => {
  function messageBundle(key: KeyObject, signed: Buffer) {
    return Buffer.from(
      JSON.stringify({
        mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        verificationMaterial: { publicKey: { hint: 'k' }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
        messageSignature: {
          messageDigest: { algorithm: 'SHA2_256', digest: Buffer.from(sha256(signed).slice(7), 'hex').toString('base64') },
          signature: signWith(key, signed),
        },
      }),
    );
  }
  function putReferrer(src: MemorySource, subject: SubjectManifest, bundle: Buffer) {
    const empty = src.putBlob('{}');
    const layer = src.putBlob(bundle);
    const m = src.putManifest({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
      layers: [{ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', ...layer }],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject.digest, size: subject.bytes.length },
    });
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.bytes.length, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' };
  }
  const index = (manifests: unknown[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));

  it('verifies message-signature bundles over the manifest, including Ed25519 keys', async () => {
    const { src, subject } = setup();
    const a = putReferrer(src, subject, messageBundle(ed.privateKey, subject.bytes));
    const b = putReferrer(src, subject, messageBundle(ec.privateKey, subject.bytes));
    src.referrersIndex = index([a, b, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'d'.repeat(64)}`, size: 1, artifactType: 'application/vnd.cncf.notary.signature' }]);
    const ev = await gatherer.gather(subject, src);
    expect(ev.rejected).toEqual([]);
    expect(ev.signatures.map((s) => [s.source, s.signer])).toEqual([
      ['referrer', { type: 'key', key: 'edkey' }],
      ['referrer', { type: 'key', key: 'release' }],
    ]);
  });

  it('falls back to the sha256-<hex> tag when the referrers API is missing, and rejects bundles over other bytes', async () => {
    const { src, subject } = setup();
    const d = putReferrer(src, subject, messageBundle(ec.privateKey, Buffer.from('another manifest')));
    src.putManifest(JSON.parse(index([d]).toString()), digestTag(subject.digest));
    const ev = await gatherer.gather(subject, src);
    expect(ev.signatures).toEqual([]);
    expect(ev.rejected).toHaveLength(1);
    expect(ev.rejected[0]!.reason).toMatch(/^DIGEST_MISMATCH: bundle signs sha256:/);
  });

  it('treats a referrers API failure as a gather error', async () => {
    const { src, subject } = setup();
    src.failing.add('referrers');
    const ev = await gatherer.gather(subject, src);
    expect(ev.gatherError).toContain('referrers of');
  });
});
