import type { NotationSigner } from '../verify/types.js';
import { dnMatches, parseDn } from '../verify/notation/dn.js';
import type { NotationRequirement } from './types.js';

type Err = (path: string, message: string) => void;

const SUBJECT_PREFIX = 'x509.subject:';
const STORE = /^(ca|signingAuthority):\S+$/;
const TSA_STORE = /^tsa:\S+$/;

/**
 * A `notation` entry of an anyOf list, in `notation`'s own trust-policy words: `trustStores`
 * (`ca:<name>`, `signingAuthority:<name>`), `trustedIdentities` (`"*"` or `x509.subject: <DN>`), and `tsa`.
 */
export function validateNotationRequirement(req: Record<string, unknown>, at: string, err: Err): void {
  for (const k of Object.keys(req)) if (k !== 'notation') err(`${at}.${k}`, 'unknown field');
  const n = req.notation;
  if (typeof n !== 'object' || n === null || Array.isArray(n)) return err(`${at}.notation`, 'must be an object with trustStores and trustedIdentities');
  const entry = n as Record<string, unknown>;
  for (const k of Object.keys(entry)) if (!['trustStores', 'trustedIdentities', 'tsa'].includes(k)) err(`${at}.notation.${k}`, 'unknown field');
  strings(entry.trustStores, `${at}.notation.trustStores`, err, (s) => (STORE.test(s) ? undefined : 'must be "ca:<name>" or "signingAuthority:<name>"'));
  strings(entry.trustedIdentities, `${at}.notation.trustedIdentities`, err, identityError);
  if (entry.tsa !== undefined) strings(entry.tsa, `${at}.notation.tsa`, err, (s) => (TSA_STORE.test(s) ? undefined : 'must be "tsa:<name>"'));
}

function strings(list: unknown, at: string, err: Err, check: (s: string) => string | undefined): void {
  if (!Array.isArray(list) || list.length === 0) return err(at, 'must be a non-empty array of strings');
  list.forEach((s, i) => {
    const problem = typeof s === 'string' && s ? check(s) : 'must be a non-empty string';
    if (problem) err(`${at}[${i}]`, problem);
  });
}

function identityError(s: string): string | undefined {
  if (s === '*') return undefined;
  if (!s.startsWith(SUBJECT_PREFIX)) return 'must be "*" or "x509.subject: <DN>"';
  return parseDn(s.slice(SUBJECT_PREFIX.length)) ? undefined : 'is not a distinguished name such as "x509.subject: C=US, O=Acme, CN=release"';
}

/**
 * Whether a verified Notation signer meets an entry: its chain reached a named store, its leaf subject holds
 * every attribute an identity names (or the entry trusts `*`), and, when its certificates were valid only at a
 * timestamp, the entry names a TSA store the countersignature verified under.
 */
export function satisfiesNotation(req: NotationRequirement, signer: NotationSigner): boolean {
  const n = req.notation;
  if (!signer.trustStores.some((s) => n.trustStores.includes(s))) return false;
  if (signer.timestampStores && !signer.timestampStores.some((s) => (n.tsa ?? []).includes(s))) return false;
  if (n.trustedIdentities.includes('*')) return true;
  const subject = parseDn(signer.subject);
  if (!subject) return false;
  return n.trustedIdentities.some((id) => {
    const wanted = id.startsWith(SUBJECT_PREFIX) ? parseDn(id.slice(SUBJECT_PREFIX.length)) : undefined;
    return wanted !== undefined && dnMatches(wanted, subject);
  });
}

export function describeNotationRequirement(req: NotationRequirement): string {
  const n = req.notation;
  const who = n.trustedIdentities.includes('*') ? 'any identity' : n.trustedIdentities.map((i) => i.slice(SUBJECT_PREFIX.length).trim()).join(' or ');
  return `Notation signer ${who} (trust store ${n.trustStores.join('/')}${n.tsa?.length ? `, timestamp ${n.tsa.join('/')}` : ''})`;
}

export function describeNotationSigner(s: NotationSigner): string {
  return `Notation signer ${s.subject} (sha256 ${s.fingerprint.slice(0, 16)}…, trust store ${s.trustStores.join('/')}${s.timestampStores ? `, timestamp ${s.timestampStores.join('/')}` : ''})`;
}
