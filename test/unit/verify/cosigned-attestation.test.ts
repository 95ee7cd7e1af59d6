import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { digestTag, type Digest } from '../../../src/oci/digest.js';
import { parseManifest } from '../../../src/oci/manifest.js';
import { createEvidenceGatherer } from '../../../src/verify/gatherer.js';
import { loadTrust } from '../../../src/verify/trust-material.js';
import type { SubjectManifest } from '../../../src/verify/types.js';
import { createAttestationArtifact, createTestImage, createTestPki, generateKey, type OciArtifact } from '../../helpers/pki/index.js';
import { MemorySource } from './memory-source.js';

/**
 * A legacy `.att` envelope may carry several signatures (co-signing). cosign and policy-controller verify
 * DSSE with a threshold of one: the attestation counts when any one signature verifies against a trusted
 * signer, whatever the others are.
 */
const pki = createTestPki();
const dir = mkdtempSync(join(tmpdir(), 'cosigned-att-'));
const release = generateKey('ecdsa-p256');
const stranger = generateKey('ecdsa-p256');
const stranger2 = generateKey('ed25519');
const trust = loadTrust({ trustedRoot: await pki.writeTrustedRoot(dir), keys: { release: release.publicKeyPem }, verifyTtlMs: 0 });
const gatherer = createEvidenceGatherer(trust);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(image: OciArtifact, att: OciArtifact): { src: MemorySource; subject: SubjectManifest } {
  const src = new MemorySource();
  for (const b of [...image.blobs, ...att.blobs]) src.putBlob(b);
  src.putManifest(JSON.parse(image.manifest.toString()));
  src.putManifest(JSON.parse(att.manifest.toString()), digestTag(image.digest as Digest, 'att'));
  return { src, subject: { digest: image.digest as Digest, bytes: image.manifest, parsed: parseManifest(image.manifest) } };
}

describe('co-signed legacy .att envelopes', () => {
  it('counts a key-signed attestation whose envelope another key co-signed, whichever signature comes first', async () => {
    const image = createTestImage('cosigned-keyed');
    for (const cosignersFirst of [false, true]) {
      const att = createAttestationArtifact({ digest: image.digest, signer: release, cosigners: [stranger, stranger2], cosignersFirst, rekor: pki.rekor });
      const { src, subject } = load(image, att);
      const ev = await gatherer.gather(subject, src);
      expect(ev.rejected).toEqual([]);
      expect(ev.attestations.map((a) => a.signer)).toEqual([{ type: 'key', key: 'release' }]);
      expect(ev.attestations[0]!.tlog?.logIndex).toBeGreaterThan(0);
    }
  });

  it('counts a keyless attestation co-signed by a key', async () => {
    const image = createTestImage('cosigned-keyless');
    const signer = pki.fulcio.issue({ email: 'dev@acme.test', issuer: 'https://accounts.acme.test' });
    const att = createAttestationArtifact({ digest: image.digest, signer, cosigners: [stranger], cosignersFirst: true, rekor: pki.rekor });
    const { src, subject } = load(image, att);
    const ev = await gatherer.gather(subject, src);
    expect(ev.rejected).toEqual([]);
    expect(ev.attestations.map((a) => a.signer)).toEqual([{ type: 'keyless', issuer: 'https://accounts.acme.test', subject: 'dev@acme.test', roots: ['default'], extensions: {} }]);
  });

  it('still rejects an envelope none of whose signatures verifies', async () => {
    const image = createTestImage('cosigned-nobody');
    const att = createAttestationArtifact({ digest: image.digest, signer: stranger, cosigners: [stranger2] });
    const { src, subject } = load(image, att);
    const ev = await gatherer.gather(subject, src);
    expect(ev.attestations).toEqual([]);
    expect(ev.rejected.map((r) => r.reason)).toEqual(['SIGNATURE_INVALID: no envelope signature verifies with a configured key (layer 0)']);
  });

  it('rejects a co-signed envelope whose log entry does not hold the signature that verified', async () => {
    const image = createTestImage('cosigned-unlogged');
    const logged = createAttestationArtifact({ digest: image.digest, signer: stranger, rekor: pki.rekor });
    const att = createAttestationArtifact({ digest: image.digest, signer: release, cosigners: [stranger] });
    // Graft the stranger's log entry (SET valid, for its own signature only) onto the co-signed layer.
    const manifest = JSON.parse(att.manifest.toString());
    const bundle = JSON.parse(logged.manifest.toString()).layers[0].annotations['dev.sigstore.cosign/bundle'];
    manifest.layers[0].annotations['dev.sigstore.cosign/bundle'] = bundle;
    const grafted = { ...att, manifest: Buffer.from(JSON.stringify(manifest)) };
    const { src, subject } = load(image, grafted);
    const ev = await gatherer.gather(subject, src);
    expect(ev.attestations).toEqual([]);
    expect(ev.rejected[0]!.reason).toMatch(/^TLOG_BODY_MISMATCH: /);
  });
});
