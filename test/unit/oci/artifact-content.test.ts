import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { disproveConfig, disproveLayer } from '../../../src/oci/artifact-content.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const SIMPLE = 'application/vnd.dev.cosign.simplesigning.v1+json';
const claim = json({
  critical: { identity: { 'docker-reference': 'r.example/app' }, image: { 'docker-manifest-digest': `sha256:${'a'.repeat(64)}` }, type: 'cosign container image signature' },
  optional: null,
});
const image = json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] });

describe('artifact content', () => {
  it('accepts what each artifact type really is', () => {
    expect(disproveLayer(SIMPLE, claim)).toBeUndefined();
    expect(disproveLayer('application/vnd.dsse.envelope.v1+json', json({ payloadType: 'application/vnd.in-toto+json', payload: 'e30=', signatures: [{ sig: 'AA==' }] }))).toBeUndefined();
    expect(disproveLayer('application/vnd.dev.sigstore.bundle.v0.3+json', json({
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', verificationMaterial: {}, dsseEnvelope: { payloadType: 'x', payload: 'e30=', signatures: [{ sig: 'AA==' }] },
    }))).toBeUndefined();
    expect(disproveLayer('application/vnd.oci.empty.v1+json', Buffer.from('{}'))).toBeUndefined();
    expect(disproveLayer('application/spdx+json', json({ spdxVersion: 'SPDX-2.3' }))).toBeUndefined();
    expect(disproveLayer('text/spdx', Buffer.from('SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n'))).toBeUndefined();
    expect(disproveLayer('application/vnd.cyclonedx+json', json({ bomFormat: 'CycloneDX', specVersion: '1.5' }))).toBeUndefined();
    expect(disproveLayer('application/vnd.cyclonedx+xml', Buffer.from('<?xml version="1.0"?>\n<bom xmlns="http://cyclonedx.org/schema/bom/1.5"/>'))).toBeUndefined();
    expect(disproveLayer('application/jose+json', json({ payload: 'e30', protected: 'e30', signature: 'AA' }))).toBeUndefined();
    expect(disproveLayer('application/cose', Buffer.from([0xd2, 0x84, 0x43, 0xa1]))).toBeUndefined();
  });

  it('refuses an image layer, an image manifest or a config that claims an artifact type', () => {
    const tarGz = gzipSync(Buffer.alloc(1024));
    expect(disproveLayer(SIMPLE, tarGz)).toBe('not simple-signing JSON');
    expect(disproveLayer(SIMPLE, image)).toBe('not simple-signing JSON');
    expect(disproveLayer(SIMPLE, json({ architecture: 'amd64', os: 'linux' }))).toBe('not simple-signing JSON');
    expect(disproveLayer('application/vnd.oci.empty.v1+json', image)).toMatch(/empty JSON object/);
    expect(disproveLayer('text/spdx', tarGz)).toMatch(/SPDX/);
    expect(disproveLayer('application/vnd.cyclonedx+xml', Buffer.from('<html/>'))).toMatch(/CycloneDX/);
    expect(disproveLayer('application/cose', tarGz)).toMatch(/COSE/);
    expect(disproveLayer('application/vnd.oci.image.layer.v1.tar+gzip', tarGz)).toMatch(/is not an artifact type/);
  });

  it("takes the empty object or cosign's image config as an artifact config, and no runnable image's", () => {
    const layers = [{ mediaType: SIMPLE, digest: sha(claim), size: claim.length }];
    const ociConfig = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(claim), size: 1 } as const;
    expect(disproveConfig({ ...ociConfig, mediaType: 'application/vnd.oci.empty.v1+json' }, Buffer.from('{}'), layers)).toBeUndefined();
    const cosign = json({ architecture: '', created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '', rootfs: { type: 'layers', diff_ids: [sha(claim)] }, config: {} });
    expect(disproveConfig(ociConfig, cosign, layers)).toBeUndefined();
    const runnable = json({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/evil'] }, rootfs: { type: 'layers', diff_ids: [sha(claim)] } });
    expect(disproveConfig(ociConfig, runnable, layers)).toMatch(/platform/);
    const otherRootfs = json({ architecture: '', os: '', rootfs: { type: 'layers', diff_ids: [`sha256:${'b'.repeat(64)}`] }, config: {} });
    expect(disproveConfig(ociConfig, otherRootfs, layers)).toMatch(/rootfs/);
    expect(disproveConfig({ ...ociConfig, mediaType: 'application/vnd.cncf.helm.config.v1+json' }, json({ name: 'x' }), layers)).toMatch(/not the empty object/);
  });
});
