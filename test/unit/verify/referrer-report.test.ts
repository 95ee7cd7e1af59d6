import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dsse } from '@sigstore/core';
import { digestTag, type Digest } from '../../../src/oci/digest.js';
import { parseManifest } from '../../../src/oci/manifest.js';
import { createEvidenceGatherer } from '../../../src/verify/gatherer.js';
import { REFERRER_LIMIT_DEFAULTS, type ReferrerLimits } from '../../../src/verify/referrer-limits.js';
import type { SubjectManifest } from '../../../src/verify/types.js';
import { COSIGN_VULN } from '../../../src/vuln/report/reduce.js';
import { MemorySource } from './memory-source.js';

/**
 * A scan in a referrer bundle of several MiB, in process, so the event loop can be watched closely: read in a
 * worker, reduced once, charged to its own budget; and an annotation that claims a scan it does not carry.
 */
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const SPDX = 'https://spdx.dev/Document';
const MiB = 1024 * 1024;

const gathererWith = (limits: Partial<ReferrerLimits> = {}) =>
  createEvidenceGatherer({ trustedRoot: 'public-good', keys: { scanner: pem(ec.publicKey) }, verifyTtlMs: 0 }, undefined, { ...REFERRER_LIMIT_DEFAULTS, ...limits });

/**
 * A source whose blobs are fresh copies, as a registry's are (a large report's bytes are handed to a worker);
 * `prepare` makes them beforehand, so a measurement sees the verification rather than the test's copying.
 */
class RegistryLikeSource extends MemorySource {
  private readonly prepared = new Map<string, Buffer[]>();

  prepare(digest: Digest, copies: number): void {
    this.prepared.set(digest, Array.from({ length: copies }, () => Buffer.from(this.blobs.get(digest)!)));
  }

  override async blob(digest: Digest, maxBytes: number) {
    const ready = this.prepared.get(digest)?.pop();
    return ready ?? Buffer.from(await super.blob(digest, maxBytes));
  }
}

function setup(): { src: RegistryLikeSource; subject: SubjectManifest } {
  const src = new RegistryLikeSource();
  const config = src.putBlob(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
  const { digest, bytes } = src.putManifest({ schemaVersion: 2, mediaType: MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [] });
  return { src, subject: { digest, bytes, parsed: parseManifest(bytes) } };
}

/** The pinned Trivy report's critical finding repeated over enough packages to make about `mib` MiB. */
function bigScan(mib: number): unknown {
  const report = JSON.parse(readFileSync(join(__dirname, '../../fixtures/vuln/trivy-debian-buster.json'), 'utf8'));
  const one = report.Results[0].Vulnerabilities.find((v: { Severity: string }) => v.Severity === 'CRITICAL');
  const count = Math.ceil((mib * MiB) / JSON.stringify(one).length);
  report.Results[0].Vulnerabilities = Array.from({ length: count }, (_, i) => ({ ...one, PkgName: `pkg-${i}`, PkgIdentifier: { PURL: `pkg:deb/debian/pkg-${i}@1` } }));
  return { scanner: { uri: 'pkg:github/aquasecurity/trivy@v0.58.0', version: '0.58.0', result: report }, metadata: { scanFinishedOn: new Date().toISOString() } };
}

/** A key-signed DSSE bundle over the subject as a referrer (annotated with `annotated`); its descriptor and size. */
function referrer(src: MemorySource, subject: SubjectManifest, predicateType: string, predicate: unknown, annotated = predicateType, signer = ec.privateKey) {
  const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'app', digest: { sha256: subject.digest.slice(7) } }], predicateType, predicate }));
  const sig = sign('sha256', dsse.preAuthEncoding('application/vnd.in-toto+json', statement), signer).toString('base64');
  const bundle = Buffer.from(JSON.stringify({
    mediaType: BUNDLE,
    verificationMaterial: { publicKey: { hint: 'k' }, tlogEntries: [] },
    dsseEnvelope: { payload: statement.toString('base64'), payloadType: 'application/vnd.in-toto+json', signatures: [{ sig }] },
  }));
  const empty = src.putBlob('{}');
  const layer = src.putBlob(bundle);
  const m = src.putManifest({
    schemaVersion: 2,
    mediaType: MANIFEST,
    artifactType: BUNDLE,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
    layers: [{ mediaType: BUNDLE, ...layer }],
    annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': annotated },
    subject: { mediaType: MANIFEST, digest: subject.digest, size: subject.bytes.length },
  });
  return { descriptor: { mediaType: MANIFEST, digest: m.digest, size: m.bytes.length, artifactType: BUNDLE }, bytes: bundle.length, blob: layer.digest };
}

/** A cosign `.att` manifest with one key-signed envelope layer, annotated as `annotated`. */
function attLayer(src: MemorySource, subject: SubjectManifest, predicateType: string, predicate: unknown, annotated: string) {
  const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'app', digest: { sha256: subject.digest.slice(7) } }], predicateType, predicate }));
  const sig = sign('sha256', dsse.preAuthEncoding('application/vnd.in-toto+json', statement), ec.privateKey).toString('base64');
  const envelope = src.putBlob(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: statement.toString('base64'), signatures: [{ keyid: '', sig }] }));
  const config = src.putBlob('{}');
  src.putManifest({
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', ...envelope, annotations: { 'dev.cosignproject.cosign/signature': '', predicateType: annotated } }],
  }, digestTag(subject.digest, 'att'));
  return envelope;
}

const index = (manifests: unknown[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests }));

/** The longest the event loop went without running a 5 ms timer while `work` ran. */
async function longestStall<T>(work: () => Promise<T>): Promise<{ stall: number; result: T }> {
  let last = performance.now();
  let stall = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 5);
  try {
    return { result: await work(), stall };
  } finally {
    clearInterval(tick);
  }
}

describe('scan and VEX bundles as referrers, past 2 MiB', () => {
  const { src, subject } = setup();
  const scan = referrer(src, subject, COSIGN_VULN, bigScan(15.5));
  const bundle = src.blobs.get(scan.blob)!;

  it('verifies a 20 MiB signed scan bundle, reduced in a worker while the event loop keeps running', async () => {
    expect(scan.bytes).toBeGreaterThan(20 * MiB);
    src.referrersIndex = index([scan.descriptor]);
    src.prepare(scan.blob, 1);
    const { stall, result: found } = await longestStall(() => gathererWith().gather(subject, src));
    // Measured after, so the garbage of this parse is not collected while the stall is measured.
    const inlineStart = performance.now();
    JSON.parse(bundle.toString('utf8'));
    const inline = performance.now() - inlineStart;
    console.log(`${(scan.bytes / MiB).toFixed(1)} MiB referrer bundle: JSON.parse on the event loop ${inline.toFixed(0)} ms; longest stall while verified ${stall.toFixed(0)} ms`);
    expect(found.rejected).toEqual([]);
    expect(found.attestations).toHaveLength(1);
    const att = found.attestations[0]!;
    expect(att).toMatchObject({ source: 'referrer', signer: { type: 'key', key: 'scanner' }, predicateType: COSIGN_VULN });
    expect(att.predicate).toBeUndefined();
    const facts = att.report && 'scan' in att.report ? att.report.scan : undefined;
    expect(facts?.findings.length).toBeGreaterThan(5000);
    expect(facts?.findings[0]).toMatchObject({ id: 'CVE-2019-18224', severity: 'critical' });
    expect(stall).toBeLessThan(Math.max(100, inline / 2));
  }, 60_000);

  it('reads several large scan bundles of one image, each verified, within the report budget', async () => {
    const scans = [3, 3.5, 4].map((mib) => referrer(src, subject, COSIGN_VULN, bigScan(mib)));
    src.referrersIndex = index(scans.map((s) => s.descriptor));
    const found = await gathererWith().gather(subject, src);
    expect(found.rejected).toEqual([]);
    expect(found.attestations.map((a) => a.artifactDigest)).toEqual(scans.map((s) => s.descriptor.digest));
    expect(found.attestations.every((a) => a.report && 'scan' in a.report && a.report.scan.findings.length > 500)).toBe(true);
  }, 60_000);

  it('refuses a large scan bundle signed by a key that is not trusted', async () => {
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = referrer(src, subject, COSIGN_VULN, bigScan(3), COSIGN_VULN, stranger.privateKey);
    src.referrersIndex = index([forged.descriptor]);
    const found = await gathererWith().gather(subject, src);
    expect(found.attestations).toEqual([]);
    expect(found.rejected.map((r) => r.reason)).toEqual([expect.stringMatching(/^SIGNATURE_INVALID: no configured key verifies the bundle/)]);
  }, 60_000);

  it('charges scan bundles past 2 MiB to trust.referrers.maxReportBytes, not maxBytes, and says when it is spent', async () => {
    src.referrersIndex = index([scan.descriptor]);
    const found = await gathererWith({ maxBytes: MiB }).gather(subject, src);
    expect(found.attestations).toHaveLength(1);

    const cut = await gathererWith({ maxReportBytes: 8 * MiB }).gather(subject, src);
    expect(cut.attestations).toEqual([]);
    expect(cut.referrersTruncated).toEqual([
      `stopped before the bundle of referrer ${scan.descriptor.digest}: ${8 * MiB} bytes of scan and VEX bundles read in all (trust.referrers.maxReportBytes)`,
    ]);
  }, 60_000);

  it('refuses a bundle past 2 MiB whose annotation claims a scan its signed statement is not', async () => {
    const packages = Array.from({ length: 30_000 }, (_, i) => ({ SPDXID: `SPDXRef-${i}`, name: `pkg-${i}`, versionInfo: '1.0.0' }));
    const lying = referrer(src, subject, SPDX, { spdxVersion: 'SPDX-2.3', packages }, COSIGN_VULN);
    const honest = referrer(src, subject, SPDX, { spdxVersion: 'SPDX-2.3', packages });
    expect(lying.bytes).toBeGreaterThan(2 * MiB);
    src.referrersIndex = index([lying.descriptor, honest.descriptor]);
    const found = await gathererWith().gather(subject, src);
    expect(found.attestations).toEqual([]);
    expect(found.rejected.map((r) => r.reason)).toEqual([
      `TOO_LARGE: bundle is ${lying.bytes} bytes, over ${2 * MiB}, but its statement is ${SPDX}; only scan and VEX reports may be larger`,
      `TOO_LARGE: bundle is ${honest.bytes} bytes; the limit is ${2 * MiB}`,
    ]);
  }, 60_000);

  it('refuses a legacy .att layer past 2 MiB whose annotation claims a scan its signed statement is not', async () => {
    const { src: own, subject: image } = setup();
    const packages = Array.from({ length: 30_000 }, (_, i) => ({ SPDXID: `SPDXRef-${i}`, name: `pkg-${i}`, versionInfo: '1.0.0' }));
    const layer = attLayer(own, image, SPDX, { spdxVersion: 'SPDX-2.3', packages }, COSIGN_VULN);
    own.prepare(layer.digest, 1);
    const found = await gathererWith().gather(image, own);
    expect(found.attestations).toEqual([]);
    expect(found.rejected.map((r) => r.reason)).toEqual([
      `TOO_LARGE: layer 0 is ${layer.size} bytes, over ${2 * MiB}, but its statement is ${SPDX}; only scan and VEX reports may be larger`,
    ]);
  }, 60_000);
});
