import type { Config } from './config/types.js';
import type { PolicyVersions } from './db/policy-versions.js';
import type { Logger } from './logger.js';
import { policyWarnings } from './policy/policy-warnings.js';
import { withoutCredentials } from './http/failure-info.js';
import { packageVersion } from './version.js';

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

/** What the one human start-up line needs beyond the config. */
export interface StartupFacts {
  port: number;
  policyVersion: number;
  /** Whether the console's files are there to serve (they are built with `npm run build`). */
  consoleBuilt: boolean;
}

/**
 * One line for the person who just started the proxy (stderr; the JSON logs on stdout are for machines):
 * where it listens, where the console is or why it is off, the upstreams and the active policy version.
 */
export function startupLine(config: Config, facts: StartupFacts): string {
  const scheme = config.tls ? 'https' : 'http';
  const host = config.listen.host;
  const listening = `${scheme}://${urlHost(host)}:${facts.port}`;
  // A wildcard address is not one a browser can open; the same machine reaches it on loopback.
  const local = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const consoleUrl = `${scheme}://${urlHost(local)}:${facts.port}/ui/`;
  const console = !facts.consoleBuilt
    ? 'off (not built: run npm run build)'
    : config.auth.tokens.length === 0
      ? `${consoleUrl} (no auth.tokens: nobody can sign in)`
      : consoleUrl;
  const upstreams = config.upstreams.map((u) => u.name).join(', ');
  return `portcullis ${packageVersion()} listening on ${listening} (console: ${console}; upstreams: ${upstreams}; policy version ${facts.policyVersion})`;
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
