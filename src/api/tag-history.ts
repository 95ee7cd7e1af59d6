import { AuditQuery } from '../audit/audit-query.js';
import type { Database, VerifiedTag } from '../db/types.js';

/** How many recorded pulls of one digest are read at most to find one under the tag. */
const MAX_ROWS = 10_000;

/**
 * Whether the proxy has seen `tag` of the repository point to `digest` upstream: its verified digest, the
 * digest it was last seen moving to, or the digest a pull of the tag resolved to (every pull that reached
 * a manifest is audited with its reference and digest, served or refused). No upstream request is needed:
 * a move that matters has been met by a pull, which recorded it, and an answer from the upstream now would
 * prove nothing about what the tag pointed to when it was refused.
 */
export async function tagHasPointedTo(db: Database, upstream: string, repository: string, tag: string, digest: string, verified: VerifiedTag | undefined): Promise<boolean> {
  if (verified && (verified.digest === digest || verified.seenDigest === digest)) return true;
  const query = new AuditQuery(db.audit);
  const filter = { kind: 'pull.manifest', repository: `${upstream}/${repository}`, digest };
  for await (const batch of query.batches(filter, 0, MAX_ROWS)) {
    if (batch.some((row) => row.reference === tag)) return true;
  }
  return false;
}
