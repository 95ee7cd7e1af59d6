import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.js';
import { startProxy, type Proxy } from '../../helpers/proxy.js';
import { addImage, brokenChainAt, getBlob, getManifest, tempFiles, UPSTREAM, waitFor } from './support.js';

/** Every file under store/blobs, with whether its content hashes to its name. */
function storedBlobs(dataDir: string): Array<{ name: string; valid: boolean }> {
  const root = join(dataDir, 'store', 'blobs', 'sha256');
  const out: Array<{ name: string; valid: boolean }> = [];
  for (const prefix of readdirSync(root)) {
    for (const hex of readdirSync(join(root, prefix))) {
      const path = join(root, prefix, hex);
      if (!statSync(path).isFile()) continue;
      out.push({ name: hex, valid: createHash('sha256').update(readFileSync(path)).digest('hex') === hex });
    }
  }
  return out;
}

/**
 * SIGKILL in the middle of blob downloads and audit writes (a real proxy process: a single one, or the
 * supervisor of two workers, which then lose it). After an immediate restart the store holds only complete,
 * digest-checked blobs, no temp file survives, the audit chain verifies and pulls succeed.
 */
describe.each([1, 2])('SIGKILL while writing blobs and the database (workers: %i)', (workers) => {
  let up: FaultUpstream;
  let proxy: Proxy;
  let dir: string;

  beforeAll(async () => {
    up = await startFaultUpstream();
    dir = await mkdtemp(join(tmpdir(), 'faults-crash-'));
    proxy = await startProxy({ upstreams: [{ name: UPSTREAM, url: up.url, retries: 0 }], dataDir: dir, extra: { log: { level: 'warn' }, server: { workers } } });
  });

  afterAll(async () => {
    await proxy?.stop();
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('recovers to a consistent store and a verifiable audit chain', async () => {
    const done = randomBytes(300 * 1024);
    const big = [randomBytes(4 * 1024 * 1024), randomBytes(4 * 1024 * 1024)];
    const img = addImage(up, 'org/app', '1', [done, ...big]);
    for (const d of img.layers.slice(1)) up.setMode(d, { kind: 'drip', chunk: 64 * 1024, everyMs: 20 });
    expect((await getManifest(proxy.url, 'org/app', '1')).status).toBe(200);
    expect((await getBlob(proxy.url, 'org/app', img.layers[0]!)).bytes?.equals(done)).toBe(true);

    // Two downloads in flight, and a stream of audited requests hitting the database.
    const inflight = img.layers.slice(1).map((d) => getBlob(proxy.url, 'org/app', d));
    let hammering = true;
    const hammer = (async () => {
      while (hammering) await getManifest(proxy.url, 'org/app', img.digest).then((r) => r.arrayBuffer()).catch(() => {});
    })();
    await waitFor(() => tempFiles(dir).length === 2);
    await new Promise((r) => setTimeout(r, 300));
    expect(await proxy.stop('SIGKILL')).toBe('SIGKILL');
    hammering = false;
    await hammer;
    for (const r of await Promise.all(inflight)) expect(r.bytes, 'an interrupted body never looks complete').toBeUndefined();
    // A killed single process cannot clean up; orphaned workers remove their own as they exit.
    if (workers === 1) expect(tempFiles(dir).length, 'the kill left partial downloads behind').toBeGreaterThan(0);

    for (const d of img.layers.slice(1)) up.setMode(d, { kind: 'ok' });
    await proxy.restart();
    // Workers orphaned by the kill may outlive the new start on a busy machine; they exit at once and take
    // their partial files with them (or the new proxy sweeps them), so the store is clean within moments.
    await waitFor(() => tempFiles(dir).length === 0);
    const blobs = storedBlobs(dir);
    expect(blobs.every((b) => b.valid), JSON.stringify(blobs)).toBe(true);
    expect(blobs.map((b) => `sha256:${b.name}`)).not.toContain(img.layers[1]);
    expect(brokenChainAt(join(dir, 'portcullis.db'))).toBeNull();

    for (const [i, d] of img.layers.entries()) {
      const got = await getBlob(proxy.url, 'org/app', d);
      expect(got.bytes?.equals(i === 0 ? done : big[i - 1]!)).toBe(true);
    }
    expect(brokenChainAt(join(dir, 'portcullis.db'))).toBeNull();
  });
});
