import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { dsse } from '@sigstore/core';
import { digestTag, type Digest } from '../../../src/oci/digest.js';
import { parseManifest } from '../../../src/oci/manifest.js';
import { createEvidenceGatherer } from '../../../src/verify/gatherer.js';
import type { SubjectManifest } from '../../../src/verify/types.js';
import { MemorySource } from './memory-source.js';

/** What evidence keeps for policy conditions: image facts from manifest and config, and verified predicates. */
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const gatherer = createEvidenceGatherer({ trustedRoot: 'public-good', keys: { release: key.publicKey.export({ type: 'spki', format: 'pem' }) as string }, verifyTtlMs: 0 });

function image(src: MemorySource, config: unknown, annotations?: Record<string, string>): SubjectManifest {
  const c = src.putBlob(typeof config === 'string' ? config : JSON.stringify(config));
  const layer = src.putBlob('layer bytes');
  const doc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...c },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    ...(annotations && { annotations }),
  };
  const { digest, bytes } = src.putManifest(doc);
  return { digest, bytes, parsed: parseManifest(bytes) };
}

describe('evidence: image facts', () => {
  it('keeps the config fields conditions read, in Docker shapes, with nulls as empty', async () => {
    const src = new MemorySource();
    const subject = image(
      src,
      {
        created: '2025-05-01T12:00:00Z',
        os: 'linux',
        architecture: 'arm64',
        variant: 'v8',
        config: { User: 'app', ExposedPorts: { '8080/tcp': {} }, Env: ['A=1'], Entrypoint: null, Cmd: ['serve'], Labels: { team: 'acme', n: 1 }, Volumes: null },
      },
      { 'org.opencontainers.image.source': 'https://github.com/acme/app' },
    );
    const ev = await gatherer.gather(subject, src);
    expect(ev.image).toEqual({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      annotations: { 'org.opencontainers.image.source': 'https://github.com/acme/app' },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 11, digest: subject.parsed.layers[0]!.digest }],
      config: { User: 'app', ExposedPorts: { '8080/tcp': {} }, Env: ['A=1'], Entrypoint: [], Cmd: ['serve'], Labels: { team: 'acme' }, WorkingDir: '', Volumes: {}, StopSignal: '' },
      created: '2025-05-01T12:00:00Z',
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    });
    expect(ev.configCreated).toBe('2025-05-01T12:00:00Z');
  });

  it('records an unreadable config as such, and an index as having none', async () => {
    const src = new MemorySource();
    const broken = image(src, 'not json');
    const ev = await gatherer.gather(broken, src);
    expect(ev.image?.config).toBeUndefined();
    expect(ev.configError).toMatch(/config sha256:[0-9a-f]{64}: /);

    const { digest, bytes } = src.putManifest({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    const index = await gatherer.gather({ digest, bytes, parsed: parseManifest(bytes) }, src);
    expect(index.image).toEqual({ mediaType: 'application/vnd.oci.image.index.v1+json', annotations: {}, layers: [] });
    expect(index.configError).toBeUndefined();
  });
});

describe('evidence: verified predicates', () => {
  function attest(src: MemorySource, subject: Digest, predicate: unknown): void {
    const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'img', digest: { sha256: subject.slice(7) } }], predicateType: 'https://spdx.dev/Document', predicate }));
    const sig = sign('sha256', dsse.preAuthEncoding('application/vnd.in-toto+json', statement), key.privateKey).toString('base64');
    const envelope = src.putBlob(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: statement.toString('base64'), signatures: [{ keyid: '', sig }] }));
    const config = src.putBlob('{}');
    src.putManifest(
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', ...envelope, annotations: { 'dev.cosignproject.cosign/signature': '' } }],
      },
      digestTag(subject, 'att'),
    );
  }

  it('keeps the predicate and statement of a verified attestation', async () => {
    const src = new MemorySource();
    const subject = image(src, { config: {} });
    attest(src, subject.digest, { spdxVersion: 'SPDX-2.3', packages: [{ name: 'openssl' }] });
    const ev = await gatherer.gather(subject, src);
    expect(ev.attestations[0]).toMatchObject({
      predicateType: 'https://spdx.dev/Document',
      predicate: { spdxVersion: 'SPDX-2.3', packages: [{ name: 'openssl' }] },
      statement: { type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'img', digest: { sha256: subject.digest.slice(7) } }] },
    });
  });

  it('records a statement over 256 KiB as too large instead of keeping its predicate', async () => {
    const src = new MemorySource();
    const subject = image(src, { config: {} });
    attest(src, subject.digest, { padding: 'x'.repeat(300 * 1024) });
    const ev = await gatherer.gather(subject, src);
    expect(ev.attestations).toHaveLength(1);
    expect(ev.attestations[0]!.predicate).toBeUndefined();
    expect(ev.attestations[0]!.predicateOmitted).toMatch(/^the statement is \d+ bytes; predicates are kept up to 262144$/);
  });
});
