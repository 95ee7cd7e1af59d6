import type { AuditRow, AuditStore, Seal } from '../db/types.js';
import { GENESIS_HASH, rowHash } from './chain.js';
import type { AuditEventInput } from './types.js';

interface Pending {
  input: AuditEventInput;
  time: string;
  resolve: (id: number) => void;
  reject: (err: unknown) => void;
}

/**
 * Appends hash-chained events, committed before the caller serves anything, so no decision is served
 * unrecorded. The chain head is read inside each append transaction, under the database's lock, so every
 * process sharing the database extends one chain. Events arriving in the same event-loop turn share one
 * transaction (group commit), and each caller continues only once its event is committed.
 */
export class AuditLog {
  private queue: Pending[] = [];
  /** At most one append transaction in flight per process: events arriving meanwhile wait for the next one,
   * so batches grow with the database's latency instead of transactions queueing on the chain's lock. */
  private inFlight: Promise<void> | undefined;
  private scheduled = false;

  constructor(private readonly store: AuditStore) {}

  /** Appends one event with the others of this event-loop turn; resolves with its id once committed. */
  record(input: AuditEventInput): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, time: new Date().toISOString(), resolve, reject });
      if (this.scheduled || this.inFlight) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.startFlush();
      });
    });
  }

  /** Same as `record`: every append is committed before it resolves. */
  append(input: AuditEventInput): Promise<number> {
    return this.record(input);
  }

  /** Resolves once every event recorded so far is committed or has failed (before closing the database). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight || this.scheduled) {
      await new Promise((r) => setImmediate(r));
      await this.inFlight;
    }
  }

  private startFlush(): void {
    if (this.inFlight || this.queue.length === 0) return;
    this.inFlight = this.flush().finally(() => {
      this.inFlight = undefined;
      this.startFlush();
    });
  }

  private async flush(): Promise<void> {
    const items = this.queue;
    this.queue = [];
    let rows: AuditRow[];
    try {
      rows = await this.store.append(seal(items.map((i) => ({ input: i.input, time: i.time }))));
    } catch (err) {
      for (const item of items) item.reject(err);
      return;
    }
    items.forEach((item, i) => item.resolve(rows[i]!.id));
  }
}

/** Seals events after the head: ids run on from it, each hash covers the row and the hash before it. */
export function seal(items: readonly { input: AuditEventInput; time: string }[]): Seal {
  return (head, prunedUpTo) => {
    let id = head?.id ?? prunedUpTo;
    // When every row was pruned, the chain continues from the anchor hash kept in the prune event.
    let prevHash = head?.hash ?? GENESIS_HASH;
    return items.map(({ input, time }) => {
      const row: Omit<AuditRow, 'hash' | 'prev_hash'> = {
        id: ++id,
        time,
        kind: input.kind,
        request_id: input.requestId ?? null,
        client: input.client ?? null,
        user: input.user ?? null,
        upstream: input.upstream ?? null,
        repository: input.repository ?? null,
        reference: input.reference ?? null,
        digest: input.digest ?? null,
        decision: input.decision ?? null,
        policy: input.policy ?? null,
        policy_version: input.policyVersion ?? null,
        mode: input.mode ?? null,
        reasons: JSON.stringify(input.reasons ?? []),
        evidence: input.evidence ? JSON.stringify(input.evidence) : null,
        cache_hit: input.cacheHit === undefined || input.cacheHit === null ? null : input.cacheHit ? 1 : 0,
        bytes: input.bytes ?? null,
        status: input.status ?? null,
      };
      const hash = rowHash(prevHash, row);
      const sealed = { ...row, prev_hash: prevHash, hash };
      prevHash = hash;
      return sealed;
    });
  };
}

/** One event sealed now (policy changes, retention anchors): for stores that append it in their own transaction. */
export function sealOne(input: AuditEventInput): Seal {
  return seal([{ input, time: new Date().toISOString() }]);
}
