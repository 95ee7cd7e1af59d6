import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { AuditLog } from './audit-log.js';
import { verifyChain } from './verify-chain.js';

const DAY_MS = 86_400_000;

export interface PruneResult {
  pruned: number;
  upto: number;
}

/**
 * Deletes events older than `retainDays`. First it appends an `audit.prune` anchor holding the hash of the
 * last event it removes, then raises audit_control.prune_upto (which the delete trigger honours), then
 * deletes, all in one transaction: the remaining chain verifies from the anchor.
 */
export function pruneAudit(db: Db, audit: AuditLog, retainDays: number, now = new Date()): PruneResult | undefined {
  const cutoff = new Date(now.getTime() - retainDays * DAY_MS).toISOString();
  return db.transaction((): PruneResult | undefined => {
    const upto0 = db.prepare('SELECT prune_upto FROM audit_control WHERE id = 1').pluck().get() as number;
    const last = db
      .prepare('SELECT id, hash FROM audit_events WHERE time < ? AND id > ? ORDER BY id DESC LIMIT 1')
      .get(cutoff, upto0) as { id: number; hash: string } | undefined;
    if (!last) return undefined;
    const pruned = db.prepare('SELECT count(*) FROM audit_events WHERE id <= ?').pluck().get(last.id) as number;
    audit.append({
      kind: 'audit.prune',
      reasons: [`retention: removed ${pruned} events older than ${retainDays} days (before ${cutoff})`],
      evidence: { upto: last.id, lastPrunedHash: last.hash, before: cutoff, pruned },
    });
    db.prepare('UPDATE audit_control SET prune_upto = ? WHERE id = 1').run(last.id);
    db.prepare('DELETE FROM audit_events WHERE id <= ?').run(last.id);
    return { pruned, upto: last.id };
  }).immediate();
}

/**
 * Runs retention now and daily. A log whose chain does not verify is left alone: pruning would destroy
 * the evidence of what was changed.
 */
export function scheduleRetention(db: Db, audit: AuditLog, retainDays: number, log: Logger): { stop(): void } {
  let stopped = false;
  const run = async () => {
    try {
      const report = await verifyChain(db);
      if (stopped) return;
      if (!report.ok) {
        log.error('audit log does not verify; retention skipped', { firstBroken: report.firstBroken, reason: report.reason });
        return;
      }
      const result = pruneAudit(db, audit, retainDays);
      if (result) log.info('audit retention pruned events', { ...result, retainDays });
    } catch (err) {
      if (!stopped) log.error('audit retention failed', { error: String(err) });
    }
  };
  void run();
  const timer = setInterval(() => void run(), DAY_MS);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
