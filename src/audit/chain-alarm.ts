import type { Logger } from '../logger.js';
import type { AuditEventInput } from './types.js';

/** What a whole-chain check found: the first event that does not verify (null: intact), and why. */
export interface ChainOutcome {
  firstBroken: number | null;
  reason?: string;
}

/**
 * Told the outcome of every chain check (the API's verify, the checkpointer's): keeps the metric and, for each
 * break it has not reported yet, appends an `audit.chain.broken` event, so auditors and webhooks hear of it.
 * The event chains onto the current head; the break it names lies before it and stays where it is.
 */
export function chainAlarm(
  audit: { record(input: AuditEventInput): Promise<number> },
  metrics: { chainChecked(intact: boolean): void },
  log: Logger,
): (outcome: ChainOutcome) => void {
  const reported = new Set<number>();
  return ({ firstBroken, reason }) => {
    metrics.chainChecked(firstBroken === null);
    if (firstBroken === null || reported.has(firstBroken)) return;
    reported.add(firstBroken);
    audit
      .record({
        kind: 'audit.chain.broken',
        reasons: [`the audit log does not verify from event ${firstBroken}: ${reason ?? 'its hash chain is broken'}`],
        evidence: { firstBroken },
      })
      .catch((err: unknown) => log.error('could not record that the audit chain is broken', { error: String(err) }));
  };
}
