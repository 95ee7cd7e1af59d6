import { ConsoleSessions } from '../auth/console-sessions.js';
import type { ConsoleSso } from '../auth/console-sso-routes.js';
import { ConsoleProvider } from '../auth/oidc-console.js';
import type { AuditLog } from '../audit/audit-log.js';
import { RefusalAudit } from '../audit/refusal-audit.js';
import type { Config } from '../config/types.js';
import type { Database } from '../db/types.js';
import type { Logger } from '../logger.js';

/**
 * Single sign-on of people when `auth.oidc.console` is set. The provider is looked up in the background:
 * start-up never waits for it, and a provider that is down leaves token sign-in as it is.
 */
export function consoleSso(config: Config, db: Database, audit: AuditLog, log: Logger): ConsoleSso | undefined {
  const settings = config.auth.oidc?.console;
  if (!settings) return undefined;
  const provider = new ConsoleProvider(settings, log);
  void provider.status();
  const secure = config.tls !== undefined || settings.redirectUrl?.startsWith('https:') === true;
  return {
    provider, sessions: new ConsoleSessions(db.sessions, settings.sessionTtlMs), secure, audit, log,
    refusals: new RefusalAudit(audit, log, config.server?.workers ?? 1),
  };
}
