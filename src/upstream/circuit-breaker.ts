/**
 * Marks an upstream down after repeated failures to reach it, so requests fail at once (and callers serve
 * their cache) instead of each waiting out connect timeouts and retries. After the cooldown one request is
 * let through as a probe: success closes the circuit, failure opens it again.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private probing = false;

  constructor(
    readonly threshold = 5,
    readonly cooldownMs = 10_000,
  ) {}

  /** Seconds until the next probe when requests are refused now; undefined when a request may go. */
  refuse(now = Date.now()): number | undefined {
    if (this.openUntil === 0) return undefined;
    if (now < this.openUntil || this.probing) return Math.max(1, Math.ceil((this.openUntil - now) / 1000));
    this.probing = true;
    return undefined;
  }

  succeeded(): void {
    this.failures = 0;
    this.openUntil = 0;
    this.probing = false;
  }

  /** A request that ended without saying whether the upstream is up (a deadline, a client that left). */
  inconclusive(): void {
    // A probe that told nothing lets the next request probe instead.
    this.probing = false;
  }

  failed(now = Date.now()): void {
    this.failures++;
    if (this.probing || this.failures >= this.threshold) {
      this.openUntil = now + this.cooldownMs;
      this.probing = false;
    }
  }

  get isOpen(): boolean {
    return this.openUntil !== 0;
  }
}
