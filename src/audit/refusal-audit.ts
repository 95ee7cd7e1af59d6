import type { Logger } from '../logger.js';
import type { AuditLog } from './audit-log.js';
import type { AuditEventInput } from './types.js';

/** Refusals written one by one: a burst of this many, then this many a second on average. */
const BURST = 100;
const PER_SECOND = 20;
/** How often a count of left-out refusals is written when no later refusal writes it first. */
const FLUSH_MS = 2_000;

/**
 * Audits requests refused before any content was judged (invalid names, unknown namespaces, missing
 * credentials, refused listings). Anyone can send these, so the log must not grow with a flood: past a
 * shared budget the refusals are counted, and the count, the time span and the busiest addresses go into
 * one `audit.suppressed` event. A refusal serves nothing, so it is not held back for its event to commit.
 */
export class RefusalAudit {
  private tokens: number;
  private readonly burst: number;
  private readonly perSecond: number;
  private refilledAt = Date.now();
  private suppressed = 0;
  private suppressedSince = '';
  private readonly byClient = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  /** `processes`: workers sharing the log on this machine; each gets its share of the budget. */
  constructor(
    private readonly audit: AuditLog,
    private readonly log: Logger,
    processes = 1,
  ) {
    this.burst = Math.max(1, Math.floor(BURST / processes));
    this.perSecond = PER_SECOND / processes;
    this.tokens = this.burst;
    this.timer = setInterval(() => this.flushSuppressed(), FLUSH_MS);
    this.timer.unref();
  }

  record(event: AuditEventInput): void {
    this.refill();
    if (this.tokens < 1) {
      if (this.suppressed === 0) this.suppressedSince = new Date().toISOString();
      this.suppressed++;
      const client = event.client ?? 'unknown';
      if (this.byClient.has(client) || this.byClient.size < 1000) this.byClient.set(client, (this.byClient.get(client) ?? 0) + 1);
      return;
    }
    this.tokens--;
    this.flushSuppressed();
    this.write(event);
  }

  close(): void {
    clearInterval(this.timer);
    this.flushSuppressed();
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
  }

  private flushSuppressed(): void {
    if (this.suppressed === 0) return;
    const top = [...this.byClient.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
    this.write({
      kind: 'audit.suppressed',
      reasons: [
        `${this.suppressed} refused requests were not recorded one by one between ${this.suppressedSince} and ${new Date().toISOString()} ` +
          `(more than ${PER_SECOND} a second); busiest addresses: ${top.map(([c, n]) => `${c} (${n})`).join(', ')}`,
      ],
    });
    this.suppressed = 0;
    this.byClient.clear();
  }

  private write(event: AuditEventInput): void {
    this.audit.record(event).catch((err: unknown) => this.log.error('audit append failed for a refused request', { error: String(err) }));
  }
}
