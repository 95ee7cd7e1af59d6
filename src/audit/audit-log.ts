import type { Db } from '../db/database.js';
import { GENESIS_HASH, rowHash, type StoredRow } from './chain.js';
import type { AuditEventInput } from './types.js';

/**
 * Appends hash-chained events, committed before the caller serves anything, so no decision is served
 * unrecorded. The chain head is re-read inside each transaction, so another process appending to the same
 * file keeps the chain intact. Pulls use `record`: events arriving in the same event-loop turn share one
 * transaction (group commit), and each caller continues only once its event is committed.
 */
export class AuditLog {
  private readonly insert;
  private readonly head;
  private readonly appendTx;
  private readonly batchTx;
  private queue: Array<{ input: AuditEventInput; time: string; resolve: (id: number) => void; reject: (err: unknown) => void }> = [];

  constructor(private readonly db: Db) {
    this.insert = db.prepare(`INSERT INTO audit_events (id, time, kind, request_id, client, user, upstream,
      repository, reference, digest, decision, policy, policy_version, mode, reasons, evidence, cache_hit, bytes,
      status, prev_hash, hash) VALUES (@id, @time, @kind, @request_id, @client, @user, @upstream, @repository,
      @reference, @digest, @decision, @policy, @policy_version, @mode, @reasons, @evidence, @cache_hit, @bytes,
      @status, @prev_hash, @hash)`);
    this.head = db.prepare(
      `SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1`,
    );
    this.appendTx = db.transaction((input: AuditEventInput, time: string) => this.write(input, time));
    this.batchTx = db.transaction((items: Array<{ input: AuditEventInput; time: string }>) => {
      const ids: number[] = [];
      let last = this.head.get() as { id: number; hash: string } | undefined;
      for (const item of items) {
        last = this.write(item.input, item.time, last);
        ids.push(last.id);
      }
      return ids;
    });
  }

  /** Inserts one row after `last` (read from the table when not given); returns the new head. */
  private write(input: AuditEventInput, time: string, after?: { id: number; hash: string }): { id: number; hash: string } {
    const last = after ?? (this.head.get() as { id: number; hash: string } | undefined);
    const row: Omit<StoredRow, 'hash' | 'prev_hash'> = {
      id: (last?.id ?? this.prunedUpTo()) + 1,
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
    const prevHash = last?.hash ?? this.prunedHead();
    const hash = rowHash(prevHash, row);
    this.insert.run({ ...row, prev_hash: prevHash, hash });
    return { id: row.id, hash };
  }

  /** Appends one event now and returns its id. Throws if the database cannot commit it. */
  append(input: AuditEventInput): number {
    return (this.appendTx.immediate(input, new Date().toISOString()) as { id: number }).id;
  }

  /** Appends one event with the others of this event-loop turn; resolves with its id once committed. */
  record(input: AuditEventInput): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(() => this.flush());
      this.queue.push({ input, time: new Date().toISOString(), resolve, reject });
    });
  }

  private flush(): void {
    const items = this.queue;
    this.queue = [];
    let ids: number[];
    try {
      ids = this.batchTx.immediate(items) as number[];
    } catch (err) {
      for (const item of items) item.reject(err);
      return;
    }
    items.forEach((item, i) => item.resolve(ids[i]!));
  }

  private prunedUpTo(): number {
    const r = this.db.prepare('SELECT prune_upto FROM audit_control WHERE id = 1').get() as { prune_upto: number };
    return r.prune_upto;
  }

  /** When every row was pruned, the chain continues from the anchor hash kept in the prune event. */
  private prunedHead(): string {
    return GENESIS_HASH;
  }
}
