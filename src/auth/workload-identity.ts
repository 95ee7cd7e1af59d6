import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import type { OidcIssuerConfig } from '../config/oidc-issuers.js';
import { anchored } from '../policy/identity-match.js';
import { DEFAULT_MAX_KEY_AGE_MS, IssuerKeys, KeysUnavailable } from './issuer-keys.js';
import type { Identity } from './token-registry.js';

/** Longer than any real workload token (GitHub's are ~1.5 KiB, Kubernetes' ~1 KiB); longer ones are not parsed. */
const MAX_TOKEN_CHARS = 8192;
/** Leeway for clocks that disagree a little on `exp`, `nbf` and `iat`. */
const CLOCK_TOLERANCE_S = 30;

/** A machine's identity from a verified JWT; `repositories` narrows what it may pull. */
export interface WorkloadIdentity extends Identity {
  /** When the token expires (ms): a bearer token issued for it lives no longer. */
  expiresAt: number;
}

const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;

/**
 * Accepts JWTs from the configured issuers (`auth.oidc.issuers`) as credentials. A token is checked in
 * this order, and refused with the first reason: shape and size, algorithm (never `none` or HMAC: an HMAC
 * "signature" made with a public key proves nothing), a trusted `iss`, the signature against the issuer's
 * keys, `exp`/`nbf`, then the audience and the entry's subject and claim rules. The first entry for the
 * issuer whose rules hold gives the role, and the identity is named by its `sub` and the claims the rules
 * used, as the audit log shows it. Reasons quote only claims of verified tokens (and the unverified `iss`
 * and `alg`, clipped); never the token.
 */
export class WorkloadVerifier {
  private readonly byIssuer = new Map<string, { entries: OidcIssuerConfig[]; keys: IssuerKeys; algorithms: string[] }>();

  constructor(issuers: readonly OidcIssuerConfig[]) {
    const grouped = new Map<string, OidcIssuerConfig[]>();
    for (const entry of issuers) grouped.set(entry.issuer, [...(grouped.get(entry.issuer) ?? []), entry]);
    for (const [issuer, entries] of grouped) {
      const first = entries[0]!;
      const source = first.jwksFile ? { kind: 'file' as const, path: first.jwksFile } : { kind: 'discovery' as const, issuer };
      // Entries for one issuer share its keys; the shortest bounds of any entry hold for all.
      const minRefreshMs = Math.min(...entries.map((e) => e.minKeyRefreshMs));
      const maxAgeMs = Math.min(...entries.map((e) => e.maxKeyAgeMs ?? DEFAULT_MAX_KEY_AGE_MS));
      const algorithms = [...new Set(entries.flatMap((e) => e.algorithms))];
      this.byIssuer.set(issuer, { entries, keys: new IssuerKeys(source, { minRefreshMs, maxAgeMs }), algorithms });
    }
  }

  /** Whether a credential has the shape of a JWT (anything else is a configured or issued token). */
  static looksLikeJwt(value: string): boolean {
    return value.startsWith('eyJ') && (value.length > MAX_TOKEN_CHARS || JWT_SHAPE.test(value));
  }

  async verify(token: string): Promise<{ identity: WorkloadIdentity } | { reason: string }> {
    if (token.length > MAX_TOKEN_CHARS) return { reason: `JWT refused: longer than ${MAX_TOKEN_CHARS} characters` };
    let alg: unknown;
    let iss: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
      iss = decodeJwt(token).iss;
    } catch {
      return { reason: 'JWT refused: not a well-formed JWT (three base64url parts: a JSON header, a JSON payload, a signature)' };
    }
    if (typeof alg !== 'string' || alg.toLowerCase() === 'none') return { reason: 'JWT refused: unsigned (alg "none")' };
    if (/^HS/i.test(alg)) return { reason: `JWT refused: HMAC-signed (alg ${shown(alg)}); only issuers' public-key signatures are accepted` };
    if (typeof iss !== 'string') return { reason: 'JWT refused: it names no issuer (iss)' };
    const issuer = this.byIssuer.get(iss);
    if (!issuer) return { reason: `JWT refused: issuer ${shown(iss)} is not trusted (auth.oidc.issuers)` };
    if (!issuer.algorithms.includes(alg)) return { reason: `JWT refused: algorithm ${shown(alg)} is not accepted for issuer ${iss}` };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, issuer.keys.resolve, {
        issuer: iss,
        algorithms: issuer.algorithms,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      return { reason: `JWT refused: ${verifyFailure(err, iss)}` };
    }
    return this.admit(payload, issuer.entries);
  }

  /** The first entry whose audience and rules the verified claims meet, or why none does. */
  private admit(claims: JWTPayload, entries: readonly OidcIssuerConfig[]): { identity: WorkloadIdentity } | { reason: string } {
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    const forAudience = entries.filter((e) => e.audience.some((a) => audiences.includes(a)));
    if (forAudience.length === 0) {
      return { reason: `JWT refused: audience ${shown(audiences.join(', ') || '(none)')} is not accepted for issuer ${claims.iss}; it must be ${entries.flatMap((e) => e.audience).map(shown).join(' or ')}` };
    }
    const sub = String(claims.sub);
    let firstMiss = '';
    for (const entry of forAudience) {
      const miss = ruleMiss(entry, claims);
      if (miss === undefined) return { identity: identityOf(entry, claims) };
      firstMiss ||= miss;
    }
    const rules = forAudience.length === 1 ? `the rule of ${forAudience[0]!.name}` : `any of ${forAudience.length} rules for issuer ${claims.iss}`;
    return { reason: `JWT refused: subject ${shown(sub)} does not meet ${rules}: ${firstMiss}` };
  }
}

/** Why the claims miss the entry's subject and claim rules, or undefined when they meet them. */
function ruleMiss(entry: OidcIssuerConfig, claims: JWTPayload): string | undefined {
  const sub = String(claims.sub);
  if (entry.subject !== undefined && sub !== entry.subject) return `sub must be ${shown(entry.subject)}`;
  if (entry.subjectRegExp !== undefined && !anchored(entry.subjectRegExp).test(sub)) return `sub must match ${shown(entry.subjectRegExp)}`;
  for (const [name, want] of Object.entries(entry.claims)) {
    const value = claims[name];
    if (value !== want) return `claim ${name} is ${typeof value === 'string' ? shown(value) : 'missing'}, must be ${shown(want)}`;
  }
  for (const [name, pattern] of Object.entries(entry.claimsRegExp)) {
    const value = claims[name];
    if (typeof value !== 'string' || !anchored(pattern).test(value)) return `claim ${name} is ${typeof value === 'string' ? shown(value) : 'missing'}, must match ${shown(pattern)}`;
  }
  return undefined;
}

/** `<sub> (<entry>; claim=value, …)`: the workload as the audit log names it, with the claims its rule used. */
function identityOf(entry: OidcIssuerConfig, claims: JWTPayload): WorkloadIdentity {
  const used = [...new Set([...Object.keys(entry.claims), ...Object.keys(entry.claimsRegExp)])].map((k) => `${k}=${clean(String(claims[k]))}`);
  const name = `${clean(String(claims.sub))} (${[entry.name, used.join(', ')].filter(Boolean).join('; ')})`;
  return {
    name: name.slice(0, 1024),
    role: entry.role,
    ...(entry.repositories ? { repositories: entry.repositories } : {}),
    expiresAt: (claims.exp ?? 0) * 1000,
  };
}

/** The client-facing reason for a failed verification. */
function verifyFailure(err: unknown, iss: string): string {
  if (err instanceof KeysUnavailable) return `the keys of issuer ${iss} could not be fetched: ${err.message}`;
  if (err instanceof errors.JWTExpired) return `expired (exp ${instant(err.payload.exp)})`;
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return `not valid yet (nbf ${instant(err.payload.nbf)})`;
    if (err.claim === 'iat') return `issued in the future (iat ${instant(err.payload.iat)})`;
    return `claim ${err.claim} ${err.reason === 'missing' ? 'is missing' : 'is invalid'}`;
  }
  if (err instanceof errors.JWKSNoMatchingKey) return `no key of issuer ${iss} matches the token's key id (its keys were fetched again and still lack it)`;
  if (err instanceof errors.JWKSMultipleMatchingKeys) return `the token names no key id and issuer ${iss} has several keys`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature invalid';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not accepted';
  if (err instanceof errors.JOSEError) return `invalid (${err.code})`;
  return `could not be verified: ${(err as Error).message}`;
}

function instant(seconds: unknown): string {
  return typeof seconds === 'number' && Number.isFinite(seconds) && Math.abs(seconds) < 1e11 ? new Date(seconds * 1000).toISOString() : String(seconds);
}

/** A value quoted for a message: clipped, control characters escaped. */
function shown(value: string): string {
  return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
}

/** A claim for an identity name: printable, clipped. */
function clean(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 256);
}
