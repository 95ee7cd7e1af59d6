import type { FailureStore } from '../db/types.js';

/** How often the list of blocked addresses is re-read, so a block set by another replica applies here. */
const REFRESH_MS = 1000;
const PRUNE_EVERY = 100;

/**
 * Slows down guessing: after `maxFailures` bad credentials for one key (a client address and the user the
 * credentials claim) within `windowMs`, that key's further bad attempts are refused (429) for `blockMs`.
 * Valid credentials are never refused (the authenticator checks them first): a block must not let anyone
 * who shares an address lock out those who hold a token. A success does not reset the count, so one valid
 * token cannot cover guessing at others.
 *
 * Counts live in the database, so guessing spread over replicas is counted once. Checking a request needs no
 * database round trip: the keys blocked now are re-read at most once a second. Bounded: keys not seen for a
 * window are pruned, and beyond `maxAddresses` the least recently seen go first.
 */
export class FailureLimiter {
  private blocked = new Map<string, number>();
  private refreshedAt = 0;
  private refreshing: Promise<void> | undefined;
  private failures = 0;

  constructor(
    private readonly store: FailureStore,
    private readonly maxFailures = 10,
    private readonly windowMs = 60_000,
    private readonly blockMs = 60_000,
    private readonly maxAddresses = 10_000,
  ) {}

  /** Seconds the address must still wait, or 0 when it may try. */
  retryAfter(address: string, now = Date.now()): number {
    if (now - this.refreshedAt >= REFRESH_MS) void this.refresh(now);
    const until = this.blocked.get(address);
    return until !== undefined && until > now ? Math.ceil((until - now) / 1000) : 0;
  }

  /**
   * Records a failure; resolves with the block length in seconds when this failure started a block, else 0.
   * `maxFailures` may be set per key (a wider key, such as a whole address, tolerates more).
   */
  async fail(address: string, now = Date.now(), maxFailures = this.maxFailures): Promise<number> {
    const count = await this.store.recordFailure(address, now, this.windowMs);
    if (++this.failures % PRUNE_EVERY === 0) {
      void this.store.prune(now - Math.max(this.windowMs, this.blockMs), this.maxAddresses).catch(() => {});
    }
    if (count < maxFailures) return 0;
    const until = now + this.blockMs;
    if (!(await this.store.block(address, maxFailures, now, until))) return 0;
    this.blocked.set(address, until);
    return Math.ceil(this.blockMs / 1000);
  }

  /** Re-reads the blocked addresses (coalesced); on failure the last list stays. */
  refresh(now = Date.now()): Promise<void> {
    this.refreshedAt = now;
    this.refreshing ??= this.store
      .blocked(now, this.maxAddresses)
      .then((blocked) => {
        // Keep blocks set here meanwhile: blocks only ever run out, never get lifted.
        for (const [address, until] of this.blocked) if (until > now && !blocked.has(address)) blocked.set(address, until);
        this.blocked = blocked;
      })
      .catch(() => {})
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }
}
