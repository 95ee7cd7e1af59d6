import { z } from 'zod';
import { DURATION_PATTERN, durationMessage, readDuration } from '../text/duration.js';
import type { OidcConsoleConfig } from './types.js';

/**
 * `auth.oidc.console`: the OpenID Connect provider people sign in to the console and the API with. Its
 * own file so that the schema of the config stays readable; load.ts resolves the secret and durations.
 */

const text = () => z.string({ error: 'must be a non-empty string' }).min(1, 'must be a non-empty string');

const httpUrl = (what: string) =>
  z.string({ error: `must be ${what}` }).superRefine((s, ctx) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: `must be ${what}` });
      return;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must be an http or https URL' });
    if (u.username || u.password) ctx.addIssue({ code: 'custom', message: 'must not contain credentials' });
  });

export const CALLBACK_PATH = '/auth/console/callback';

const LIFETIME = { min: 60_000, max: 86_400_000 };
const lifetime = z
  .string({ error: durationMessage(LIFETIME) })
  .regex(new RegExp(DURATION_PATTERN), durationMessage(LIFETIME))
  .refine((s) => !('error' in readDuration(s, LIFETIME)), durationMessage(LIFETIME));

/** Claim name → values; any one value present in that claim grants the role. */
const claimRule = z.record(
  z.string().min(1, 'a claim name must be non-empty'),
  z.array(text(), { error: 'must be an array of claim values' }).min(1, 'must list at least one value'),
  { error: 'must be an object of claim name → values, such as {"groups": ["platform-admins"]}' },
);

export const oidcConsoleSchema = z.strictObject({
  issuer: httpUrl('the issuer URL, such as "https://login.example.com/realms/main"').describe('Issuer URL; its discovery document is read from <issuer>/.well-known/openid-configuration'),
  name: text().optional().describe('What the console\'s button says: "Sign in with <name>" (default: the issuer\'s host)'),
  clientId: text().describe('Client id registered at the provider'),
  clientSecretEnv: text().optional().describe('Environment variable holding the client secret (none: a public client with PKCE only)'),
  scopes: z.array(text(), { error: 'must be an array of scope names' }).default(['openid', 'email', 'profile']).describe('Scopes asked for ("openid" is always added)'),
  redirectUrl: httpUrl('an http(s) URL ending in /auth/console/callback')
    .refine((s) => { try { return new URL(s).pathname === CALLBACK_PATH; } catch { return true; } }, `must end in ${CALLBACK_PATH}`)
    .optional().describe(`The callback registered at the provider (default: this server's address + ${CALLBACK_PATH})`),
  nameClaim: text().default('email').describe('Claim that names the person in the audit log (then "preferred_username", then "sub")'),
  roles: z.strictObject({
    admin: claimRule.optional().describe('Claim name → values that grant admin'),
    auditor: claimRule.optional().describe('Claim name → values that grant auditor'),
    puller: claimRule.optional().describe('Claim name → values that grant puller'),
  }, { error: 'must be an object such as {"admin": {"groups": ["platform-admins"]}}' })
    .describe('Role → claim name → values; a person gets the highest role any of whose values a claim holds, none: refused'),
  sessionTtl: lifetime.default('1h').describe('A console session ends this long after sign-in'),
}, { error: 'must be an object' });

export type RawOidcConsole = z.output<typeof oidcConsoleSchema>;

/** The validated section as the server uses it: the secret read from its variable, durations in ms. */
export function oidcConsoleOf(
  o: RawOidcConsole,
  env: NodeJS.ProcessEnv,
  secretsRequired: boolean,
  error: (path: string, message: string) => void,
): OidcConsoleConfig {
  const p = 'auth.oidc.console';
  let clientSecret: string | undefined;
  if (o.clientSecretEnv !== undefined) {
    clientSecret = env[o.clientSecretEnv] || undefined;
    if (!clientSecret && secretsRequired) error(`${p}.clientSecretEnv`, `environment variable ${o.clientSecretEnv} is not set`);
  }
  const roles = Object.fromEntries(Object.entries(o.roles).filter(([, rule]) => rule !== undefined && Object.keys(rule).length > 0));
  if (Object.keys(roles).length === 0) error(`${p}.roles`, 'must map at least one role to claim values, such as {"admin": {"groups": ["platform-admins"]}}: without one nobody could sign in');
  const scopes = o.scopes.includes('openid') ? o.scopes : ['openid', ...o.scopes];
  const sessionTtl = readDuration(o.sessionTtl, LIFETIME);
  return {
    issuer: o.issuer,
    name: o.name ?? hostOf(o.issuer),
    clientId: o.clientId,
    ...(clientSecret ? { clientSecret } : {}),
    scopes,
    ...(o.redirectUrl ? { redirectUrl: o.redirectUrl } : {}),
    nameClaim: o.nameClaim,
    roles,
    sessionTtlMs: 'error' in sessionTtl ? 3_600_000 : sessionTtl.ms,
  };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
