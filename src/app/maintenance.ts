import type { KeyObject } from 'node:crypto';
import type { ChainOutcome } from '../audit/chain-alarm.js';
import { Checkpointer, checkpointKeyId } from '../audit/checkpointer.js';
import { scheduleRetention } from '../audit/retention.js';
import type { Config } from '../config/types.js';
import type { CacheIndex } from '../db/cache-index.js';
import { DEFAULT_LINK_RETENTION_MS, scheduleLinkSweep } from '../db/link-sweep.js';
import type { AuditStore } from '../db/types.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

export interface MaintenanceServices {
  audit: AuditStore;
  index: CacheIndex;
  log: Logger;
  metrics: Metrics;
  /** The checkpoint signing key, when `audit.checkpoint` is configured. */
  checkpointKey?: KeyObject;
  /** Told every whole-chain verification's outcome (metric, and an event for a break). */
  chainChecked: (outcome: ChainOutcome) => void;
}

export interface Maintenance {
  /** Stops the retention and link-sweep timers. */
  stopTimers(): void;
  /** Writes a last checkpoint covering every event this process wrote, then stops. */
  stopCheckpoints(): Promise<void>;
}

/**
 * The upkeep timers: audit retention, the sweep of stale repository links, and signed checkpoints of the chain
 * head. Only the upkeep process runs them (`enabled`).
 */
export function maintenance(config: Config, enabled: boolean, s: MaintenanceServices): Maintenance {
  const { log, metrics, checkpointKey } = s;
  const retention = enabled && config.audit.retainDays !== undefined
    ? scheduleRetention(s.audit, config.audit.retainDays, log)
    : undefined;
  const linkSweep = enabled ? scheduleLinkSweep(s.index, config.storage.linkRetentionMs ?? DEFAULT_LINK_RETENTION_MS, log) : undefined;
  const checkpointCfg = config.audit.checkpoint;
  const checkpointer = enabled && checkpointCfg && checkpointKey
    ? new Checkpointer(s.audit, { key: checkpointKey, file: checkpointCfg.file, everyMs: checkpointCfg.everyMs, everyEvents: checkpointCfg.everyEvents }, log, s.chainChecked).start()
    : undefined;
  if (checkpointer && checkpointKey) log.info('writing audit checkpoints', { keyId: checkpointKeyId(checkpointKey), file: checkpointCfg?.file ?? null });
  return {
    stopTimers() {
      retention?.stop();
      linkSweep?.stop();
    },
    async stopCheckpoints() {
      await checkpointer?.stop();
    },
  };
}
