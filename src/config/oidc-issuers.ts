import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { OidcIssuerConfig } from './types.js';

export type { OidcIssuerConfig };
import { DURATION_PATTERN, parseDuration, readDuration } from '../text/duration.js';

/**
 * `auth.oidc.issuers`: JWT issuers whose tokens name machines (CI jobs, Kubernetes service accounts) that
 * may pull. Shape checked here; patterns, globs and the key file are checked by `checkOidcIssuers` at load.
 */

/** Signature algorithms accepted by default: asymmetric only (no `none`, no HMAC, whose key would be public). */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

const nonEmpty = (what = 'must be a non-empty string') => z.string({ error: what }).min(1, what);
const strings = z.record(z.string(), nonEmpty('must be a string'), { error: 'must be an object of claim names to strings' });

export const oidcIssuerSchema = z
  .strictObject(
    {
      name: nonEmpty().optional().describe('Shown in the audit log beside the subject (default: the issuer\'s host)'),
      issuer: nonEmpty('must be the issuer URL').describe('The `iss` the tokens carry, e.g. https://token.actions.githubusercontent.com'),
      audience: z.union([nonEmpty(), z.array(nonEmpty()).min(1, 'must list at least one audience')], { error: 'must be a string or an array of strings' })
        .describe('The `aud` a token must carry (any of these)'),
      role: z.enum(['puller', 'auditor', 'admin'], { error: 'must be one of "puller", "auditor", "admin"' }).default('puller')
        .describe('What a token meeting this entry\'s rules may do'),
      subject: nonEmpty().optional().describe('The exact `sub` accepted'),
      subjectRegExp: nonEmpty().optional().describe('An RE2 pattern the whole `sub` must match'),
      claims: strings.optional().describe('Claims that must equal these values, e.g. {"repository": "org/app"}'),
      claimsRegExp: strings.optional().describe('Claims whose whole value must match these RE2 patterns'),
      repositories: z.array(nonEmpty(), { error: 'must be an array of globs' }).optional()
        .describe('Globs over <upstream>/<repository> this identity may pull (default: any the policy allows)'),
      jwksFile: nonEmpty().optional().describe('A JWKS file to take keys from instead of the issuer\'s discovery document (air-gapped sites)'),
      minKeyRefresh: z.string({ error: 'must be a duration such as "30s"' })
        .regex(new RegExp(DURATION_PATTERN), 'must be a duration such as "30s"')
        .refine((d) => 'ms' in readDuration(d, { min: 1000, max: 3_600_000 }), 'must be a duration from 1s to 1h')
        .default('30s')
        .describe('Shortest wait between two fetches of the keys when a token names a key not known yet (key rotation)'),
      maxKeyAge: z.string({ error: 'must be a duration such as "10m"' })
        .regex(new RegExp(DURATION_PATTERN), 'must be a duration such as "10m"')
        .refine((d) => 'ms' in readDuration(d, { min: 1000, max: 3_600_000 }), 'must be a duration from 1s to 1h')
        .default('10m')
        .describe('Keys are fetched again once this old, so a key the issuer dropped (rotated after a compromise) is refused within this time'),
      algorithms: z.array(z.enum(JWT_ALGORITHMS, { error: `must be one of ${JWT_ALGORITHMS.join(', ')}` })).min(1).optional()
        .describe('Signature algorithms accepted (default: every RSA, ECDSA and EdDSA one; never none or HMAC)'),
    },
    { error: 'must be an object' },
  )
  .refine(
    (i) => i.subject !== undefined || i.subjectRegExp !== undefined || Object.keys(i.claims ?? {}).length > 0 || Object.keys(i.claimsRegExp ?? {}).length > 0,
    'needs subject, subjectRegExp, claims or claimsRegExp: an issuer such as a CI service signs tokens for everyone who uses it',
  );

export type OidcIssuerInput = z.output<typeof oidcIssuerSchema>;


type ErrorSink = (path: string, message: string) => void;

/** The policy's checks of RE2 patterns and repository globs (the policy layer sits above the config's). */
export interface PatternChecks {
  regExpError(pattern: string): string | undefined;
  globError(glob: string): string | undefined;
}

/** Checks what the shape cannot (URL, patterns, globs, the key file) and resolves paths; invalid entries are left out. */
export function checkOidcIssuers(list: readonly OidcIssuerInput[], at: (p: string) => string, checks: PatternChecks, error: ErrorSink): OidcIssuerConfig[] {
  const { regExpError, globError } = checks;
  const out: OidcIssuerConfig[] = [];
  const names = new Set<string>();
  list.forEach((i, n) => {
    const p = `auth.oidc.issuers[${n}]`;
    let failed = false;
    const fail: ErrorSink = (path, message) => {
      failed = true;
      error(path, message);
    };
    let host = i.issuer;
    try {
      const url = new URL(i.issuer);
      host = url.host;
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname)) && i.jwksFile === undefined) {
        fail(`${p}.issuer`, 'must be an https:// URL (http:// only on a loopback address), or give jwksFile');
      }
    } catch {
      if (i.jwksFile === undefined) fail(`${p}.issuer`, 'must be a URL (its discovery document gives the keys), or give jwksFile');
    }
    const name = i.name ?? host;
    if (names.has(name)) fail(`${p}.name`, `duplicates issuer name "${name}"; give each entry its own name`);
    names.add(name);
    if (i.subjectRegExp !== undefined) {
      const e = regExpError(i.subjectRegExp);
      if (e) fail(`${p}.subjectRegExp`, e);
    }
    for (const [claim, pattern] of Object.entries(i.claimsRegExp ?? {})) {
      const e = regExpError(pattern);
      if (e) fail(`${p}.claimsRegExp.${claim}`, e);
    }
    (i.repositories ?? []).forEach((glob, g) => {
      const e = globError(glob);
      if (e) fail(`${p}.repositories[${g}]`, e);
    });
    let jwksFile: string | undefined;
    if (i.jwksFile !== undefined) {
      jwksFile = at(i.jwksFile);
      const e = jwksFileError(jwksFile);
      if (e) fail(`${p}.jwksFile`, e);
    }
    if (failed) return;
    out.push({
      name,
      issuer: i.issuer,
      audience: typeof i.audience === 'string' ? [i.audience] : i.audience,
      role: i.role,
      ...(i.subject !== undefined ? { subject: i.subject } : {}),
      ...(i.subjectRegExp !== undefined ? { subjectRegExp: i.subjectRegExp } : {}),
      claims: i.claims ?? {},
      claimsRegExp: i.claimsRegExp ?? {},
      ...(i.repositories ? { repositories: i.repositories } : {}),
      ...(jwksFile ? { jwksFile } : {}),
      algorithms: i.algorithms ?? [...JWT_ALGORITHMS],
      minKeyRefreshMs: parseDuration(i.minKeyRefresh)!,
      maxKeyAgeMs: parseDuration(i.maxKeyAge)!,
    });
  });
  return out;
}

/** Why a JWKS file cannot be used, or undefined. */
export function jwksFileError(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  try {
    const jwks = JSON.parse(text) as { keys?: unknown };
    if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) return `${path} is not a JWKS: it needs a non-empty "keys" array`;
  } catch {
    return `${path} is not JSON`;
  }
  return undefined;
}

export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === '[::1]' || hostname === '::1';
}
