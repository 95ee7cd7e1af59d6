import type { AuditStore } from '../db/types.js';
import type { Logger } from '../logger.js';
import { sealOne } from './audit-log.js';
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
export function pruneAudit(store: AuditStore, retainDays: number, now = new Date()): Promise<PruneResult | undefined> {
  const cutoff = new Date(now.getTime() - retainDays * DAY_MS).toISOString();
  return store.prune(cutoff, ({ upto, lastHash, pruned }) =>
    sealOne({
      kind: 'audit.prune',
      reasons: [`retention: removed ${pruned} events older than ${retainDays} days (before ${cutoff})`],
      evidence: { upto, lastPrunedHash: lastHash, before: cutoff, pruned },
    }),
  ).then((plan) => plan && { pruned: plan.pruned, upto: plan.upto });
}

/**
 * Runs retention now and daily. A log whose chain does not verify is left alone: pruning would destroy
 * the evidence of what was changed.
 */
export function scheduleRetention(store: AuditStore, retainDays: number, log: Logger): { stop(): void } {
  let stopped = false;
  const run = async () => {
    try {
      const report = await verifyChain(store);
      if (stopped) return;
      if (!report.ok) {
        log.error('audit log does not verify; retention skipped', { firstBroken: report.firstBroken, reason: report.reason });
        return;
      }
      const result = await pruneAudit(store, retainDays);
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
