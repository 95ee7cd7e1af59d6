import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../../src/store/fs-blob-store.js';
import { XAccelHandoff } from '../../../src/store/x-accel-handoff.js';
import { digestOf } from '../../../src/oci/digest.js';

describe('XAccelHandoff', () => {
  let root: string;
  let store: FsBlobStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'x-accel-'));
    store = new FsBlobStore(join(root, 'store'));
    await store.open();
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('names the blob\'s file below the prefix, relative to storage.path', async () => {
    const bytes = Buffer.from('layer');
    const digest = digestOf(bytes, 'sha256');
    await store.putVerified(digest, bytes);
    const hex = digest.slice('sha256:'.length);
    const offload = new XAccelHandoff('/_portcullis/store/', store);
    const handoff = await offload.handoff(digest, bytes.length, { viaTrustedProxy: true });
    expect(handoff).toEqual({ kind: 'internal-redirect', uri: `/_portcullis/store/blobs/sha256/${hex.slice(0, 2)}/${hex}` });
    // A request that did not come through the nginx is not handed off.
    expect(await offload.handoff(digest, bytes.length, { viaTrustedProxy: false })).toBeUndefined();
    expect(store.pathOf(digest)).toBe(join(root, 'store', offload.uriOf(digest).slice('/_portcullis/store/'.length)));
  });

  it('points at files that never change in place: a commit replaces the file, and an open reader keeps its bytes', async () => {
    const bytes = Buffer.alloc(4096, 1);
    const digest = digestOf(bytes, 'sha256');
    await store.putVerified(digest, bytes);
    const before = await stat(store.pathOf(digest));
    const reader = await open(store.pathOf(digest), 'r');
    try {
      // Another writer commits the same blob again (a second replica, a refetch after damage).
      const temp = store.newTempPath();
      await writeFile(temp, Buffer.alloc(4096, 1));
      await store.commit(temp, digest);
      expect((await stat(store.pathOf(digest))).ino).not.toBe(before.ino);
      const { bytesRead, buffer } = await reader.read(Buffer.alloc(4096), 0, 4096, 0);
      expect(buffer.subarray(0, bytesRead).equals(bytes)).toBe(true);
    } finally {
      await reader.close();
    }
  });
});
