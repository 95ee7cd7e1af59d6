import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, type Digest } from '../../../src/oci/digest.js';
import type { BlobStore } from '../../../src/store/blob-store.js';
import { FsBlobStore } from '../../../src/store/fs-blob-store.js';
import { S3BlobStore } from '../../../src/store/s3-blob-store.js';
import { createS3Client } from '../../../src/store/s3-client.js';
import { checkS3Storage } from '../../../src/config/s3-storage.js';
import { haveS3, startS3, startThrottlingFront, type S3Store } from '../../helpers/s3.js';

/** What every blob store promises, checked on the folder store and on an S3-compatible store alike. */
const s3Available = haveS3();
let s3: S3Store | undefined;
const dirs: string[] = [];
beforeAll(async () => {
  if (s3Available) s3 = await startS3();
}, 60_000);
afterAll(async () => {
  await s3?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'store-'));
  dirs.push(d);
  return d;
}

function s3Config(extra: Record<string, unknown> = {}) {
  const errors: string[] = [];
  const cfg = checkS3Storage(s3!.section(extra) as never, s3!.env, true, (p, m) => errors.push(`${p}: ${m}`));
  if (errors.length > 0) throw new Error(errors.join('; '));
  return cfg!;
}

async function newStore(kind: 'fs' | 's3'): Promise<BlobStore> {
  const root = tempDir();
  const store = kind === 'fs' ? new FsBlobStore(root) : new S3BlobStore(s3Config(), root, createS3Client(s3Config()));
  await store.open();
  return store;
}

async function writeTemp(store: BlobStore, bytes: Buffer): Promise<string> {
  const { path, stream } = store.createTempWriter();
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    stream.end(bytes, () => resolve());
  });
  return path;
}

const kinds = (['fs', 's3'] as const).filter((k) => k === 'fs' || s3Available);

describe.each(kinds)('blob store (%s)', (kind) => {
  it('shows a committed blob whole, by size, bytes and range, and drops the temp file', async () => {
    const store = await newStore(kind);
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const digest = sha256(bytes);
    expect(await store.size(digest)).toBeUndefined();
    const temp = await writeTemp(store, bytes);
    await store.commit(temp, digest);
    expect(await store.size(digest)).toBe(bytes.length);
    expect((await store.read(digest)).equals(bytes)).toBe(true);
    const chunks: Buffer[] = [];
    for await (const c of store.createReadStream(digest, { start: 100, end: 199 })) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(bytes.subarray(100, 200))).toBe(true);
    expect(store.discardAbandonedTempFiles()).toBe(0);
    await store.remove(digest);
    expect(await store.size(digest)).toBeUndefined();
  });

  it('commits a blob larger than one multipart part intact', async () => {
    const store = await newStore(kind);
    const bytes = randomBytes(40 * 1024 * 1024 + 5);
    const digest = sha256(bytes);
    await store.commit(await writeTemp(store, bytes), digest);
    expect(await store.size(digest)).toBe(bytes.length);
    expect(sha256(await store.read(digest))).toBe(digest);
  }, 120_000);

  it('stores small content only when it matches its digest, and never serves a damaged copy', async () => {
    const store = await newStore(kind);
    const good = Buffer.from('{"config":true}');
    const digest = sha256(good);
    await expect(store.putVerified(digest, Buffer.from('something else'))).rejects.toThrow(/does not match/);
    expect(await store.size(digest)).toBeUndefined();
    await store.putVerified(digest, good);
    expect((await store.readVerified(digest))?.equals(good)).toBe(true);
    await damage(kind, store, digest, Buffer.from('{"config":fals}'));
    expect(await store.readVerified(digest)).toBeUndefined();
    expect(await store.size(digest)).toBeUndefined();
  });
});

/** Overwrites a stored blob with other bytes, as bit rot or a stray writer would. */
async function damage(kind: 'fs' | 's3', store: BlobStore, digest: Digest, bytes: Buffer): Promise<void> {
  if (kind === 'fs') {
    writeFileSync((store as FsBlobStore).pathOf(digest), bytes);
    return;
  }
  const s = store as S3BlobStore;
  await s3!.client().send(new PutObjectCommand({ Bucket: s3!.bucket, Key: s.keyOf(digest), Body: bytes }));
}

describe.skipIf(!s3Available)('S3 blob store', () => {
  it('leaves nothing under the digest key when the store goes away mid-upload, and the temp file is gone', async () => {
    if (s3!.external) return;
    const root = tempDir();
    const cfg = s3Config();
    const store = new S3BlobStore(cfg, root, createS3Client(cfg));
    await store.open();
    const bytes = randomBytes(64 * 1024 * 1024);
    const digest = sha256(bytes);
    const temp = await writeTemp(store, bytes);
    const committing = store.commit(temp, digest);
    // Let the multipart upload begin, then take the store away under it.
    await new Promise((r) => setTimeout(r, 300));
    await s3!.stop();
    await expect(committing).rejects.toMatchObject({ code: 'UNAVAILABLE', status: 503 });
    await s3!.start();
    expect(await store.size(digest)).toBeUndefined();
    expect(await s3!.keys(`${cfg.prefix}blobs/`)).toEqual([]);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
  }, 120_000);

  it('says why it cannot open: a missing bucket, refused credentials, an endpoint that does not answer', async () => {
    const root = tempDir();
    const missing = s3Config({ bucket: `no-such-bucket-${randomBytes(4).toString('hex')}` });
    await expect(new S3BlobStore(missing, root, createS3Client(missing)).open()).rejects.toThrow(/bucket no-such-bucket-\w+.*cannot be used: .*bucket does not exist/);
    const refused = { ...s3Config(), credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'wrong-secret-value' } };
    const err = await new S3BlobStore(refused, root, createS3Client(refused)).open().catch((e: Error) => e);
    expect(String(err)).toMatch(/credentials were refused/);
    expect(String(err)).not.toContain('wrong-secret-value');
    const closed = { ...s3Config(), endpoint: 'http://127.0.0.1:9' };
    await expect(new S3BlobStore(closed, root, createS3Client(closed)).open()).rejects.toThrow(/endpoint cannot be reached/);
  }, 60_000);

  it('reports itself unavailable while the store is down, fails reads closed with 503, and recovers', async () => {
    if (s3!.external) return;
    const store = await newStore('s3');
    const bytes = Buffer.from('cached layer bytes');
    const digest = sha256(bytes);
    await store.putVerified(digest, bytes);
    await s3!.stop();
    try {
      await expect(store.check()).rejects.toThrow(/endpoint cannot be reached/);
      await expect(store.size(digest)).rejects.toMatchObject({ status: 503 });
      await expect(text(store.createReadStream(digest))).rejects.toMatchObject({ status: 503 });
    } finally {
      await s3!.start();
    }
    await store.check();
    expect(await store.size(digest)).toBe(bytes.length);
  }, 60_000);

  it('presigns a GET of one blob that serves it whole or by range, without the secret in the URL', async () => {
    const cfg = s3Config();
    const store = new S3BlobStore(cfg, tempDir(), createS3Client(cfg));
    await store.open();
    const bytes = randomBytes(2 * 1024 * 1024);
    const digest = sha256(bytes);
    await store.commit(await writeTemp(store, bytes), digest);
    const url = await store.presignGet(digest, 60_000);
    expect(url).toContain('X-Amz-Expires=60');
    // The key id names the signer; the secret itself is never in the URL (s3rver's id and secret are equal).
    const signed = new URL(url);
    signed.searchParams.delete('X-Amz-Credential');
    expect(signed.toString()).not.toContain(cfg.credentials!.secretAccessKey);
    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);
    const part = await fetch(url, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(10, 20))).toBe(true);
  }, 60_000);

  it('retries requests the store throttles (503 SlowDown) with backoff, and stores and reads intact', async () => {
    const front = await startThrottlingFront(s3!.endpoint);
    try {
      const cfg = { ...s3Config(), endpoint: front.endpoint };
      const store = new S3BlobStore(cfg, tempDir(), createS3Client(cfg));
      await store.open();
      const bytes = randomBytes(256 * 1024);
      const digest = sha256(bytes);
      await store.putVerified(digest, bytes);
      const layer = randomBytes(3 * 1024 * 1024);
      await store.commit(await writeTemp(store, layer), sha256(layer));
      expect(await store.size(sha256(layer))).toBe(layer.length);
      expect(await store.size(digest)).toBe(bytes.length);
      expect((await store.readVerified(digest))?.equals(bytes)).toBe(true);
      expect(front.slowDowns()).toBeGreaterThanOrEqual(4);
    } finally {
      await front.stop();
    }
  }, 60_000);
});
