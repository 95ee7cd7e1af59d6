import type { Config } from '../config/types.js';
import { PolicyVersions } from '../db/policy-versions.js';
import { TrustChanges } from '../db/trust-changes.js';
import type { Database } from '../db/types.js';
import type { Logger } from '../logger.js';
import { logStartup } from '../startup-report.js';

/**
 * The policy versions and the trust changes (revocations, exceptions) held in the database, loaded and watched.
 * Upkeep (`maintenance`) adopts the config file's policies when they changed; otherwise the stored policy is
 * used as it is, unless there is none yet.
 */
export async function storedState(config: Config, db: Database, log: Logger, maintenance: boolean): Promise<{ policies: PolicyVersions; trustChanges: TrustChanges }> {
  const policies = new PolicyVersions(db.policies);
  if (maintenance || !(await policies.hasVersions())) await policies.syncFromConfig(config.policies, config.source);
  else await policies.load();
  policies.watch();
  if (maintenance) await logStartup(log, config, policies);
  const trustChanges = new TrustChanges(db.trust);
  await trustChanges.load();
  trustChanges.watch(maintenance);
  return { policies, trustChanges };
}
