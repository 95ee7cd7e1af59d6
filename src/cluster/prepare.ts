import type { Config } from '../config/types.js';
import type { Logger } from '../logger.js';
import { openDatabase } from '../db/database.js';
import { PolicyVersions } from '../db/policy-versions.js';
import { AuditLog } from '../audit/audit-log.js';
import { BlobStore } from '../store/blob-store.js';

/**
 * What the supervisor does once before forking workers, so that they do not race on it: run the database
 * migrations, adopt the config file's policies when they changed, and clear partial downloads of dead
 * processes from the store.
 */
export function prepareSharedState(config: Config, log: Logger): void {
  const { discardedTempFiles } = new BlobStore(config.storage.path).open();
  if (discardedTempFiles > 0) log.info('discarded partial downloads from an earlier run', { files: discardedTempFiles });
  const db = openDatabase(config.database.path);
  try {
    const { version, created } = new PolicyVersions(db, new AuditLog(db)).syncFromConfig(config.policies, config.source);
    log.info(created ? 'adopted the config file policies' : 'policy unchanged', { version });
  } finally {
    db.close();
  }
}
