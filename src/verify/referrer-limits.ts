import type { ReferrerLimits } from '../config/types.js';

// The shape is part of the config (`trust.referrers`); the walk that applies it lives here.
export type { ReferrerLimits } from '../config/types.js';

export const REFERRER_LIMIT_DEFAULTS: ReferrerLimits = {
  maxCount: 64,
  maxBytes: 16 * 1024 * 1024,
  maxReportBytes: 64 * 1024 * 1024,
  maxPages: 8,
  maxDepth: 1,
};

/** The budget of one walk; `notes` says which bounds were hit, once each. */
export class ReferrerBudget {
  private count = 0;
  private bytes = 0;
  private reportBytes = 0;
  readonly notes: string[] = [];
  private readonly hit = new Set<keyof ReferrerLimits>();

  constructor(readonly limits: ReferrerLimits) {}

  /** Takes one referrer manifest from the count; false when the count is spent. */
  takeReferrer(listed?: number): boolean {
    if (this.count < this.limits.maxCount) {
      this.count++;
      return true;
    }
    const seen = listed !== undefined ? `${listed} referrers listed, only ${this.limits.maxCount}` : `only ${this.limits.maxCount} referrers`;
    this.note('maxCount', `${seen} looked at (trust.referrers.maxCount)`);
    return false;
  }

  /** Reserves `n` bytes; false (and noted) when they would pass maxBytes. */
  spend(n: number, what: string): boolean {
    if (this.bytes + n <= this.limits.maxBytes) {
      this.bytes += n;
      return true;
    }
    this.note('maxBytes', `stopped before ${what}: ${this.limits.maxBytes} bytes read in all (trust.referrers.maxBytes)`);
    return false;
  }

  /** Reserves `n` bytes of a scan or VEX bundle over the ordinary bundle limit; false (and noted) past maxReportBytes. */
  spendReport(n: number, what: string): boolean {
    if (this.reportBytes + n <= this.limits.maxReportBytes) {
      this.reportBytes += n;
      return true;
    }
    this.note('maxReportBytes', `stopped before ${what}: ${this.limits.maxReportBytes} bytes of scan and VEX bundles read in all (trust.referrers.maxReportBytes)`);
    return false;
  }

  note(bound: keyof ReferrerLimits, text: string): void {
    if (this.hit.has(bound)) return;
    this.hit.add(bound);
    this.notes.push(text);
  }

  get spent(): boolean {
    return this.hit.has('maxBytes');
  }
}
