import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import type { ConfigValidationError } from '../../../src/config/validator.js';

const minimal = {
  upstreams: [{ name: 'docker.io', url: 'https://registry-1.docker.io' }],
  policies: [{ name: 'open', match: ['**'], mode: 'allow' }],
  server: { trustedProxies: ['127.0.0.1'] },
};

function errorsOf(storage: unknown): string[] {
  try {
    parseConfig({ ...minimal, storage }, '/etc/portcullis/config.json', {});
    return [];
  } catch (e) {
    return (e as ConfigValidationError).errors.map((x) => `${x.path}: ${x.message}`);
  }
}

describe('storage.offload', () => {
  it('is off by default, and takes an absolute URL path prefix ending in "/"', () => {
    expect(parseConfig(minimal, '/etc/portcullis/config.json', {}).storage.offload).toBeUndefined();
    const c = parseConfig({ ...minimal, storage: { path: './store', offload: { xAccelRedirect: '/_portcullis/store/' } } }, '/etc/portcullis/config.json', {});
    expect(c.storage.offload).toEqual({ xAccelRedirect: '/_portcullis/store/' });
    expect(errorsOf({ offload: { xAccelRedirect: '/internal/blob-store.v1/' } })).toEqual([]);
  });

  it('refuses a prefix nginx cannot be pointed at, with its path', () => {
    const at = 'storage.offload.xAccelRedirect';
    const shape = `${at}: must be an absolute URL path ending in "/", such as "/_portcullis/store/"`;
    for (const prefix of ['_portcullis/store/', '/_portcullis/store', 'http://nginx/_store/', '/', '']) {
      expect(errorsOf({ offload: { xAccelRedirect: prefix } }), prefix).toEqual([shape]);
    }
    for (const prefix of ['/a//b/', '/a/../b/', '/./', '/store?x=/', '/st ore/', '/st%2Fore/']) {
      expect(errorsOf({ offload: { xAccelRedirect: prefix } })[0], prefix).toMatch(/^storage\.offload\.xAccelRedirect: must be made of path segments/);
    }
    // nginx would answer the proxy's own URLs from the store.
    expect(errorsOf({ offload: { xAccelRedirect: '/v2/store/' } })).toEqual([`${at}: must not be under /v2/, which the proxy serves itself`]);
    expect(errorsOf({ offload: { xAccelRedirect: '/api/' } })).toEqual([`${at}: must not be under /api/, which the proxy serves itself`]);
    expect(errorsOf({ offload: {} })).toEqual([`${at}: is required`]);
    expect(errorsOf({ offload: { xAccelRedirect: 5 } })).toEqual([shape]);
    expect(errorsOf({ offload: { xAccelRedirect: '/s/', sendfile: true } })[0]).toMatch(/^storage\.offload\.sendfile: unknown setting/);
  });

  it('refuses offload without the nginx among the trusted proxies: nothing would ever be handed off', () => {
    const offload = { path: './store', offload: { xAccelRedirect: '/_portcullis/store/' } };
    for (const server of [undefined, { trustedProxies: [] }]) {
      expect(() => parseConfig({ ...minimal, server, storage: offload }, '/etc/portcullis/config.json', {})).toThrow(
        /storage\.offload: needs server\.trustedProxies listing the nginx in front/,
      );
    }
  });

  it('refuses offload to nginx for blobs kept in object storage, which has no files under storage.path', () => {
    expect(errorsOf({ offload: { xAccelRedirect: '/_portcullis/store/' }, s3: { bucket: 'b' } })).toContain(
      'storage.offload: cannot be used with storage.s3: nginx serves files from storage.path, and object storage has none there',
    );
  });
});
