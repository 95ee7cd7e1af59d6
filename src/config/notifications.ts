import type { NotificationsConfig, WebhookConfig } from './types.js';
import type { RawConfig } from './schema.js';
import { parseDuration } from './units.js';

type Section = NonNullable<RawConfig['notifications']>;

/**
 * `notifications`: names unique (a webhook without one is named by its URL's host) and, when serving, each
 * signing key present in the environment. The key is kept in memory only; the config never logs it.
 */
export function checkNotifications(
  o: Section | undefined,
  env: NodeJS.ProcessEnv,
  secretsRequired: boolean,
  error: (path: string, message: string) => void,
): NotificationsConfig | undefined {
  if (!o) return undefined;
  const names = new Set<string>();
  const webhooks: WebhookConfig[] = [];
  o.webhooks.forEach((w, i) => {
    const p = `notifications.webhooks[${i}]`;
    const name = w.name ?? new URL(w.url).host;
    if (names.has(name)) error(`${p}.name`, w.name ? `duplicates webhook "${name}"` : `another webhook is also named "${name}" (its host): give each a name`);
    names.add(name);
    const secret = env[w.secretEnv];
    if (!secret && secretsRequired) error(`${p}.secretEnv`, `environment variable ${w.secretEnv} is not set`);
    webhooks.push({ name, url: w.url, events: w.events, decisions: w.decisions, secret: secret ?? '', headers: w.headers ?? {} });
  });
  return {
    webhooks,
    timeoutMs: parseDuration(o.timeout)!,
    retryBackoffMs: parseDuration(o.retryBackoff)!,
    maxAttempts: o.maxAttempts,
    maxPending: o.maxPending,
  };
}
