import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFaultUpstream, type FaultUpstream } from '../../helpers/fault-upstream.js';
import { startProxy, type Proxy } from '../../helpers/proxy.js';
import { addImage, getBlob, getManifest, tempFiles, UPSTREAM, waitFor, type FaultImage } from './support.js';

/**
 * Temp files of a download are removed whenever its process dies, not only when the proxy starts: a worker
 * killed alone, workers orphaned by a killed supervisor (which must exit at once), and workers that died
 * with their supervisor after a new proxy had already started. A machine too busy to schedule the orphans
 * before the new proxy looks at the store is played by stopping them (SIGSTOP).
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A blob GET whose first bytes can be awaited apart from the rest; `rest` says whether the body completed. */
function streamBlob(base: string, digest: string): { firstBytes: Promise<boolean>; rest: Promise<{ complete: boolean }> } {
  let first!: (ok: boolean) => void;
  const firstBytes = new Promise<boolean>((resolve) => (first = resolve));
  const rest = (async () => {
    try {
      const res = await fetch(`${base}/v2/org/app/blobs/${digest}`);
      const reader = res.body!.getReader();
      let seen = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (seen === 0) first(true);
        seen += value.length;
      }
      first(false);
      return { complete: true };
    } catch {
      first(false);
      return { complete: false };
    }
  })();
  return { firstBytes, rest };
}

/**
 * Stops `pids` (SIGSTOP) at a moment none of them holds the database's write lock, as a machine too busy to
 * run them would between two requests; a process stopped inside a write would lock a new proxy out of the
 * database, which no busy machine does for long.
 */
async function stopOutsideWrites(pids: number[], dbPath: string): Promise<void> {
  for (;;) {
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    const db = new Database(dbPath, { timeout: 0 });
    try {
      db.exec('BEGIN IMMEDIATE');
      db.exec('ROLLBACK');
      return;
    } catch {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      db.close();
    }
  }
}

function workerPids(proxy: Proxy): number[] {
  const pids = proxy.jsonLogs().filter((l) => l.msg === 'serving' && typeof l.worker === 'number').map((l) => Number(l.pid));
  return [...new Set(pids)];
}

describe('temp files of dead workers', () => {
  let up: FaultUpstream;
  let proxy: Proxy | undefined;
  let dir: string;
  const stopped: number[] = [];

  beforeAll(async () => {
    up = await startFaultUpstream();
  });
  afterEach(async () => {
    for (const pid of stopped.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await proxy?.stop();
    proxy = undefined;
    await rm(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await up?.close();
  });

  /** A two-worker proxy with two slow layer downloads in flight. */
  async function downloading(tag: string): Promise<{ img: FaultImage; inflight: Array<Promise<{ complete: boolean }>> }> {
    dir = await mkdtemp(join(tmpdir(), 'faults-dead-workers-'));
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: up.url, retries: 0 }],
      dataDir: dir,
      extra: { log: { level: 'info' }, server: { workers: 2 } },
    });
    const current = proxy;
    await waitFor(() => workerPids(current).length === 2);
    const img = addImage(up, 'org/app', tag, [randomBytes(1024 * 1024), randomBytes(1024 * 1024)]);
    for (const d of img.layers) up.setMode(d, { kind: 'drip', chunk: 16 * 1024, everyMs: 50 });
    expect((await getManifest(current.url, 'org/app', tag)).status).toBe(200);
    // Streaming (each client has its first bytes): past the lease and audit writes, so a worker stopped now
    // holds no database lock. The kills below cut the bodies off.
    const started = img.layers.map((d) => streamBlob(current.url, d));
    const readers = await Promise.all(started.map((s) => s.firstBytes));
    expect(readers).toEqual([true, true]);
    expect(tempFiles(dir).length).toBe(2);
    const inflight = started.map((s) => s.rest);
    return { img, inflight };
  }

  async function pullsWork(img: FaultImage): Promise<void> {
    for (const d of img.layers) up.setMode(d, { kind: 'ok' });
    for (const d of img.layers) expect((await getBlob(proxy!.url, 'org/app', d)).status).toBe(200);
    await waitFor(() => tempFiles(dir).length === 0); // a download is renamed into place after its last byte went out
  }

  it('a worker killed mid-download leaves no temp file, and another takes its place', async () => {
    const { img, inflight } = await downloading('killed');
    const owner = Number(tempFiles(dir)[0]!.split('-')[1]);
    expect(workerPids(proxy!)).toContain(owner);
    process.kill(owner, 'SIGKILL');
    await waitFor(() => !tempFiles(dir).some((f) => f.split('-')[1] === String(owner)));
    await waitFor(() => workerPids(proxy!).length === 3, 20_000);
    await Promise.all(inflight);
    await pullsWork(img);
  });

  it('workers orphaned by a killed supervisor exit and remove their temp files, even after a new start', async () => {
    const { img, inflight } = await downloading('orphaned');
    const orphans = workerPids(proxy!);
    stopped.push(...orphans);
    await stopOutsideWrites(orphans, join(dir, 'portcullis.db'));
    expect(await proxy!.stop('SIGKILL')).toBe('SIGKILL');
    await proxy!.restart(); // the new proxy looks at the store while the orphans still live
    for (const pid of orphans) process.kill(pid, 'SIGCONT');
    await waitFor(() => orphans.every((pid) => !alive(pid)));
    await waitFor(() => tempFiles(dir).length === 0);
    for (const r of await Promise.all(inflight)) expect(r.complete, 'an interrupted body never looks complete').toBe(false);
    await pullsWork(img);
  });

  it('temp files of workers that died after the new start are swept', async () => {
    const { img, inflight } = await downloading('swept');
    const orphans = workerPids(proxy!);
    stopped.push(...orphans);
    await stopOutsideWrites(orphans, join(dir, 'portcullis.db'));
    expect(await proxy!.stop('SIGKILL')).toBe('SIGKILL');
    await proxy!.restart();
    await waitFor(() => workerPids(proxy!).length === 4); // both new workers have looked at the store
    // Killed with no chance to clean up: only the running proxy can notice.
    for (const pid of orphans) process.kill(pid, 'SIGKILL');
    await waitFor(() => orphans.every((pid) => !alive(pid)));
    await waitFor(() => tempFiles(dir).length === 0, 20_000);
    expect(proxy!.jsonLogs().some((l) => l.msg === 'discarded partial downloads of processes that died')).toBe(true);
    await Promise.all(inflight);
    await pullsWork(img);
  });
});
