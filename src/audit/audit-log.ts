import type { Db } from '../db/database.js';
import { GENESIS_HASH, rowHash, type StoredRow } from './chain.js';
import type { AuditEventInput } from './types.js';

/**
 * Appends hash-chained events. Each append is one synchronous SQLite transaction, committed before the
 * caller serves anything, so no decision is served unrecorded. The chain head is re-read inside the
 * transaction, so another process appending to the same file keeps the chain intact.
 */
export class AuditLog {
  private readonly insert;
  private readonly head;
  private readonly appendTx;

  constructor(private readonly db: Db) {
    this.insert = db.prepare(`INSERT INTO audit_events (id, time, kind, request_id, client, user, upstream,
      repository, reference, digest, decision, policy, policy_version, mode, reasons, evidence, cache_hit, bytes,
      status, prev_hash, hash) VALUES (@id, @time, @kind, @request_id, @client, @user, @upstream, @repository,
      @reference, @digest, @decision, @policy, @policy_version, @mode, @reasons, @evidence, @cache_hit, @bytes,
      @status, @prev_hash, @hash)`);
    this.head = db.prepare(
      `SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1`,
    );
    this.appendTx = db.transaction((input: AuditEventInput, time: string) => {
      const last = this.head.get() as { id: number; hash: string } | undefined;
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
      return row.id;
    });
  }

  /** Appends one event and returns its id. Throws if the database cannot commit it. */
  append(input: AuditEventInput): number {
    return this.appendTx.immediate(input, new Date().toISOString()) as number;
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
