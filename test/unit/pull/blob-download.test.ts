import { describe, expect, it } from 'vitest';
import { collect } from '../../helpers/streams.js';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { BlobDownload } from '../../../src/pull/blob-download.js';
import { FsBlobStore } from '../../../src/store/fs-blob-store.js';
import { sha256 } from '../../../src/oci/digest.js';

/** BlobDownload against the real filesystem, with the upstream body fed by hand. */
function setup() {
  const store = new FsBlobStore(mkdtempSync(join(tmpdir(), 'dl-')));
  store.openSync();
  return store;
}


const tick = () => new Promise((r) => setImmediate(r));

describe('BlobDownload', () => {
  it('gives every reader the same bytes, whether it keeps up or starts late, and commits the blob', async () => {
    const store = setup();
    const data = randomBytes(20 * 1024 * 1024 + 123);
    const body = new PassThrough();
    const d = new BlobDownload(sha256(data), data.length, store.newTempPath(), store);
    const early = collect(d.createReader());
    const ranged = collect(d.createReader(1000, 4_000_000));
    const running = d.run(body, () => {});
    for (let at = 0; at < data.length; at += 256 * 1024) {
      body.write(data.subarray(at, Math.min(data.length, at + 256 * 1024)));
      if (at % (4 * 1024 * 1024) === 0) await tick();
    }
    const late = collect(d.createReader());
    body.end();
    await running;
    expect((await early).bytes.equals(data)).toBe(true);
    expect((await late).bytes.equals(data)).toBe(true);
    expect((await ranged).bytes.equals(data.subarray(1000, 4_000_001))).toBe(true);
    expect(d.done).toBe(true);
    expect((await store.read(sha256(data))).equals(data)).toBe(true);
    expect(readdirSync(store.tmpDir)).toEqual([]);
  });

  it('withholds the last byte until the digest checks out, and fails every reader on a wrong body', async () => {
    const store = setup();
    const data = randomBytes(64 * 1024);
    const forged = Buffer.from(data);
    forged[forged.length - 1] ^= 0xff;
    const body = new PassThrough();
    const d = new BlobDownload(sha256(data), data.length, store.newTempPath(), store);
    const reader = collect(d.createReader());
    const running = d.run(body, () => {});
    body.end(forged);
    await running;
    const got = await reader;
    expect(got.error?.message).toMatch(/digest/);
    expect(got.bytes.length).toBeLessThan(data.length);
    expect(await store.size(sha256(data))).toBeUndefined();
    expect(readdirSync(store.tmpDir)).toEqual([]);
  });

  it('fails readers of a body that ends short', async () => {
    const store = setup();
    const data = randomBytes(100_000);
    const body = new PassThrough();
    const d = new BlobDownload(sha256(data), data.length, store.newTempPath(), store);
    const reader = collect(d.createReader());
    const running = d.run(body, () => {});
    body.end(data.subarray(0, 50_000));
    await running;
    const got = await reader;
    expect(got.error?.message).toMatch(/50000 of 100000/);
    expect(got.bytes.length).toBeLessThan(data.length);
  });
});
