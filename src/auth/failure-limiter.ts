/**
 * Slows down guessing: after `maxFailures` bad credentials from one address within `windowMs`, that
 * address is refused (429) for `blockMs`, good credentials included, so guessing cannot continue in the
 * meantime. A success does not reset the count, so one valid token cannot cover guessing at others.
 * Bounded memory: the oldest addresses are forgotten first.
 */
export class FailureLimiter {
  private readonly entries = new Map<string, { failures: number[]; blockedUntil: number }>();

  constructor(
    private readonly maxFailures = 10,
    private readonly windowMs = 60_000,
    private readonly blockMs = 60_000,
    private readonly maxAddresses = 10_000,
  ) {}

  /** Seconds the address must still wait, or 0 when it may try. */
  retryAfter(address: string, now = Date.now()): number {
    const e = this.entries.get(address);
    return e && e.blockedUntil > now ? Math.ceil((e.blockedUntil - now) / 1000) : 0;
  }

  /** Records a failure; returns the block length in seconds when this failure started a block, else 0. */
  fail(address: string, now = Date.now()): number {
    let e = this.entries.get(address);
    if (!e) {
      if (this.entries.size >= this.maxAddresses) this.entries.delete(this.entries.keys().next().value!);
      e = { failures: [], blockedUntil: 0 };
      this.entries.set(address, e);
    }
    e.failures = e.failures.filter((t) => now - t < this.windowMs);
    e.failures.push(now);
    if (e.failures.length >= this.maxFailures) {
      e.failures = [];
      e.blockedUntil = now + this.blockMs;
      return Math.ceil(this.blockMs / 1000);
    }
    return 0;
  }
}
