import { AuditQuery } from '../audit/audit-query.js';
import type { AuditStore } from '../db/types.js';

export interface RecentPull {
  time: string;
  user: string | null;
  client: string | null;
  reference: string | null;
}

/**
 * The served pulls (status 200) of one digest in one repository since `since`: how many, and the newest
 * `keep` of them, newest first. Read through the audit log's digest index, in batches.
 */
export async function recentPulls(audit: AuditStore, repository: string, digest: string, since: string, keep: number): Promise<{ count: number; pulls: RecentPull[] }> {
  let count = 0;
  const pulls: RecentPull[] = [];
  for await (const batch of new AuditQuery(audit).batches({ kind: 'pull.manifest', repository, digest, since }, 0, Number.MAX_SAFE_INTEGER)) {
    for (const row of batch) {
      if (row.status !== 200) continue;
      count++;
      pulls.unshift({ time: row.time, user: row.user, client: row.client, reference: row.reference });
      if (pulls.length > keep) pulls.pop();
    }
  }
  return { count, pulls };
}
