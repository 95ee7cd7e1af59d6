import { relative, sep } from 'node:path';
import type { Digest } from '../oci/digest.js';
import type { FsBlobStore } from './fs-blob-store.js';
import type { BlobHandoff, Handoff } from './blob-handoff.js';

/**
 * nginx serves the blob's file: the answer names it as `<prefix><path relative to storage.path>`, which
 * nginx maps to an `internal` location aliased to `storage.path` (see examples/nginx/). Safe because
 * committed files never change in place (written to tmp/, renamed after their digest matched), and the
 * path comes only from a validated digest, so it cannot name anything outside the store. Only a request that
 * came through a trusted proxy (the nginx) gets it: a client reaching the proxy directly would otherwise be
 * sent an empty body.
 */
export class XAccelHandoff implements BlobHandoff {
  constructor(
    /** An absolute URL path ending in '/', checked at load (config/offload.ts). */
    private readonly prefix: string,
    private readonly store: FsBlobStore,
  ) {}

  uriOf(digest: Digest): string {
    return this.prefix + relative(this.store.root, this.store.pathOf(digest)).split(sep).join('/');
  }

  handoff(digest: Digest, _size: number, request: { viaTrustedProxy: boolean }): Promise<Handoff | undefined> {
    if (!request.viaTrustedProxy) return Promise.resolve(undefined);
    return Promise.resolve({ kind: 'internal-redirect', uri: this.uriOf(digest) });
  }
}
