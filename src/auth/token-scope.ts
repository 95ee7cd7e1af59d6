import { OciError } from '../oci/errors.js';
import { globMatches } from '../policy/match.js';
import type { Identity } from './token-registry.js';

/** More scopes than any client asks for at once (Docker asks for one, or two when mounting a blob); the token, which names each, must fit in a request header. */
export const MAX_SCOPES = 16;
const MAX_SCOPE_CHARS = 512;

/** One entry of a token's `access` claim, as the distribution token spec shapes it. */
export interface Access {
  type: 'repository';
  /** The canonical name, `<upstream>/<repository>`, as policies match it. */
  name: string;
  actions: ['pull'];
}

/**
 * The `scope` parameters of a token request (each may hold several, space-separated), as
 * `TYPE:NAME:ACTIONS`. The name may itself hold a colon (`host:5000/app`), so TYPE ends at the first
 * colon and ACTIONS starts after the last. Throws a 400 with the reason for a malformed one.
 */
export function requestedScopes(values: readonly string[]): { type: string; name: string; actions: string[] }[] {
  const scopes = values.flatMap((v) => v.split(' ')).filter((s) => s !== '');
  if (scopes.length > MAX_SCOPES) throw new OciError('SCOPE_INVALID', `a token request may name at most ${MAX_SCOPES} scopes; it named ${scopes.length}`);
  return scopes.map((scope) => {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (scope.length > MAX_SCOPE_CHARS || first <= 0 || last <= first + 1) {
      throw new OciError('SCOPE_INVALID', `scope ${JSON.stringify(scope.slice(0, 200))} is not TYPE:NAME:ACTIONS, e.g. repository:docker.io/library/alpine:pull`);
    }
    return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',') };
  });
}

/**
 * What a token may grant: the intersection of the requested scopes and the identity's rights. Only
 * `pull` of a repository is ever granted (the proxy is read-only: no push, delete or `*`), and only of a
 * name that resolves (as a /v2 path would) to a repository inside the identity's `repositories` globs.
 * Requests for anything else are left out, not refused, as the token spec has it: the client learns
 * what it lacks when it uses the token.
 */
export function grantedAccess(requested: ReturnType<typeof requestedScopes>, identity: Identity, canonical: (name: string) => string | undefined): Access[] {
  const granted: Access[] = [];
  for (const scope of requested) {
    if (scope.type !== 'repository' || !scope.actions.includes('pull')) continue;
    const name = canonical(scope.name);
    if (name === undefined || granted.some((a) => a.name === name)) continue;
    if (identity.repositories && !identity.repositories.some((g) => globMatches(g, name))) continue;
    granted.push({ type: 'repository', name, actions: ['pull'] });
  }
  return granted;
}
