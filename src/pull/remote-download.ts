import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { LeaseStore } from '../db/types.js';
import type { Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { FollowerStream, whenSettled, type GrowingBlob } from './follower-stream.js';

const POLL_MS = 20;
/** The lease is looked at every this many polls. */
const LEASE_EVERY = 10;

/**
 * A download another process (a sibling worker, another replica) is running into the shared store: its
 * temp file is read as it grows when it is on this machine, and the last byte is served only once the blob has landed in the store,
 * which the other process does only after checking size and digest. When its lease ends and the blob has
 * not landed, the download failed and so do the readers; the client's retry starts a new one.
 */
export class RemoteDownload extends EventEmitter implements GrowingBlob {
  received = 0;
  verified = false;
  done = false;
  failure: Error | undefined;
  readonly path: string;
  private polls = 0;
  /** Asking the store whether the blob landed every this many polls (a HEAD request on object storage). */
  private readonly landedEvery: number;

  constructor(
    readonly digest: Digest,
    readonly size: number | undefined,
    tempPath: string,
    private readonly store: BlobStore,
    private readonly leases: LeaseStore,
    /** Whether a lease holder has died (a killed process of this host): no need to wait for its lease to expire. */
    private readonly isGone: (owner: string) => boolean = () => false,
  ) {
    super();
    this.setMaxListeners(0);
    this.path = tempPath;
    this.landedEvery = Math.max(1, Math.round(store.landedPollMs / POLL_MS));
    void this.follow();
  }

  fromMemory(): Buffer | undefined {
    return undefined;
  }

  readCommitted(start: number, end: number): Readable {
    return this.store.createReadStream(this.digest, { start, end });
  }

  createReader(start = 0, end?: number): Readable {
    return new FollowerStream(this, start, end);
  }

  settled(): Promise<void> {
    return whenSettled(this);
  }

  private async follow(): Promise<void> {
    const tempPath = this.path;
    while (!this.done && !this.failure) {
      if (this.polls % this.landedEvery === 0 && (await this.landed())) break;
      const grown = await stat(tempPath).then((s) => s.size, () => undefined);
      if (grown !== undefined && grown > this.received) {
        this.received = this.size === undefined ? grown : Math.min(grown, this.size);
        this.emit('progress');
      }
      if (++this.polls % LEASE_EVERY === 0 && !(await this.leaderAlive(tempPath))) {
        if (await this.landed()) break;
        this.failure = new OciError('UPSTREAM_UNAVAILABLE', `the download of ${this.digest} that this request followed did not complete`);
        this.emit('progress');
        break;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** A database that does not answer says nothing about the leader: keep following until it does. */
  private async leaderAlive(tempPath: string): Promise<boolean> {
    let holder;
    try {
      holder = await this.leases.holder(this.digest);
    } catch {
      return true;
    }
    return holder !== undefined && holder.tempPath === tempPath && !this.isGone(holder.owner);
  }

  /** The blob is in the store: verified, and whole. A store that does not answer has not shown it yet. */
  private async landed(): Promise<boolean> {
    const size = await this.store.size(this.digest).catch(() => undefined);
    if (size === undefined || (this.size !== undefined && size !== this.size)) return false;
    this.received = size;
    this.verified = true;
    this.done = true;
    this.emit('progress');
    return true;
  }
}
