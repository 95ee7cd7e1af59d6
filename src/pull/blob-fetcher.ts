import type { CacheIndex } from '../db/cache-index.js';
import type { BlobStore } from '../store/blob-store.js';
import { OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import { header } from '../upstream/upstream-client.js';
import { PROCESS_OWNER as OWNER, ownerIsGone } from '../cluster/process-owner.js';
import type { HeldLease, LeaseStore } from '../db/types.js';
import { BlobDownload } from './blob-download.js';
import { RemoteDownload } from './remote-download.js';
import { PassThroughBlob } from './pass-through.js';
import { toClientError } from './upstream-errors.js';
import type { Target } from '../upstream/target.js';

/** A download's lease lasts this long unless renewed (every third of it while the download runs). */
const LEASE_TTL_MS = 15_000;
type Fetched = BlobDownload | RemoteDownload | PassThroughBlob;

/**
 * Starts at most one upstream download per blob digest; later requests join the running one. With leases
 * (the database every worker and replica shares) that holds across processes: a request for a blob that
 * another process is downloading follows that download's temp file instead of asking the upstream again.
 */
export class BlobFetcher {
  private readonly downloads = new Map<string, Promise<Fetched>>();

  /** Called with the bytes fetched from an upstream, for metrics. */
  onFetched?: (upstream: string, bytes: number) => void;
  /** Called once a blob is committed to the store (eviction hooks in here). */
  onCommitted?: (digest: Digest, size: number) => void;
  /** Called when a started download is rejected or breaks off (wrong digest, short body, disk full mid-way). */
  onFailed?: (target: Target, digest: Digest, error: Error) => void;

  /** Bytes promised to downloads still running, so concurrent downloads cannot overcommit the disk. */
  private reserved = 0;
  /** Kept free on the store's filesystem for manifests and the database. */
  static readonly HEADROOM_BYTES = 8 * 1024 * 1024;

  constructor(
    private readonly store: BlobStore,
    private readonly index: CacheIndex,
    private readonly leases?: LeaseStore,
  ) {}

  get active(): number {
    return this.downloads.size;
  }

  /** A cached download that clients follow, or, when the disk has no room, a one-client pass-through. */
  fetch(target: Target, digest: Digest, expectedSize: number | undefined): Promise<Fetched> {
    const running = this.downloads.get(digest);
    if (running) {
      void running.then((d) => this.touchWhenCommitted(d), () => {});
      return running;
    }
    const started = this.lead(target, digest, expectedSize);
    this.downloads.set(digest, started);
    started.then(
      (d) => (d instanceof PassThroughBlob ? Promise.resolve() : d.settled()).finally(() => this.downloads.delete(digest)),
      () => this.downloads.delete(digest),
    );
    return started;
  }

  /** Resolves once this process's running download of `digest`, if any, is committed or has failed. */
  async settledDownload(digest: Digest): Promise<void> {
    const running = this.downloads.get(digest);
    const d = running && (await running.catch(() => undefined));
    if (d && !(d instanceof PassThroughBlob)) await d.settled();
  }

  /**
   * A request that joins a download uses the blob: it counts as used once committed (an upload to object storage
   * takes a while, and the download's own record may be older than this use), so eviction does not take it first.
   */
  private touchWhenCommitted(d: Fetched): void {
    if (d instanceof PassThroughBlob) return;
    void d.settled().then(() => {
      if (d.done) this.index.touchBlob(d.digest);
    });
  }

  /**
   * Takes the blob's lease (undefined) or names the live holder to follow. A holder that has died (a killed
   * process of this host) is replaced at once rather than when its lease expires. A database that cannot
   * answer fails the request closed.
   */
  private async acquire(digest: Digest, tempPath: string): Promise<HeldLease | undefined> {
    if (!this.leases) return undefined;
    try {
      const held = await this.leases.acquire(digest, OWNER, tempPath, LEASE_TTL_MS);
      if (!held || !ownerIsGone(held.owner)) return held;
      await this.leases.release(digest, held.owner);
      return await this.leases.acquire(digest, OWNER, tempPath, LEASE_TTL_MS);
    } catch {
      throw new OciError('UNAVAILABLE', 'the database cannot be reached; refusing to serve');
    }
  }

  /** Downloads the blob here, or follows the process that holds its lease. */
  private async lead(target: Target, digest: Digest, expectedSize: number | undefined): Promise<Fetched> {
    const tempPath = this.store.newTempPath();
    const held = await this.acquire(digest, tempPath);
    if (held) {
      const remote = new RemoteDownload(digest, expectedSize, held.tempPath, this.store, this.leases!, ownerIsGone);
      this.touchWhenCommitted(remote);
      return remote;
    }
    if (!this.leases) return this.start(target, digest, expectedSize, tempPath);
    const leases = this.leases;
    // Another process may have committed the blob between the caller's cache check and this lease.
    const stored = await this.store.size(digest);
    if (stored !== undefined && (expectedSize === undefined || stored === expectedSize)) {
      void leases.release(digest, OWNER).catch(() => {});
      return new RemoteDownload(digest, expectedSize, tempPath, this.store, leases);
    }
    // A renewal that fails is retried at the next tick; the lease outlives a few of them.
    const renew = setInterval(() => void leases.renew(digest, OWNER, LEASE_TTL_MS).catch(() => {}), LEASE_TTL_MS / 3);
    renew.unref();
    const release = () => {
      clearInterval(renew);
      void leases.release(digest, OWNER).catch(() => {});
    };
    try {
      const d = await this.start(target, digest, expectedSize, tempPath);
      // A pass-through writes no file for others to follow: let them download for themselves.
      if (d instanceof PassThroughBlob) release();
      else void d.settled().finally(release);
      return d;
    } catch (err) {
      release();
      throw err;
    }
  }

  private async start(target: Target, digest: Digest, expectedSize: number | undefined, tempPath: string): Promise<BlobDownload | PassThroughBlob> {
    const { upstream, repository } = target;
    let res;
    try {
      // No client signal: a download is shared, and one that keeps up the minimum rate may finish for the cache.
      res = await upstream.send('GET', repository, `${repository}/blobs/${digest}`, {}, { purpose: 'blob' });
    } catch (err) {
      throw toClientError(err, `blob ${digest}`);
    }
    if (res.status === 404) {
      await res.body.dump();
      throw new OciError('BLOB_UNKNOWN', `blob ${digest} not found upstream in ${target.canonical}`);
    }
    if (res.status !== 200) {
      await res.body.dump();
      throw new OciError('UPSTREAM_INVALID', `upstream ${upstream.name} answered ${res.status} for blob ${digest}`);
    }
    const lengthHeader = header(res.headers, 'content-length');
    const length = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    if (expectedSize !== undefined && length !== undefined && length !== expectedSize) {
      await res.body.dump().catch(() => {});
      throw new OciError('UPSTREAM_INVALID', `upstream blob ${digest} is ${length} bytes; its manifest says ${expectedSize}`);
    }
    const size = expectedSize ?? length;
    const reserve = size ?? 0;
    // The body holds one of the repository's upstream connections: let it go if nothing will read it.
    const free = await this.store.freeBytes().catch((err: unknown) => {
      res.body.destroy();
      throw err;
    });
    if (free !== undefined && free - this.reserved - reserve < BlobFetcher.HEADROOM_BYTES) {
      // No room to cache it: stream it through, still digest-checked, and cache nothing.
      return new PassThroughBlob(digest, size, res.body, (error) => this.onFailed?.(target, digest, error));
    }
    this.reserved += reserve;
    const download = new BlobDownload(digest, size, tempPath, this.store);
    void download
      .run(res.body, (written) => {
        this.onFetched?.(upstream.name, written);
        // Accounting before eviction looks; a lost row only hides the file from eviction until it is fetched again.
        this.index.recordBlob(digest, written).then(() => this.onCommitted?.(digest, written), () => {});
      })
      .finally(() => {
        this.reserved -= reserve;
        if (download.failure) this.onFailed?.(target, digest, download.failure);
      });
    return download;
  }
}
