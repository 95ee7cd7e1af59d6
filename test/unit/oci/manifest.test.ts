import { describe, expect, it } from 'vitest';
import { parseManifest, referencedBlobs, MAX_MANIFEST_BYTES } from '../../../src/oci/manifest.js';
import { OciError } from '../../../src/oci/errors.js';
import { sha256 } from '../../../src/oci/digest.js';
import { acceptsMediaType } from '../../../src/oci/media-types.js';

const d1 = sha256('config');
const d2 = sha256('layer');
const image = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d1, size: 6 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d2, size: 5 }],
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'none';
  } catch (e) {
    return (e as OciError).code;
  }
}

describe('parseManifest', () => {
  it('reads the blobs an image references', () => {
    const m = parseManifest(Buffer.from(JSON.stringify(image)));
    expect(m.isIndex).toBe(false);
    expect(referencedBlobs(m).map((b) => b.digest)).toEqual([d1, d2]);
  });
  it('reads an index and its children', () => {
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: image.mediaType, digest: d2, size: 10, platform: { os: 'linux', architecture: 'arm64' } }],
    };
    const m = parseManifest(Buffer.from(JSON.stringify(index)));
    expect(m.isIndex).toBe(true);
    expect(m.manifests[0]!.platform?.architecture).toBe('arm64');
    expect(referencedBlobs(m)).toEqual([]);
  });
  it('refuses hostile manifests with MANIFEST_INVALID', () => {
    expect(codeOf(() => parseManifest(Buffer.from('{nope')))).toBe('MANIFEST_INVALID');
    expect(codeOf(() => parseManifest(Buffer.alloc(MAX_MANIFEST_BYTES + 1, 32)))).toBe('MANIFEST_INVALID');
    expect(codeOf(() => parseManifest(Buffer.from(JSON.stringify({ ...image, schemaVersion: 1 }))))).toBe('MANIFEST_INVALID');
    expect(codeOf(() => parseManifest(Buffer.from(JSON.stringify({ ...image, mediaType: 'text/html' }))))).toBe('MANIFEST_INVALID');
    const badDigest = { ...image, layers: [{ ...image.layers[0], digest: '../../etc/passwd' }] };
    expect(codeOf(() => parseManifest(Buffer.from(JSON.stringify(badDigest))))).toBe('MANIFEST_INVALID');
    const nested = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(codeOf(() => parseManifest(Buffer.from(nested)))).toBe('MANIFEST_INVALID');
    expect(
      codeOf(() => parseManifest(Buffer.from(JSON.stringify(image)), 'application/vnd.docker.distribution.manifest.v2+json')),
    ).toBe('MANIFEST_INVALID');
  });
});

describe('Accept negotiation', () => {
  it('accepts listed types, wildcards and absent headers only', () => {
    expect(acceptsMediaType(undefined, image.mediaType)).toBe(true);
    expect(acceptsMediaType('*/*', image.mediaType)).toBe(true);
    expect(acceptsMediaType(`application/vnd.docker.distribution.manifest.v2+json, ${image.mediaType};q=0.5`, image.mediaType)).toBe(true);
    expect(acceptsMediaType('application/vnd.docker.distribution.manifest.v2+json', image.mediaType)).toBe(false);
  });
});
