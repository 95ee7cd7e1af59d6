import type { Role } from '../config/types.js';
import type { Person } from './token-registry.js';

export type Claims = Record<string, unknown>;

const RANK: Role[] = ['admin', 'auditor', 'puller'];

/**
 * The highest role whose rule a claim satisfies: `{"admin": {"groups": ["platform-admins"]}}` grants admin
 * to anyone whose `groups` claim holds "platform-admins". A claim name with dots that is not itself a claim
 * is followed as a path (`realm_access.roles`). No match: the reason, naming what was looked at.
 */
export function mapRole(claims: Claims, roles: Partial<Record<Role, Record<string, string[]>>>): { role: Role } | { reason: string } {
  for (const role of RANK) {
    const rule = roles[role];
    if (!rule) continue;
    for (const [claim, wanted] of Object.entries(rule)) {
      const held = claimValues(claims, claim);
      if (wanted.some((w) => held.includes(w))) return { role };
    }
  }
  const looked = [...new Set(RANK.flatMap((r) => Object.keys(roles[r] ?? {})))];
  const seen = looked.map((c) => `${c}: ${JSON.stringify(claimValues(claims, c)).slice(0, 200)}`).join('; ');
  return { reason: `no role is mapped to this account (${seen}); ask an administrator to add you to a group that auth.oidc.console.roles maps` };
}

/** The claim's values as strings: a string is one value, an array its string members, anything else none. */
export function claimValues(claims: Claims, name: string): string[] {
  let value: unknown = claims[name];
  if (value === undefined && name.includes('.')) {
    value = name.split('.').reduce<unknown>((v, part) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined), claims);
  }
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/** The person the claims name: `nameClaim`, else `preferred_username`, else the subject. */
export function personOf(claims: Claims, issuer: string, nameClaim: string): Person {
  const subject = String(claims.sub);
  const name = [claimValues(claims, nameClaim)[0], claimValues(claims, 'preferred_username')[0], subject].find((v) => v !== undefined && v !== '')!;
  return { subject, issuer, name: name.slice(0, 256) };
}

/** How the audit log names a person, the same in every event: `alice@example.com (sub alice, https://idp)`. */
export function personLabel(p: Person): string {
  return `${p.name} (sub ${p.subject.slice(0, 256)}, ${p.issuer})`;
}
