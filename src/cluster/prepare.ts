import type { Config } from '../config/types.js';
import type { Logger } from '../logger.js';
import { openDatabase } from '../db/open-database.js';
import { PolicyVersions } from '../db/policy-versions.js';
import { createBlobStore } from '../store/create-blob-store.js';

/**
 * What the supervisor does once before forking workers, so that they do not race on it: run the database
 * migrations, adopt the config file's policies when they changed, and clear partial downloads of dead
 * processes from the store.
 */
export async function prepareSharedState(config: Config, log: Logger): Promise<void> {
  const { discardedTempFiles } = await (await createBlobStore(config)).open();
  if (discardedTempFiles > 0) log.info('discarded partial downloads from an earlier run', { files: discardedTempFiles });
  const db = await openDatabase(config.database);
  try {
    const { version, created } = await new PolicyVersions(db.policies).syncFromConfig(config.policies, config.source);
    log.info(created ? 'adopted the config file policies' : 'policy unchanged', { version });
  } finally {
    await db.close();
  }
}
