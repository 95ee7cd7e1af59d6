import { sql } from 'kysely';
import type { AuditRow } from '../types.js';
import { query, rawQuery, type Query } from '../query/compiled.js';
import type { CacheLink, ChainPosition, Dialect } from '../query/dialect.js';
import { all, get, run, type Steps } from '../query/steps.js';
import type { SqliteExecutor } from './executor.js';

/**
 * SQLite's own: the chain's lock is the IMMEDIATE transaction itself (the file's write lock, taken before
 * anything is read), ids continue from the AUTOINCREMENT counter, text is compared with substr/instr, and
 * other processes' policy versions are found by polling alone.
 */
export function sqliteDialect(x: SqliteExecutor): Dialect {
  const qb = x.qb;
  const q = {
    // Constants as literals (sql.lit), not parameters: SQLite plans `LIMIT 1` better than `LIMIT ?` (measured).
    head: query(() => qb.selectFrom('audit_events').select(['id', 'hash']).orderBy('id', 'desc').limit(sql.lit(1))),
    prunedUpTo: query(() => qb.selectFrom('audit_control').select('prune_upto').where('id', '=', sql.lit(1))),
    sequence: rawQuery<object, { seq: number }>(`SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'`, []),
    // Binds the row's fields by name (an array of 21 costs measurably more per append); runs only as a step.
    insert: {
      sql: `INSERT INTO audit_events (id, time, kind, request_id, client, user, upstream, repository, reference, digest,
        decision, policy, policy_version, mode, reasons, evidence, cache_hit, bytes, status, prev_hash, hash) VALUES (@id, @time,
        @kind, @request_id, @client, @user, @upstream, @repository, @reference, @digest, @decision, @policy, @policy_version,
        @mode, @reasons, @evidence, @cache_hit, @bytes, @status, @prev_hash, @hash)`,
      bind: (row: AuditRow) => row as unknown as unknown[],
    } satisfies Query<AuditRow, unknown>,
    putManifest: query((a: { digest: string; mediaType: string; size: number; isIndex: number; subject: string | null; storedAt: number }) =>
      qb.insertInto('manifests')
        .values({ digest: a.digest, media_type: a.mediaType, size: a.size, is_index: a.isIndex, subject: a.subject, stored_at: a.storedAt })
        .onConflict((oc) => oc.column('digest').doNothing())),
    putInRepo: query((a: { upstream: string; repository: string; digest: string }) =>
      qb.insertInto('repository_manifests').values({ upstream: a.upstream, repository: a.repository, digest: a.digest }).onConflict((oc) => oc.doNothing())),
    putChild: query((a: { upstream: string; repository: string; parent: string; child: string }) =>
      qb.insertInto('manifest_children').values({ upstream: a.upstream, repository: a.repository, parent: a.parent, child: a.child }).onConflict((oc) => oc.doNothing())),
    link: query((a: { upstream: string; repository: string; digest: string; manifest: string; size: number; viaArtifact: number; at: number }) =>
      qb.insertInto('blob_links')
        .values({ upstream: a.upstream, repository: a.repository, digest: a.digest, manifest: a.manifest, size: a.size, via_artifact: a.viaArtifact, linked_at: a.at })
        .onConflict((oc) => oc.doUpdateSet({
          via_artifact: sql<number>`min(via_artifact, excluded.via_artifact)`,
          linked_at: sql<number>`max(linked_at, excluded.linked_at)`,
        }))),
    sweepLinks: rawQuery<{ before: number; limit: number }>(
      'DELETE FROM blob_links WHERE rowid IN (SELECT rowid FROM blob_links WHERE linked_at < ? LIMIT ?)', ['before', 'limit']),
    deleteTags: query((a: { upstream: string; repository: string }) =>
      qb.deleteFrom('tags').where('upstream', '=', a.upstream).where('repository', '=', a.repository)),
    repoManifests: query((a: { upstream: string; repository: string }) =>
      qb.selectFrom('repository_manifests').select('digest').where('upstream', '=', a.upstream).where('repository', '=', a.repository)),
    deleteEvidence: query((a: { digest: string }) => qb.deleteFrom('evidence').where('digest', '=', a.digest)),
    deleteVulnerabilities: query((a: { digest: string }) => qb.deleteFrom('evidence_vulnerabilities').where('digest', '=', a.digest)),
    putVulnerability: query((a: { vulnerability: string; upstream: string; repository: string; digest: string; fingerprint: string }) =>
      qb.insertInto('evidence_vulnerabilities')
        .values({ vulnerability: a.vulnerability, upstream: a.upstream, repository: a.repository, digest: a.digest, fingerprint: a.fingerprint })
        .onConflict((oc) => oc.doNothing())),
  };

  return {
    *lockChain(): Steps<ChainPosition> {
      // Ids are never given out twice: they continue from the highest id ever written (the AUTOINCREMENT
      // counter, or the prune point), not from the newest row left; the hash chains to the newest row there is.
      const newest = yield* get(q.head, {});
      const prunedUpTo = (yield* get(q.prunedUpTo, {}))?.prune_upto ?? 0;
      const highest = Math.max((yield* get(q.sequence, {}))?.seq ?? 0, prunedUpTo);
      return { head: newest && { id: Math.max(newest.id, highest), hash: newest.hash }, after: highest, prunedUpTo };
    },
    *insertAudit(rows) {
      for (const row of rows) yield* run(q.insert, row);
    },
    async highestAuditId() {
      return (await x.get(q.sequence, {}))?.seq;
    },
    // The lower bound lets the index help; substr compares text exactly.
    startsWith: (column, prefix) => sql<boolean>`(${sql.ref(column)} >= ${prefix} AND substr(${sql.ref(column)}, 1, length(${prefix})) = ${prefix})`,
    contains: (column, needle) => sql<boolean>`instr(${sql.ref(column)}, ${needle}) > 0`,
    // SQLite's default collation (BINARY) already compares bytes.
    bytewise: (column) => sql`${sql.ref(column)}`,
    *announcePolicy() {},
    listenPolicies: () => ({ stop() {} }),

    putManifest: (upstream, repository, m, children, storedAt) =>
      x.transaction(function* () {
        yield* run(q.putManifest, { digest: m.digest, mediaType: m.mediaType, size: m.size, isIndex: m.isIndex ? 1 : 0, subject: m.subject, storedAt });
        yield* run(q.putInRepo, { upstream, repository, digest: m.digest });
        for (const child of children) yield* run(q.putChild, { upstream, repository, parent: m.digest, child });
      }),
    linkBlobs: (l: CacheLink) =>
      x.transaction(function* () {
        const viaArtifact = l.viaArtifact ? 1 : 0;
        for (const b of l.blobs) yield* run(q.link, { upstream: l.upstream, repository: l.repository, digest: b.digest, manifest: l.manifest, size: b.size, viaArtifact, at: l.at });
      }),
    sweepLinks: async (before, limit) => x.run(q.sweepLinks, { before, limit }),
    forgetRepository: (upstream, repository) =>
      x.transaction(function* () {
        const tags = yield* run(q.deleteTags, { upstream, repository });
        const manifests = (yield* all(q.repoManifests, { upstream, repository })).map((r) => r.digest);
        return { tags, manifests };
      }),
    forgetEvidence: (digests) =>
      x.transaction(function* () {
        let n = 0;
        for (const digest of digests) {
          n += yield* run(q.deleteEvidence, { digest });
          yield* run(q.deleteVulnerabilities, { digest });
        }
        return n;
      }),
    *insertVulnerabilities(key, ids) {
      for (const vulnerability of ids) yield* run(q.putVulnerability, { ...key, vulnerability });
    },
  };
}
