import type { AuditStore, DecisionRow, TimeCursor } from '../db/types.js';
import { BUCKETS, bucketCount, bucketStart, type SummaryParams } from './summary-params.js';

/** Decisions of one client for one manifest within this long of the first count as one pull (HEAD then GET). */
export const SAME_PULL_MS = 60_000;
const TOP_REASONS = 3;
const BATCH = 1000;

export interface Counts {
  pulls: number;
  allowed: number;
  denied: number;
  warned: number;
}

export interface SummaryGroup extends Counts {
  key: string;
  reasons: { reason: string; count: number }[];
}

export interface Summary extends Omit<SummaryParams, 'limit'> {
  totals: Counts;
  groups: SummaryGroup[];
  series: ({ start: string } & Counts)[];
}

const zero = (): Counts => ({ pulls: 0, allowed: 0, denied: 0, warned: 0 });
const COUNTER: Record<string, keyof Counts | undefined> = { allow: 'allowed', deny: 'denied', warn: 'warned' };

/**
 * Folds manifest decisions, fed in time order, into totals, groups and a time series. A client's HEAD and
 * GET of one manifest are two events but one pull: the same client (user, else address), repository,
 * digest (else reference) and decision within 60 s of the first counts once.
 */
export class SummaryFold {
  private readonly totals = zero();
  private readonly groups = new Map<string, Counts & { reasons: Map<string, number> }>();
  private readonly series: Counts[];
  private readonly origin: number;
  /** First time of each pull still inside its window. */
  private readonly recent = new Map<string, number>();
  private lastSweep = 0;

  constructor(private readonly params: SummaryParams) {
    this.origin = bucketStart(params.since, params.bucket);
    this.series = Array.from({ length: bucketCount(params.since, params.until, params.bucket) }, zero);
  }

  add(row: DecisionRow): void {
    const counter = row.decision ? COUNTER[row.decision] : undefined;
    if (!counter) return;
    const at = Date.parse(row.time);
    if (this.isRepeat(row, at)) return;
    const slot = this.series[Math.floor((at - this.origin) / BUCKETS[this.params.bucket])];
    const key = this.keyOf(row);
    let group = this.groups.get(key);
    if (!group) {
      group = { ...zero(), reasons: new Map() };
      this.groups.set(key, group);
    }
    for (const c of [this.totals, group, ...(slot ? [slot] : [])]) {
      c.pulls++;
      c[counter]++;
    }
    if (counter === 'denied') {
      for (const reason of parseReasons(row.reasons)) group.reasons.set(reason, (group.reasons.get(reason) ?? 0) + 1);
    }
  }

  result(): Summary {
    const { since, until, by, bucket, limit } = this.params;
    const groups = [...this.groups.entries()]
      .map(([key, g]) => ({
        key, pulls: g.pulls, allowed: g.allowed, denied: g.denied, warned: g.warned,
        reasons: [...g.reasons.entries()]
          .sort((a, b) => b[1] - a[1] || compare(a[0], b[0]))
          .slice(0, TOP_REASONS)
          .map(([reason, count]) => ({ reason, count })),
      }))
      .sort((a, b) => b.denied - a.denied || b.pulls - a.pulls || compare(a.key, b.key))
      .slice(0, limit);
    const series = this.series.map((c, i) => ({ start: new Date(this.origin + i * BUCKETS[bucket]).toISOString(), ...c }));
    return { since, until, by, bucket, totals: { ...this.totals }, groups, series };
  }

  private isRepeat(row: DecisionRow, at: number): boolean {
    // Rows come in time order: a pull whose window has passed is forgotten, so memory follows the traffic of a minute.
    if (at - this.lastSweep > SAME_PULL_MS) {
      for (const [k, first] of this.recent) if (at - first >= SAME_PULL_MS) this.recent.delete(k);
      this.lastSweep = at;
    }
    const who = row.user === null ? [null, row.client] : [row.user, null];
    const key = JSON.stringify([...who, row.repository, row.digest ?? row.reference, row.decision]);
    const first = this.recent.get(key);
    if (first !== undefined && at - first < SAME_PULL_MS) return true;
    this.recent.set(key, at);
    return false;
  }

  private keyOf(row: DecisionRow): string {
    switch (this.params.by) {
      case 'image':
        return row.repository ?? '(no repository)';
      case 'user':
        return row.user ?? `anonymous (${row.client ?? 'unknown address'})`;
      case 'rule':
        return row.policy ?? '(no rule)';
      case 'decision':
        return row.decision!;
    }
  }
}

/** Reads the range's manifest decisions in (time, id) order, a batch at a time, and folds them. */
export async function summarize(store: AuditStore, params: SummaryParams): Promise<Summary> {
  const fold = new SummaryFold(params);
  let after: TimeCursor | undefined;
  for (;;) {
    const rows = await store.decisionsByTime('pull.manifest', params.since, params.until, after, BATCH);
    for (const row of rows) fold.add(row);
    if (rows.length < BATCH) return fold.result();
    after = rows[rows.length - 1]!;
  }
}

function parseReasons(text: string): string[] {
  try {
    const list = JSON.parse(text) as unknown;
    return Array.isArray(list) ? list.filter((r): r is string => typeof r === 'string') : [];
  } catch {
    return [];
  }
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
