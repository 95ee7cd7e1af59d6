import { sql } from 'kysely';
import type { AuditRow } from '../types.js';
import { rawQuery, type Query } from '../query/compiled.js';
import type { ChainPosition, Dialect } from '../query/dialect.js';
import { get, run, type Steps } from '../query/steps.js';
import type { PostgresExecutor } from './executor.js';
import { listenPolicies, POLICY_CHANNEL } from './policy-listener.js';

const COLUMNS = [
  'id', 'time', 'kind', 'request_id', 'client', 'user', 'upstream', 'repository', 'reference', 'digest', 'decision',
  'policy', 'policy_version', 'mode', 'reasons', 'evidence', 'cache_hit', 'bytes', 'status', 'prev_hash', 'hash',
] as const satisfies readonly (keyof AuditRow)[];
const ARRAY_TYPES: Record<string, string> = { id: 'bigint', policy_version: 'bigint', bytes: 'bigint', cache_hit: 'integer', status: 'integer' };

const q = {
  // The lock every appender takes first: one row, so appends from every replica serialise here.
  lockHead: rawQuery<object, { prune_upto: number; head_id: number; head_hash: string | null }>(
    'SELECT prune_upto, head_id, head_hash FROM audit_control WHERE id = 1 FOR UPDATE', []),
  // Any number of rows (one array per column) and the new head, in one statement: one round trip.
  insert: {
    sql: `WITH rows AS (
      INSERT INTO audit_events (${COLUMNS.map((c) => `"${c}"`).join(', ')})
      SELECT * FROM unnest(${COLUMNS.map((c, i) => `$${i + 1}::${ARRAY_TYPES[c] ?? 'text'}[]`).join(', ')}))
    UPDATE audit_control SET head_id = $${COLUMNS.length + 1}, head_hash = $${COLUMNS.length + 2} WHERE id = 1`,
    bind: (rows: readonly AuditRow[]) => [...COLUMNS.map((c) => rows.map((r) => r[c])), rows.at(-1)!.id, rows.at(-1)!.hash],
  } satisfies Query<readonly AuditRow[], unknown>,
  highest: rawQuery<object, { head_id: number }>('SELECT head_id FROM audit_control WHERE id = 1', []),
  notify: rawQuery<{ version: string }>(`SELECT pg_notify('${POLICY_CHANNEL}', $1)`, ['version']),
  // One statement: the manifest, its presence in the repository and its children commit together.
  putManifest: rawQuery<{ digest: string; mediaType: string; size: number; isIndex: number; subject: string | null; storedAt: number; upstream: string; repository: string; children: readonly string[] }>(`WITH m AS (
      INSERT INTO manifests (digest, media_type, size, is_index, subject, stored_at) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (digest) DO NOTHING),
    r AS (INSERT INTO repository_manifests (upstream, repository, digest) VALUES ($7, $8, $1) ON CONFLICT DO NOTHING)
    INSERT INTO manifest_children (upstream, repository, parent, child)
    SELECT $7, $8, $1, c FROM unnest($9::text[]) AS c ON CONFLICT DO NOTHING`,
  ['digest', 'mediaType', 'size', 'isIndex', 'subject', 'storedAt', 'upstream', 'repository', 'children']),
  link: rawQuery<{ upstream: string; repository: string; manifest: string; digests: string[]; sizes: number[]; viaArtifact: number; at: number }>(
    `INSERT INTO blob_links (upstream, repository, digest, manifest, size, via_artifact, linked_at)
    SELECT $1, $2, d, $3, z, $6, $7 FROM unnest($4::text[], $5::bigint[]) AS b(d, z)
    ON CONFLICT (upstream, repository, digest, manifest) DO UPDATE SET via_artifact = LEAST(blob_links.via_artifact, excluded.via_artifact),
      linked_at = GREATEST(blob_links.linked_at, excluded.linked_at)`, ['upstream', 'repository', 'manifest', 'digests', 'sizes', 'viaArtifact', 'at']),
  sweepLinks: rawQuery<{ before: number; limit: number }>(
    'DELETE FROM blob_links WHERE ctid IN (SELECT ctid FROM blob_links WHERE linked_at < $1 LIMIT $2)', ['before', 'limit']),
  forgetRepository: rawQuery<{ upstream: string; repository: string }, { tags: number; manifests: string[] }>(`WITH d AS (
      DELETE FROM tags WHERE upstream = $1 AND repository = $2 RETURNING 1)
    SELECT (SELECT count(*) FROM d) AS tags,
      ARRAY(SELECT digest FROM repository_manifests WHERE upstream = $1 AND repository = $2) AS manifests`, ['upstream', 'repository']),
  forgetEvidence: rawQuery<{ digests: readonly string[] }>('DELETE FROM evidence WHERE digest = ANY($1::text[])', ['digests']),
  forgetVulnerabilities: rawQuery<{ digests: readonly string[] }>('DELETE FROM evidence_vulnerabilities WHERE digest = ANY($1::text[])', ['digests']),
  putVulnerabilities: rawQuery<{ upstream: string; repository: string; digest: string; fingerprint: string; ids: readonly string[] }>(
    `INSERT INTO evidence_vulnerabilities (vulnerability, upstream, repository, digest, fingerprint)
    SELECT v, $1, $2, $3, $4 FROM unnest($5::text[]) AS v ON CONFLICT DO NOTHING`, ['upstream', 'repository', 'digest', 'fingerprint', 'ids']),
};

/**
 * PostgreSQL's own: the chain's lock is its control row (FOR UPDATE), which also remembers the head, so a
 * batch of rows and the new head go in one statement; batches of cache rows go as arrays (unnest); a policy
 * version is announced with NOTIFY and heard with LISTEN.
 */
export function postgresDialect(x: PostgresExecutor, url: string, onError: (err: Error) => void): Dialect {
  return {
    *lockChain(): Steps<ChainPosition> {
      const c = (yield* get(q.lockHead, {}))!;
      const head = c.head_id > 0 && c.head_hash ? { id: c.head_id, hash: c.head_hash } : undefined;
      return { head, after: c.prune_upto, prunedUpTo: c.prune_upto };
    },
    *insertAudit(rows) {
      if (rows.length === 0) return;
      yield* run(q.insert, rows);
    },
    // The head row remembers the highest id ever appended.
    async highestAuditId() {
      return (await x.get(q.highest, {}))!.head_id;
    },
    // starts_with compares text, unlike LIKE, whose % and _ would be wildcards.
    startsWith: (column, prefix) => sql<boolean>`starts_with(${sql.ref(column)}, ${prefix})`,
    contains: (column, needle) => sql<boolean>`strpos(${sql.ref(column)}, ${needle}) > 0`,
    bytewise: (column) => sql`${sql.ref(column)} COLLATE "C"`,
    *announcePolicy(version) {
      yield* get(q.notify, { version: String(version) });
    },
    listenPolicies: (check) => listenPolicies(url, onError, check),

    async putManifest(upstream, repository, m, children, storedAt) {
      await x.run(q.putManifest, { digest: m.digest, mediaType: m.mediaType, size: m.size, isIndex: m.isIndex ? 1 : 0, subject: m.subject, storedAt, upstream, repository, children });
    },
    async linkBlobs(l) {
      // A manifest may list one blob twice; one statement may not update a row twice.
      const unique = [...new Map(l.blobs.map((b) => [b.digest, b.size])).entries()];
      await x.run(q.link, { upstream: l.upstream, repository: l.repository, manifest: l.manifest, digests: unique.map(([d]) => d), sizes: unique.map(([, z]) => z), viaArtifact: l.viaArtifact ? 1 : 0, at: l.at });
    },
    sweepLinks: async (before, limit) => x.run(q.sweepLinks, { before, limit }),
    async forgetRepository(upstream, repository) {
      return (await x.get(q.forgetRepository, { upstream, repository }))!;
    },
    // The evidence row first, then its ids: the order putEvidence locks them in, so the two never deadlock.
    forgetEvidence: (digests) =>
      x.transaction(function* () {
        const n = yield* run(q.forgetEvidence, { digests });
        yield* run(q.forgetVulnerabilities, { digests });
        return n;
      }),
    *insertVulnerabilities(key, ids) {
      if (ids.length > 0) yield* run(q.putVulnerabilities, { upstream: key.upstream, repository: key.repository, digest: key.digest, fingerprint: key.fingerprint, ids });
    },
  };
}
