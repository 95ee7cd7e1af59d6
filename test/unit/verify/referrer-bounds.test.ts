import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../../src/oci/digest.js';
import { parseManifest } from '../../../src/oci/manifest.js';
import { createEvidenceGatherer } from '../../../src/verify/gatherer.js';
import { REFERRER_LIMIT_DEFAULTS, type ReferrerLimits } from '../../../src/verify/referrer-limits.js';
import type { SubjectManifest } from '../../../src/verify/types.js';
import { MemorySource } from './memory-source.js';

/**
 * The referrers API's pages and referrers that are indexes, which the distribution registry the end-to-end
 * suites use does not serve (they cover the count and byte bounds): the walk follows pages and nesting as
 * far as `trust.referrers` allows, and says which bound stopped it.
 */
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';

const gathererWith = (limits: Partial<ReferrerLimits>) =>
  createEvidenceGatherer({ trustedRoot: 'public-good', keys: { release: pem(ec.publicKey) }, verifyTtlMs: 0 }, undefined, { ...REFERRER_LIMIT_DEFAULTS, ...limits });

function setup(): { src: MemorySource; subject: SubjectManifest } {
  const src = new MemorySource();
  const config = src.putBlob(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
  const { digest, bytes } = src.putManifest({ schemaVersion: 2, mediaType: MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [] });
  return { src, subject: { digest, bytes, parsed: parseManifest(bytes) } };
}

/** A referrer whose one layer is a message-signature bundle over the subject, signed by the trusted key. */
function signatureReferrer(src: MemorySource, subject: SubjectManifest) {
  const bundle = Buffer.from(JSON.stringify({
    mediaType: BUNDLE,
    verificationMaterial: { publicKey: { hint: 'k' }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: Buffer.from(sha256(subject.bytes).slice(7), 'hex').toString('base64') },
      signature: sign('sha256', subject.bytes, ec.privateKey).toString('base64'),
    },
  }));
  const empty = src.putBlob('{}');
  const layer = src.putBlob(bundle);
  const m = src.putManifest({
    schemaVersion: 2,
    mediaType: MANIFEST,
    artifactType: BUNDLE,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
    layers: [{ mediaType: BUNDLE, ...layer }],
    subject: { mediaType: MANIFEST, digest: subject.digest, size: subject.bytes.length },
  });
  return { mediaType: MANIFEST, digest: m.digest, size: m.bytes.length, artifactType: BUNDLE };
}

/** An artifact that is no signature (an empty manifest of bundle type). */
function otherReferrer(src: MemorySource, n: number) {
  const m = src.putManifest({ schemaVersion: 2, mediaType: MANIFEST, artifactType: BUNDLE, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(Buffer.from('{}')), size: 2 }, layers: [], annotations: { n: String(n) } });
  return { mediaType: MANIFEST, digest: m.digest, size: m.bytes.length, artifactType: BUNDLE };
}

const index = (manifests: unknown[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests }));

describe('referrer walk: pages and depth', () => {
  it('follows the referrers API page by page to a signature on page 3, and stops at maxPages saying so', async () => {
    const { src, subject } = setup();
    src.referrersIndex = index([otherReferrer(src, 1)]);
    src.referrersPages = [index([otherReferrer(src, 2)]), index([signatureReferrer(src, subject)])];

    const found = await gathererWith({}).gather(subject, src);
    expect(found.signatures.map((s) => s.signer)).toEqual([{ type: 'key', key: 'release' }]);
    expect(found.referrersTruncated).toBeUndefined();
    expect(src.referrersRequests).toBe(3);

    src.referrersRequests = 0;
    const cut = await gathererWith({ maxPages: 2 }).gather(subject, src);
    expect(cut.signatures).toEqual([]);
    expect(cut.referrersTruncated).toEqual(['the referrers list has more than 2 pages; only 2 read (trust.referrers.maxPages)']);
    expect(src.referrersRequests).toBe(2);
  });

  it('walks into a referrer that is an index only within maxDepth, and says when it did not', async () => {
    const { src, subject } = setup();
    const inner = src.putManifest({ schemaVersion: 2, mediaType: INDEX, artifactType: BUNDLE, manifests: [otherReferrer(src, 1), signatureReferrer(src, subject)] });
    src.referrersIndex = index([{ mediaType: INDEX, digest: inner.digest, size: inner.bytes.length, artifactType: BUNDLE }]);

    const shallow = await gathererWith({}).gather(subject, src);
    expect(shallow.signatures).toEqual([]);
    expect(shallow.referrersTruncated).toEqual([`referrer ${inner.digest} is an index whose 2 manifests were not looked at (trust.referrers.maxDepth 1)`]);

    const deep = await gathererWith({ maxDepth: 2 }).gather(subject, src);
    expect(deep.signatures.map((s) => s.signer)).toEqual([{ type: 'key', key: 'release' }]);
    expect(deep.referrersTruncated).toBeUndefined();
  });

  it('counts nested referrers against maxCount', async () => {
    const { src, subject } = setup();
    const inner = src.putManifest({ schemaVersion: 2, mediaType: INDEX, manifests: [otherReferrer(src, 1), otherReferrer(src, 2), signatureReferrer(src, subject)] });
    src.referrersIndex = index([{ mediaType: INDEX, digest: inner.digest, size: inner.bytes.length }]);
    const ev = await gathererWith({ maxDepth: 2, maxCount: 3 }).gather(subject, src);
    expect(ev.signatures).toEqual([]);
    expect(ev.referrersTruncated).toEqual(['only 3 referrers looked at (trust.referrers.maxCount)']);
  });
});
