import { dirname, join } from 'node:path';
import type { Config } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { PolicyRule, PolicySource } from '../policy/types.js';
import { RefreshingTrust } from '../verify/trust-refresh.js';

/**
 * The Sigstore trusted root, refreshed while some rule relies on it. Upkeep processes refresh it; the others
 * reload it when told.
 */
export function trustRefresher(config: Config, log: Logger, policy: PolicySource, refresh: boolean): RefreshingTrust {
  // The refreshed trusted root is kept beside the SQLite file, or beside the store when the database is a server.
  const trustDir = join(dirname(config.database.path ?? config.storage.path), 'trust');
  const trust = new RefreshingTrust(config.trust, trustDir, log, () =>
    policy.current().rules.some(needsTrustedRoot),
  );
  if (refresh) trust.start();
  return trust;
}

/** Whether a rule relies on the Sigstore root (certificates, logs), not only on configured keys. */
function needsTrustedRoot(rule: PolicyRule): boolean {
  if (rule.mode !== 'enforce' && rule.mode !== 'warn') return false;
  const entries = [...(rule.signatures?.anyOf ?? []), ...(rule.provenance?.signedBy.anyOf ?? [])];
  // A keyless entry naming another root relies on that file, not on the refreshed default root.
  return entries.some((e) => ('keyless' in e && !e.keyless.root) || ('key' in e && e.tlog === 'required'));
}
