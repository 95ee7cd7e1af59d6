import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.js';
import { startProxy, type Proxy } from '../../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../../helpers/registry.js';
import { haveTools } from '../../helpers/tools.js';
import { addImage, auditRows, getBlob, getManifest, UPSTREAM, waitFor } from './support.js';

const MiB = 1024 * 1024;

/** Mounts a 20 MiB tmpfs; false (with a notice) where mounting is not permitted, even under CI. */
function mountSmallDisk(dir: string): boolean {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', dir], { stdio: 'pipe' });
    return true;
  } catch (err) {
    console.warn(`[faults] skipping disk-full tests: cannot mount a tmpfs (${(err as Error).message.split('\n')[0]})`);
    return false;
  }
}

/** Leaves about `leave` bytes free on the filesystem of `dir`. */
function fillUpTo(dir: string, leave: number): string {
  const s = statfsSync(dir);
  const file = join(dir, 'filler');
  writeFileSync(file, Buffer.alloc(Math.max(0, s.bavail * s.bsize - leave)));
  return file;
}

const root = await mkdtemp(join(tmpdir(), 'faults-disk-'));
const disk = join(root, 'small-disk');
const mounted = haveTools(['docker-registry', 'mount']) && process.getuid?.() === 0 && mountSmallDisk(disk);

/**
 * The store's disk fills up (a real 20 MiB tmpfs, real registry): a pull that does not fit fails with a
 * clear error instead of a broken body, one that runs out of space mid-way breaks off and is not cached,
 * nothing already cached is damaged, and pulls succeed again once space returns.
 */
describe.skipIf(!mounted)('disk full', () => {
  let registry: Registry;
  let up: FaultUpstream;
  let proxy: Proxy;
  let small: PushedImage;

  beforeAll(async () => {
    mkdirSync(join(root, 'registry'));
    registry = await startRegistry({ dir: join(root, 'registry') });
    up = await startFaultUpstream();
    small = await pushImage(registry.url, 'org/small', '1', { layers: 2, layerSize: 512 * 1024 });
    mkdirSync(join(root, 'proxy'));
    proxy = await startProxy({
      upstreams: [
        { name: UPSTREAM, url: registry.url },
        { name: 'faulty.test', url: up.url, retries: 0 },
      ],
      dataDir: join(root, 'proxy'),
      extra: { storage: { path: disk }, log: { level: 'warn' } },
    });
    expect((await getManifest(proxy.url, 'org/small', '1')).status).toBe(200);
    for (const l of small.layers) expect((await getBlob(proxy.url, 'org/small', l.digest)).bytes?.equals(l.bytes)).toBe(true);
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await up?.close();
    if (mounted) execFileSync('umount', [disk]);
    await rm(root, { recursive: true, force: true });
  });

  it('passes a blob that does not fit through uncached, refuses what needs the cache with a clear 507, and recovers', async () => {
    const big = await pushImage(registry.url, 'org/big', '1', { layers: [randomBytes(8 * MiB)] });
    const digest = big.layers[0]!.digest;
    const filler = fillUpTo(disk, 6 * MiB);
    try {
      expect((await getManifest(proxy.url, 'org/big', '1')).status).toBe(200);
      const streamed = await getBlob(proxy.url, 'org/big', digest);
      expect(streamed.status).toBe(200);
      expect(streamed.bytes?.equals(big.layers[0]!.bytes), 'passed through byte for byte').toBe(true);
      const hex = digest.slice('sha256:'.length);
      expect(existsSync(join(disk, 'blobs', 'sha256', hex.slice(0, 2), hex)), 'not cached').toBe(false);
      const ranged = await fetch(`${proxy.url}/v2/org/big/blobs/${digest}`, { headers: { range: 'bytes=10-20' } });
      expect(ranged.status).toBe(507);
      expect(((await ranged.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('STORAGE_UNAVAILABLE');
      for (const l of small.layers) expect((await getBlob(proxy.url, 'org/small', l.digest)).bytes?.equals(l.bytes)).toBe(true);
      expect(tempFilesOnDisk()).toEqual([]);
    } finally {
      rmSync(filler);
    }
    const ok = await getBlob(proxy.url, 'org/big', big.layers[0]!.digest);
    expect(ok.bytes?.equals(big.layers[0]!.bytes), `${ok.status} ${ok.body ?? ok.error?.message}`).toBe(true);
  });

  it('passes a download that runs out of space mid-way through uncached (or breaks it off), and records it', async () => {
    const layer = randomBytes(1 * MiB);
    const img = addImage(up, 'org/grow', '1', [layer]);
    up.setMode(img.layers[0]!, { kind: 'drip', chunk: 64 * 1024, everyMs: 30 });
    expect((await getManifest(proxy.url, 'faulty.test/org/grow', '1')).status).toBe(200);
    const pending = getBlob(proxy.url, 'faulty.test/org/grow', img.layers[0]!);
    await waitFor(() => tempFilesOnDisk().length === 1);
    const filler = fillUpTo(disk, 0);
    try {
      const got = await pending;
      // Bytes already verified in memory may still reach the client (a pass-through); anything else must
      // end in a broken connection. A complete-looking body with other bytes never happens.
      if (got.bytes !== undefined) expect(got.bytes.equals(layer), 'a complete body is the verified one').toBe(true);
      await waitFor(() => tempFilesOnDisk().length === 0);
      const hex = img.layers[0]!.slice('sha256:'.length);
      expect(existsSync(join(disk, 'blobs', 'sha256', hex.slice(0, 2), hex)), 'nothing cached').toBe(false);
      const rows = auditRows(join(proxy.dataDir, 'portcullis.db'), "kind = 'upstream.blob.rejected' AND digest = ?", img.layers[0]);
      expect(rows[0]?.reasons).toMatch(/space/);
      for (const l of small.layers) expect((await getBlob(proxy.url, 'org/small', l.digest)).bytes?.equals(l.bytes)).toBe(true);
    } finally {
      rmSync(filler);
    }
    up.setMode(img.layers[0]!, { kind: 'ok' });
    expect((await getBlob(proxy.url, 'faulty.test/org/grow', img.layers[0]!)).bytes?.equals(layer)).toBe(true);
  });
});

/** Partial downloads in the store on the small disk. */
function tempFilesOnDisk(): string[] {
  return readdirSync(join(disk, 'tmp'));
}
