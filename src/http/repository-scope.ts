import { OciError } from '../oci/errors.js';
import { globMatches } from '../policy/match.js';
import type { HttpResponse } from './plain.js';

/**
 * Refuses a repository outside the globs the authenticated identity is limited to (a workload identity's
 * `repositories`, set in res.locals by the pull guard). Identities without a limit pass.
 */
export function assertRepositoryInScope(res: HttpResponse, canonical: string): void {
  const globs = res.locals.repositories as readonly string[] | undefined;
  if (!globs || globs.some((g) => globMatches(g, canonical))) return;
  const who = (res.locals.user as string | undefined) ?? 'this identity';
  throw new OciError('DENIED', `${who} may pull only ${globs.join(', ')}; not ${canonical}`);
}
