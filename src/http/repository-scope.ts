import { OciError } from '../oci/errors.js';
import { globMatches } from '../policy/match.js';
import type { HttpResponse } from './plain.js';

/**
 * Refuses a repository outside the globs the authenticated identity is limited to (a workload identity's
 * `repositories`, set in res.locals by the pull guard), or outside what a token from /auth/token grants
 * (its scope). Identities without a limit pass.
 */
export function assertRepositoryInScope(res: HttpResponse, canonical: string): void {
  const globs = res.locals.repositories as readonly string[] | undefined;
  const who = (res.locals.user as string | undefined) ?? 'this identity';
  if (globs && !globs.some((g) => globMatches(g, canonical))) throw new OciError('DENIED', `${who} may pull only ${globs.join(', ')}; not ${canonical}`);
  const pullable = res.locals.pullable as readonly string[] | undefined;
  if (!pullable || pullable.includes(canonical)) return;
  const granted = pullable.length === 0 ? 'no repository' : `pull of ${pullable.join(', ')} only`;
  throw new OciError('DENIED', `the token of ${who} grants ${granted} (the scope it was issued for); not ${canonical}: ask /auth/token with scope=repository:${canonical}:pull`);
}
