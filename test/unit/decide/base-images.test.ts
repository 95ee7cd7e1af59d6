import { describe, expect, it } from 'vitest';
import { baseAnnotations, pickPlatform, splitRegistry } from '../../../src/decide/base-images.js';
import type { Descriptor } from '../../../src/oci/manifest.js';
import type { Digest } from '../../../src/oci/digest.js';
import type { Evidence } from '../../../src/verify/types.js';

const D = `sha256:${'1'.repeat(64)}`;
const ev = (annotations: Record<string, string>, labels: Record<string, string> = {}): Evidence => ({
  subject: D as Digest, signatures: [], attestations: [], rejected: [], collectedAt: '',
  image: { mediaType: 'm', annotations, layers: [], config: { User: '', ExposedPorts: {}, Env: [], Entrypoint: [], Cmd: [], Labels: labels, WorkingDir: '', Volumes: {}, StopSignal: '' } },
});

describe('base image names', () => {
  it('reads the manifest annotations first, then the config labels', () => {
    expect(baseAnnotations(ev({ 'org.opencontainers.image.base.name': 'alpine:3.20', 'org.opencontainers.image.base.digest': D }))).toEqual({ name: 'alpine:3.20', digest: D });
    expect(baseAnnotations(ev({}, { 'org.opencontainers.image.base.name': 'x.io/a:1', 'org.opencontainers.image.base.digest': 'nope' }))).toEqual({ name: 'x.io/a:1' });
    expect(baseAnnotations(ev({}))).toBeUndefined();
  });

  it('splits the registry as Docker does', () => {
    expect(splitRegistry('docker.io/library/alpine')).toEqual({ registry: 'docker.io', path: 'library/alpine' });
    expect(splitRegistry('alpine')).toEqual({ registry: 'docker.io', path: 'alpine' });
    expect(splitRegistry('acme/app')).toEqual({ registry: 'docker.io', path: 'acme/app' });
    expect(splitRegistry('localhost:5000/app')).toEqual({ registry: 'localhost:5000', path: 'app' });
    expect(splitRegistry('GHCR.io/acme/app')).toEqual({ registry: 'ghcr.io', path: 'acme/app' });
  });

  it('picks the platform manifest matching the image, else the first linux/amd64', () => {
    const d = (os: string, architecture: string, variant?: string): Descriptor => ({ mediaType: 'm', digest: `${os}/${architecture}/${variant}` as Digest, size: 1, platform: { os, architecture, variant } });
    const list = [d('linux', 'arm', 'v6'), d('linux', 'arm', 'v7'), d('linux', 'amd64'), d('linux', 'arm64', 'v8')];
    expect(pickPlatform(list, { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(list[1]);
    expect(pickPlatform(list, { os: 'linux', architecture: 'arm64' })).toBe(list[3]);
    expect(pickPlatform(list, { os: 'windows', architecture: 'amd64' })).toBe(list[2]);
    expect(pickPlatform([d('linux', 's390x')], { os: 'linux', architecture: 'amd64' })).toBeUndefined();
  });
});
