import type { Config } from './config/types.js';
import type { PolicyVersions } from './db/policy-versions.js';
import type { Logger } from './logger.js';
import { policyWarnings } from './policy/policy-warnings.js';
import { withoutCredentials } from './http/failure-info.js';

/**
 * What an operator needs from the start-up log to explain later decisions: the active policy version and
 * where it came from, the upstreams (without credentials), the trust material, and any policy warning.
 */
export async function logStartup(log: Logger, config: Config, policies: PolicyVersions): Promise<void> {
  const active = policies.current();
  const stored = await policies.get(active.version);
  log.info('active policy', {
    version: active.version,
    rules: active.rules.length,
    source: stored?.source ?? null,
    // A config version holds this file's rules: a different file's would have become a new version at start.
    from: stored?.source === 'config' ? config.source : `admin API or CLI (by ${stored?.author ?? 'unknown'})`,
    time: stored?.time ?? null,
  });
  log.info('upstreams', {
    upstreams: config.upstreams.map((u) => ({ name: u.name, url: withoutCredentials(u.url), credentials: Boolean(u.username) })),
    defaultUpstream: config.defaultUpstream ?? null,
  });
  log.info('trust material', {
    trustedRoot: config.trust.trustedRoot,
    roots: config.trust.roots ?? {},
    keys: Object.keys(config.trust.keys),
  });
  for (const w of policyWarnings(active.rules, new Set(config.upstreams.map((u) => u.name)))) {
    log.warn('policy warning', { version: active.version, path: w.path, warning: w.message });
  }
}
