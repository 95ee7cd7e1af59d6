import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/open-database.js';
import { signerNeedles, type Database, type PolicyRow } from '../../../src/db/types.js';
import { AuditLog, seal, sealOne } from '../../../src/audit/audit-log.js';
import { verifyChain } from '../../../src/audit/verify-chain.js';
import { pruneAudit } from '../../../src/audit/retention.js';
import { AuditQuery, parseAuditFilter } from '../../../src/audit/audit-query.js';
import { FailureLimiter } from '../../../src/auth/failure-limiter.js';
import { IssuedTokens } from '../../../src/auth/issued-tokens.js';
import { useBackends, type BackendName } from '../../helpers/backends.js';
import { PolicyVersions } from '../../../src/db/policy-versions.js';
import { PolicyVersionConflict } from '../../../src/db/policy-conflict.js';
import { queryColumn } from '../../helpers/db-query.js';
import { executeSql } from '../../helpers/db-write.js';
import { indexStoredEvidence } from '../../../src/decide/vulnerability-index.js';

/**
 * One contract every database backend passes (as distribution's storage-driver testsuites): the cache
 * index, evidence, policy versions, the audit chain under concurrent appenders, shared keys and failure
 * counts, and migrations run once by openers that race.
 */

const backends = useBackends();
const D = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

describe.each(backends.names)('database contract (%s)', (backend: BackendName) => {
  let dir: string;
  const opened: Database[] = [];
  let config: { path: string } | { url: string };

  /** Another opener of the same database (another replica or worker). */
  const open = async () => {
    const db = await openDatabase(config as never);
    opened.push(db);
    return db;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `db-contract-${backend}-`));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });

  const fresh = async () => {
    config = backend === 'sqlite' ? { path: join(dir, `${Math.random().toString(36).slice(2)}.db`) } : await backends.database('postgres');
  };

  it('runs migrations once when two openers race, and answers ping', async () => {
    await fresh();
    const [a, b] = await Promise.all([open(), open()]);
    await a.ping();
    await b.ping();
    const versions = await queryColumn<number>(config as never, 'SELECT version FROM schema_migrations ORDER BY version');
    expect(versions.length).toBeGreaterThan(0);
    expect(new Set(versions).size).toBe(versions.length);
  });

  it('keeps tags, manifests, children and blob links', async () => {
    await fresh();
    const { cache } = await open();
    await cache.putTag('up', 'org/app', 'b', D(1), 1000);
    await cache.putTag('up', 'org/app', 'B', D(1), 1000);
    await cache.putTag('up', 'org/app', 'a', D(2), 2000);
    await cache.putTag('up', 'org/app', 'a', D(3), 3000);
    expect(await cache.getTag('up', 'org/app', 'a')).toEqual({ digest: D(3), checkedAt: 3000 });
    expect(await cache.getTag('up', 'org/other', 'a')).toBeUndefined();
    expect(await cache.listTags('up', 'org/app')).toEqual(['B', 'a', 'b']);

    const meta = { digest: D(10), mediaType: 'application/vnd.oci.image.index.v1+json', size: 512, isIndex: true, subject: null };
    await cache.putManifest('up', 'org/app', meta, [D(11), D(12), D(11)], 5);
    await cache.putManifest('up', 'org/app', { ...meta, size: 1 }, [], 6);
    expect(await cache.getManifest(D(10))).toEqual(meta);
    expect(await cache.getManifest(D(99))).toBeUndefined();
    expect(await cache.inRepository('up', 'org/app', D(10))).toBe(true);
    expect(await cache.inRepository('up', 'org/db', D(10))).toBe(false);
    expect(await cache.parents('up', 'org/app', D(11))).toEqual([D(10)]);

    const blobs = [{ digest: D(20), size: 7 }, { digest: D(21), size: 8 }, { digest: D(20), size: 7 }];
    await cache.linkBlobs('up', 'org/app', D(30), blobs, true, 1000);
    expect(await cache.blobLinks('up', 'org/app', D(20))).toEqual([{ manifest: D(30), size: 7, viaArtifact: true }]);
    // A link from an ordinary manifest wins over the artifact's, and stays.
    await cache.linkBlobs('up', 'org/app', D(30), blobs, false, 1000);
    await cache.linkBlobs('up', 'org/app', D(30), blobs, true, 1000);
    expect(await cache.blobLinks('up', 'org/app', D(20))).toEqual([{ manifest: D(30), size: 7, viaArtifact: false }]);
    expect(await cache.linksAnywhere(D(21))).toEqual([{ upstream: 'up', repository: 'org/app', manifest: D(30) }]);

    const forgotten = await cache.forgetRepository('up', 'org/app');
    expect(forgotten).toEqual({ tags: 3, manifests: [D(10)] });
    expect(await cache.listTags('up', 'org/app')).toEqual([]);
  });

  it('sweeps blob links no served manifest rewrote since a time, in batches, and keeps rewritten ones', async () => {
    await fresh();
    const { cache } = await open();
    const many = Array.from({ length: 25 }, (_, i) => ({ digest: D(100 + i), size: i }));
    await cache.linkBlobs('up', 'org/stale', D(40), many, false, 1000);
    await cache.linkBlobs('up', 'org/fresh', D(41), many.slice(0, 2), false, 1000);
    // Served again later: its links are rewritten and survive the sweep.
    await cache.linkBlobs('up', 'org/fresh', D(41), many.slice(0, 2), false, 9000);
    // An older write does not make a link look older than it is.
    await cache.linkBlobs('up', 'org/fresh', D(41), many.slice(0, 2), true, 500);
    expect(await cache.sweepLinks(5000, 10)).toBe(10);
    expect(await cache.sweepLinks(5000, 10)).toBe(10);
    expect(await cache.sweepLinks(5000, 10)).toBe(5);
    expect(await cache.sweepLinks(5000, 10)).toBe(0);
    expect(await cache.blobLinks('up', 'org/stale', D(100))).toEqual([]);
    expect(await cache.blobLinks('up', 'org/fresh', D(100))).toEqual([{ manifest: D(41), size: 0, viaArtifact: false }]);
    expect(await cache.sweepLinks(9001, 10)).toBe(2);
  });

  it('keeps evidence per repository and trust fingerprint', async () => {
    await fresh();
    const { cache } = await open();
    const key = { upstream: 'up', repository: 'org/app', digest: D(1), fingerprint: 'fp1' };
    await cache.putEvidence(key, '{"n":1}', 100);
    await cache.putEvidence({ ...key, fingerprint: 'fp2' }, '{"n":2}', 200);
    await cache.putEvidence(key, '{"n":3}', 300);
    expect(await cache.getEvidence(key)).toEqual({ json: '{"n":3}', expiresAt: 300 });
    expect(await cache.getEvidence({ ...key, repository: 'org/other' })).toBeUndefined();
    expect(await cache.latestEvidence('up', 'org/app', D(1), 'fp2')).toBe('{"n":2}');
    expect(await cache.latestEvidence('up', 'org/app', D(1), 'none')).toBe('{"n":3}');
    expect(await cache.forgetEvidence([D(1), D(2)])).toBe(2);
    expect(await cache.getEvidence(key)).toBeUndefined();
  });

  it('indexes the vulnerability ids each evidence lists, and replaces and forgets them with it', async () => {
    await fresh();
    const { cache } = await open();
    const key = { upstream: 'up', repository: 'org/app', digest: D(1), fingerprint: 'fp1' };
    const start = { upstream: '', repository: '', digest: '' };
    const listing = async (id: string) => (await cache.evidenceListing(id, start, 100)).map((c) => `${c.upstream}/${c.repository}@${c.digest.slice(-2)}`);
    await cache.putEvidence(key, '{}', 100, ['CVE-2024-1', 'GHSA-AAAA-BBBB-CCCC']);
    await cache.putEvidence({ ...key, fingerprint: 'fp2' }, '{}', 100, ['CVE-2024-1']);
    await cache.putEvidence({ ...key, repository: 'org/base' }, '{}', 100, ['CVE-2024-1']);
    await cache.putEvidence({ ...key, digest: D(2) }, '{}', 100, ['CVE-2024-2']);
    await cache.putEvidence({ ...key, digest: D(3) }, '{}', 100);
    // Each digest once, whatever fingerprints its evidence was gathered under, in (upstream, repository, digest) order.
    expect(await listing('CVE-2024-1')).toEqual(['up/org/app@01', 'up/org/base@01']);
    expect(await listing('GHSA-AAAA-BBBB-CCCC')).toEqual(['up/org/app@01']);
    // Pages follow the last digest listed.
    const first = await cache.evidenceListing('CVE-2024-1', start, 1);
    expect(first.map((c) => c.repository)).toEqual(['org/app']);
    expect((await cache.evidenceListing('CVE-2024-1', first[0]!, 10)).map((c) => c.repository)).toEqual(['org/base']);
    // Evidence gathered again (its verifyTtl expired) replaces its ids.
    await cache.putEvidence(key, '{}', 200, ['CVE-2024-3']);
    expect(await listing('GHSA-AAAA-BBBB-CCCC')).toEqual([]);
    expect(await listing('CVE-2024-3')).toEqual(['up/org/app@01']);
    // A purge forgets the ids with the evidence, in every repository and under every fingerprint.
    expect(await cache.forgetEvidence([D(1)])).toBe(3);
    expect(await listing('CVE-2024-1')).toEqual([]);
    expect(await listing('CVE-2024-3')).toEqual([]);
    expect(await queryColumn(config as never, 'SELECT digest FROM evidence_vulnerabilities')).toEqual([D(2)]);
    expect(await cache.unindexedEvidence(10)).toEqual([]);
  });

  it('indexes evidence stored before the index existed once, and never over a newer document', async () => {
    await fresh();
    const { cache } = await open();
    const scan = (...ids: string[]) => JSON.stringify({ attestations: [{ report: { scan: { findings: ids.map((id) => ({ id, aliases: [`ghsa-${id}`] })) } } }] });
    const key = { upstream: 'up', repository: 'org/app', digest: D(1), fingerprint: 'fp1' };
    await cache.putEvidence(key, scan('CVE-2024-1'), 100);
    await cache.putEvidence({ ...key, digest: D(2) }, scan('CVE-2024-1'), 100);
    await cache.putEvidence({ ...key, digest: D(3) }, 'not json', 100);
    // As a database upgraded from before the index: no ids, every row marked as not indexed.
    await executeSql(config as never, 'DELETE FROM evidence_vulnerabilities');
    await executeSql(config as never, 'UPDATE evidence SET vulnerabilities_indexed = 0');
    const start = { upstream: '', repository: '', digest: '' };
    expect(await cache.evidenceListing('CVE-2024-1', start, 10)).toEqual([]);
    expect((await cache.unindexedEvidence(10)).map((r) => r.digest).sort()).toEqual([D(1), D(2), D(3)]);
    // Evidence gathered again meanwhile wins over the old document read by the backfill.
    await cache.putEvidence({ ...key, digest: D(2) }, scan('CVE-2024-2'), 200, ['CVE-2024-2']);
    expect(await cache.indexEvidence({ ...key, digest: D(2) }, ['CVE-2024-1'])).toBe(false);
    expect(await indexStoredEvidence(cache)).toBe(2);
    expect(await indexStoredEvidence(cache)).toBe(0);
    expect((await cache.evidenceListing('CVE-2024-1', start, 10)).map((c) => c.digest)).toEqual([D(1)]);
    expect((await cache.evidenceListing('GHSA-CVE-2024-1', start, 10)).map((c) => c.digest)).toEqual([D(1)]);
    expect((await cache.evidenceListing('CVE-2024-2', start, 10)).map((c) => c.digest)).toEqual([D(2)]);
  });

  it('accounts blobs for eviction', async () => {
    await fresh();
    const { cache } = await open();
    await cache.recordBlob(D(1), 100, 1000);
    await cache.recordBlob(D(2), 50, 2000);
    await cache.recordBlob(D(3), 25, 3000);
    await cache.touchBlob(D(1), 4000);
    expect(await cache.totalBlobBytes()).toBe(175);
    expect(await cache.evictionCandidates(3500, new Date(0).toISOString(), 10)).toEqual([
      { digest: D(2), size: 50 },
      { digest: D(3), size: 25 },
    ]);
    expect(await cache.removeIdleBlob(D(1), 3500)).toBe(false);
    expect(await cache.removeIdleBlob(D(2), 3500)).toBe(true);
    await cache.forgetContent(D(3));
    expect(await cache.totalBlobBytes()).toBe(100);
  });

  it('appends 500 events from two openers concurrently as one intact chain, without gaps or duplicates', async () => {
    await fresh();
    const [a, b] = await Promise.all([open(), open()]);
    const logs = [new AuditLog(a.audit), new AuditLog(b.audit)];
    const ids = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        new Promise<number>((resolve, reject) =>
          // Spread over event-loop turns, so batches of both openers interleave.
          setTimeout(() => logs[i % 2]!.record({ kind: 'pull.manifest', repository: `r${i}`, reasons: [`n${i}`] }).then(resolve, reject), i % 7),
        ),
      ),
    );
    expect(new Set(ids).size).toBe(500);
    expect([...ids].sort((x, y) => x - y)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    for (const db of [a, b]) {
      const report = await verifyChain(db.audit);
      expect(report).toMatchObject({ ok: true, events: 500, firstBroken: null });
    }
    expect(await a.audit.maxId()).toBe(500);
    expect(await b.audit.highestId()).toBe(500);
  });

  it('queries pages with filters and prunes behind an anchor', async () => {
    await fresh();
    const db = await open();
    const log = new AuditLog(db.audit);
    for (let i = 1; i <= 30; i++) {
      await log.record({ kind: i % 3 === 0 ? 'pull.blob' : 'pull.manifest', user: i % 2 ? 'ci' : null, decision: i % 5 === 0 ? 'deny' : 'allow' });
    }
    const query = new AuditQuery(db.audit);
    const blobs: number[] = [];
    for await (const batch of query.batches({ kind: 'pull.blob' }, 0, 100, await query.maxId(), 4)) blobs.push(...batch.map((r) => r.id));
    expect(blobs).toEqual([3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
    expect(await query.nextAfter({ user: 'ci' }, 0, 3)).toBe(5);
    expect(await query.nextAfter({ decision: 'deny', user: 'ci' }, 0, 3)).toBeNull();
    const rows = await db.audit.rows({ since: new Date(0).toISOString(), until: new Date(Date.now() + 60_000).toISOString() }, 10, 12, 100);
    expect(rows.map((r) => r.id)).toEqual([11, 12]);

    // Newest first: the store reads down from uptoId; pages follow a cursor that new events do not move.
    expect((await db.audit.rows({ kind: 'pull.blob' }, 9, 27, 3, 'desc')).map((r) => r.id)).toEqual([27, 24, 21]);
    expect(await db.audit.idsAt({ kind: 'pull.blob' }, 0, 30, 2, 'desc')).toEqual([24, 21]);
    expect(await db.audit.idsAt({ kind: 'pull.blob' }, 0, 30, 9, 'desc')).toEqual([3]);
    const newestFirst: number[][] = [];
    let plan = await query.plan({ kind: 'pull.blob' }, 'desc', undefined, 4, await query.maxId());
    await log.record({ kind: 'pull.blob' }); // id 31, after the first page was fixed
    for (;;) {
      const page: number[] = [];
      for await (const batch of query.pageRows({ kind: 'pull.blob' }, 'desc', plan, 3)) page.push(...batch.map((r) => r.id));
      newestFirst.push(page);
      if (!plan.next) break;
      plan = await query.plan({ kind: 'pull.blob' }, 'desc', plan.next, 4, await query.maxId());
    }
    expect(newestFirst).toEqual([[30, 27, 24, 21], [18, 15, 12, 9], [6, 3]]);

    const pruned = await pruneAudit(db.audit, 1, new Date(Date.now() + 2 * 86_400_000));

    expect(pruned).toEqual({ pruned: 31, upto: 31 });
    expect(await db.audit.prunedUpTo()).toBe(31);
    expect(await verifyChain(db.audit)).toMatchObject({ ok: true, events: 1 });
    await log.record({ kind: 'pull.manifest' });
    expect(await verifyChain(db.audit)).toMatchObject({ ok: true, events: 2 });
    expect(await db.audit.maxId()).toBe(33);
  });

  it('refuses to change or delete audit rows outside retention', async () => {
    await fresh();
    const db = await open();
    await new AuditLog(db.audit).record({ kind: 'pull.manifest' });
    const write = async (sql: string) => {
      if ('path' in config) {
        const { default: Sqlite } = await import('better-sqlite3');
        const raw = new Sqlite(config.path);
        try {
          raw.prepare(sql).run();
        } finally {
          raw.close();
        }
      } else {
        const { default: pg } = await import('pg');
        const client = new pg.Client({ connectionString: config.url });
        await client.connect();
        try {
          await client.query(sql);
        } finally {
          await client.end();
        }
      }
    };
    await expect(write(`UPDATE audit_events SET kind = 'x'`)).rejects.toThrow(/append-only/);
    await expect(write('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
    expect(await verifyChain(db.audit)).toMatchObject({ ok: true, events: 1 });
  });

  it('numbers policy versions with their audit events, and tells every opener about a new one', async () => {
    await fresh();
    const [a, b] = await Promise.all([open(), open()]);
    const changes: number[] = [];
    const watch = b.policies.watch(() => changes.push(Date.now()));
    try {
      const plan = (author: string) => (s: { newest: PolicyRow | undefined }) => {
        const version = (s.newest?.version ?? 0) + 1;
        return {
          row: { version, time: new Date().toISOString(), author, source: 'api' as const, rules: '[]', diff: '{}', rollbackOf: null, comment: null },
          seal: sealOne({ kind: 'policy.update', policyVersion: version }),
        };
      };
      const rows = await Promise.all([a.policies.append(plan('a')), b.policies.append(plan('b')), a.policies.append(plan('c'))]);
      expect(rows.map((r) => r!.version).sort()).toEqual([1, 2, 3]);
      expect(await b.policies.newest()).toBe(3);
      expect((await a.policies.list()).map((r) => r.version)).toEqual([3, 2, 1]);
      expect(await a.policies.append(() => undefined)).toBeUndefined();
      const read = await a.policies.append((s) => {
        expect(s.read?.author).toBeDefined();
        return undefined;
      }, 2);
      expect(read).toBeUndefined();
      expect(await verifyChain(a.audit)).toMatchObject({ ok: true, events: 3 });
      const before = changes.length;
      await a.policies.append(plan('d'));
      const deadline = Date.now() + 3000;
      while (changes.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(changes.length).toBeGreaterThan(before);
    } finally {
      watch.stop();
    }
  });

  it('lets exactly one of two openers win a conditional policy change on the same version, keeping its comment', async () => {
    await fresh();
    const [a, b] = await Promise.all([open(), open()]);
    const [pa, pb] = [new PolicyVersions(a.policies), new PolicyVersions(b.policies)];
    await pa.syncFromConfig([{ name: 'open', match: ['**'], mode: 'allow' }], 'portcullis.json');
    for (let round = 0; round < 8; round++) {
      const expected = (await pb.list())[0]!.version;
      const rules = (who: string) => [{ name: `${who}-${round}`, match: ['**'], mode: 'deny' as const }];
      const results = await Promise.allSettled([
        pa.update(rules('a'), { user: 'alice' }, { comment: `a in round ${round}`, ifVersion: [expected] }),
        pb.update(rules('b'), { user: 'bob' }, { comment: `b in round ${round}`, ifVersion: [expected] }),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]!.reason).toBeInstanceOf(PolicyVersionConflict);
      expect((lost[0]!.reason as PolicyVersionConflict).active).toBe(expected + 1);
      expect((won[0] as PromiseFulfilledResult<number>).value).toBe(expected + 1);
    }
    const versions = await pa.list();
    expect(versions.map((v) => v.version)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(versions[0]!.comment).toMatch(/^[ab] in round 7$/);
    expect(versions.at(-1)!.comment).toBeNull();
    // A condition naming the active version passes; an absent one is no condition.
    await expect(pa.rollback(1, { user: 'alice' }, { comment: 'back to open', ifVersion: [9] })).resolves.toBe(10);
    await expect(pb.update([], { user: 'bob' }, { ifVersion: [9] })).rejects.toBeInstanceOf(PolicyVersionConflict);
    expect((await pb.get(10))!.comment).toBe('back to open');
    const events = await a.audit.rows({ kind: 'policy.rollback' }, 0, Number.MAX_SAFE_INTEGER, 10);
    expect(events.map((e) => (JSON.parse(e.evidence!) as { comment?: string }).comment)).toEqual(['back to open']);
    expect(await verifyChain(a.audit)).toMatchObject({ ok: true, events: 10 });
  });

  it('keeps revocations and exceptions with their audit events, records each expiry once, and tells every opener', async () => {
    await fresh();
    const [a, b] = await Promise.all([open(), open()]);
    const changes: number[] = [];
    const watch = b.trust.watch(() => changes.push(Date.now()));
    try {
      const g0 = await a.trust.generation();
      const rev = await a.trust.addRevocation({ signer: '{"key":"acme"}', reason: 'leaked', author: 'alice', time: '2026-01-01T00:00:00.000Z' },
        (row) => sealOne({ kind: 'trust.revoke', evidence: { revocation: row.id } }));
      expect(rev).toMatchObject({ signer: '{"key":"acme"}', reason: 'leaked', liftedAt: null });
      expect(await b.trust.generation()).toBeGreaterThan(g0);
      expect((await b.trust.revocations()).map((r) => r.id)).toEqual([rev.id]);
      const lifted = await b.trust.liftRevocation(rev.id, '2026-01-02T00:00:00.000Z', 'bob', () => sealOne({ kind: 'trust.revocation.lift' }));
      expect(lifted).toMatchObject({ liftedAt: '2026-01-02T00:00:00.000Z', liftedBy: 'bob' });
      expect(await a.trust.liftRevocation(rev.id, 'x', 'bob', () => sealOne({ kind: 'trust.revocation.lift' }))).toBeUndefined();

      const base = { repository: 'up/org/app', digest: null, reason: 'INC-1', author: 'alice', time: '2026-01-01T00:00:00.000Z', coverDenyRule: false };
      const soon = await a.trust.addException({ ...base, until: '2026-01-01T01:00:00.000Z' }, () => sealOne({ kind: 'exception.create' }));
      const later = await a.trust.addException({ ...base, digest: D(5), until: '2026-01-03T00:00:00.000Z', coverDenyRule: true }, () => sealOne({ kind: 'exception.create' }));
      const gone = await a.trust.addException({ ...base, until: '2026-01-01T02:00:00.000Z' }, () => sealOne({ kind: 'exception.create' }));
      expect(later).toMatchObject({ digest: D(5), coverDenyRule: true, expired: false, revokedAt: null });
      expect(await b.trust.revokeException(gone.id, '2026-01-01T00:30:00.000Z', 'bob', () => sealOne({ kind: 'exception.revoke' }))).toMatchObject({ revokedBy: 'bob' });
      expect(await b.trust.revokeException(gone.id, 'x', 'bob', () => sealOne({ kind: 'exception.revoke' }))).toBeUndefined();

      // Two openers sweep at once at a time past the first exception: it expires once, with one event.
      const sweep = (db: Database) => db.trust.expireExceptions('2026-01-02T00:00:00.000Z', (rows) =>
        seal(rows.map((r) => ({ time: '2026-01-02T00:00:00.000Z', input: { kind: 'exception.expire', evidence: { exception: r.id } } }))));
      const swept = await Promise.all([sweep(a), sweep(b), sweep(a)]);
      expect(swept.flat().map((e) => e.id)).toEqual([soon.id]);
      const all = await a.trust.exceptions();
      expect(all.map((e) => [e.id, e.expired, e.revokedAt !== null])).toEqual([[gone.id, false, true], [later.id, false, false], [soon.id, true, false]]);
      const kinds = await queryColumn<string>(config as never, 'SELECT kind FROM audit_events ORDER BY id');
      expect(kinds).toEqual(['trust.revoke', 'trust.revocation.lift', 'exception.create', 'exception.create', 'exception.create', 'exception.revoke', 'exception.expire']);
      expect(await verifyChain(a.audit)).toMatchObject({ ok: true, events: 7 });
      const deadline = Date.now() + 3000;
      while (changes.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(changes.length).toBeGreaterThanOrEqual(2);
    } finally {
      watch.stop();
    }
  });

  it('keeps verified tags, notes each move once across openers, and accepts a digest with its audit event', async () => {
    await fresh();
    const [a, b] = await Promise.all([open(), open()]);
    expect(await a.tags.verified('up', 'org/app', '1')).toBeUndefined();
    await a.tags.markVerified('up', 'org/app', '1', D(1), '2026-01-01T00:00:00.000Z');
    expect(await b.tags.verified('up', 'org/app', '1')).toEqual({ digest: D(1), verifiedAt: '2026-01-01T00:00:00.000Z', acceptedBy: null, seenDigest: null });
    expect(await b.tags.verified('up', 'org/app', '2')).toBeUndefined();
    // Two openers see the same move: only one records it; a further move is noted again.
    const noted = await Promise.all([a.tags.noteMoved('up', 'org/app', '1', D(2)), b.tags.noteMoved('up', 'org/app', '1', D(2))]);
    expect(noted.filter(Boolean)).toHaveLength(1);
    expect(await a.tags.noteMoved('up', 'org/app', '1', D(2))).toBe(false);
    expect(await a.tags.noteMoved('up', 'org/app', '1', D(3))).toBe(true);
    expect(await a.tags.noteMoved('up', 'org/app', '9', D(3))).toBe(false);
    const accepted = await b.tags.accept('up', 'org/app', '1', D(3), '2026-01-02T00:00:00.000Z', 'alice', sealOne({ kind: 'tag.accept', digest: D(3) }));
    expect(accepted).toEqual({ digest: D(3), verifiedAt: '2026-01-02T00:00:00.000Z', acceptedBy: 'alice', seenDigest: null });
    expect(await a.tags.verified('up', 'org/app', '1')).toEqual(accepted);
    expect(await queryColumn<string>(config as never, 'SELECT kind FROM audit_events ORDER BY id')).toEqual(['tag.accept']);
    expect(await verifyChain(a.audit)).toMatchObject({ ok: true, events: 1 });
  });

  it('keeps the last run of each prefetch list, a new run replacing its list\'s row', async () => {
    await fresh();
    const [a, b] = await Promise.all([open(), open()]);
    expect(await a.prefetch.lastRuns()).toEqual([]);
    const run = (list: string, at: string, result: string) => ({ list, startedAt: at, finishedAt: at, result });
    await a.prefetch.saveRun(run('nightly', '2026-01-01T00:00:00.000Z', '{"images":1}'));
    await b.prefetch.saveRun(run('base', '2026-01-01T01:00:00.000Z', '{"images":2}'));
    await b.prefetch.saveRun(run('nightly', '2026-01-02T00:00:00.000Z', '{"images":3}'));
    expect(await a.prefetch.lastRuns()).toEqual([
      run('base', '2026-01-01T01:00:00.000Z', '{"images":2}'),
      run('nightly', '2026-01-02T00:00:00.000Z', '{"images":3}'),
    ]);
  });

  it('finds audit events by the signer their evidence names', async () => {
    await fresh();
    const db = await open();
    const log = new AuditLog(db.audit);
    const signer = (s: object) => ({ matchedSigners: [{ signer: s, tlog: { logIndex: 12, integratedTime: 't' } }] });
    await log.record({ kind: 'pull.manifest', decision: 'allow', evidence: signer({ key: 'acme' }) });
    await log.record({ kind: 'pull.manifest', decision: 'allow', evidence: signer({ key: 'acme-2' }) });
    await log.record({ kind: 'pull.manifest', decision: 'allow', evidence: signer({ issuer: 'https://i', subject: 'me@x' }) });
    await log.record({ kind: 'pull.manifest', decision: 'allow', evidence: { note: 'signer "acme" in text' } });
    const ids = async (needles: string[]) => (await db.audit.rows({ evidenceContains: needles }, 0, 1000, 100)).map((r) => r.id);
    expect(await ids(signerNeedles({ key: 'acme' }))).toEqual([1]);
    expect(await ids(signerNeedles({ key: 'me@x', subject: 'me@x' }))).toEqual([3]);
    expect(await ids(signerNeedles({ subject: 'me@x', issuer: 'https://other' }))).toEqual([]);
    expect(await ids(signerNeedles({ logIndex: 12 }))).toEqual([1, 2, 3]);
    expect(await ids(signerNeedles({ logIndex: 1 }))).toEqual([]);
    // A log entry past the signers the summary details, found through the list of every entry.
    await log.record({ kind: 'pull.manifest', decision: 'allow', evidence: { logEntries: [{ logIndex: 7 }, { logIndex: 120 }] } });
    expect(await ids(signerNeedles({ logIndex: 120 }))).toEqual([5]);
    expect(await ids(signerNeedles({ logIndex: 12 }))).toEqual([1, 2, 3]);
  });

  it('finds events by a signer named only in their vulnerability evidence or their signers list, whole', async () => {
    await fresh();
    const db = await open();
    const log = new AuditLog(db.audit);
    const FP = 'ab'.repeat(32);
    const GH = 'https://token.actions.githubusercontent.com';
    // Recorded before the signers list: the scan's and the VEX statement's signers only as described.
    await log.record({ kind: 'pull.manifest', decision: 'allow', evidence: { vulnerabilities: { scans: [{ signer: 'key "acme-scanner"' }] } } });
    await log.record({ kind: 'pull.manifest', decision: 'allow', evidence: { vulnerabilities: { suppressed: [{ id: 'CVE-1', by: 'vex', signer: 'scan@x (issuer https://i, root corp)' }] } } });
    await log.record({ kind: 'pull.manifest', decision: 'allow', evidence: { signers: [{ key: 'acme-release' }, { issuer: GH, subject: 'ci@x' }, { notation: { subject: 'CN=Acme,O=Acme', fingerprint: FP } }] } });
    await log.record({ kind: 'pull.manifest', decision: 'allow', evidence: { signers: [{ key: 'acme' }], vulnerabilities: { scans: [{ signer: 'key "acme"' }] } } });
    const ids = async (signer: string, issuer?: string) => {
      const { filter, errors } = parseAuditFilter({ signer, ...(issuer !== undefined && { issuer }) });
      expect(errors).toEqual([]);
      return (await db.audit.rows(filter, 0, 1000, 100)).map((r) => r.id);
    };
    expect(await ids('acme-scanner')).toEqual([1]);
    expect(await ids('scan@x')).toEqual([2]);
    expect(await ids('scan@x', 'https://i')).toEqual([2]);
    expect(await ids('scan@x', 'https://other')).toEqual([]);
    expect(await ids('acme-release')).toEqual([3]);
    expect(await ids('ci@x', GH)).toEqual([3]);
    expect(await ids('CN=Acme,O=Acme')).toEqual([3]);
    expect(await ids(FP.toUpperCase().match(/../g)!.join(':'))).toEqual([3]);
    expect(await ids('acme')).toEqual([4]);
    for (const part of ['acme-scan', 'scan@', 'ci', FP.slice(0, 16), 'CN=Acme']) expect(await ids(part), part).toEqual([]);
  });

  it('filters by request id and by repository prefix, taking % and _ literally', async () => {
    await fresh();
    const db = await open();
    const log = new AuditLog(db.audit);
    const repos = ['docker.io/library/nginx', 'docker.io/library/alpine', 'docker.io/libraryX/evil', 'docker.io/lib_a/x',
      'docker.io/libXa/x', 'docker.io/50%/x', 'docker.io/50a/x', 'DOCKER.IO/library/nginx', 'docker.io/librar'];
    for (const [i, repository] of repos.entries()) await log.record({ kind: 'pull.manifest', repository, requestId: `r-${i % 3}` });
    await log.record({ kind: 'pull.blob', requestId: 'r-1' });
    const repoOf = async (filter: Record<string, string>) =>
      (await db.audit.rows(filter, 0, 1000, 100)).map((r) => r.repository);
    expect(await repoOf({ repositoryPrefix: 'docker.io/library/' })).toEqual(['docker.io/library/nginx', 'docker.io/library/alpine']);
    expect(await repoOf({ repositoryPrefix: 'docker.io/lib_' })).toEqual(['docker.io/lib_a/x']);
    expect(await repoOf({ repositoryPrefix: 'docker.io/50%' })).toEqual(['docker.io/50%/x']);
    expect(await repoOf({ repositoryPrefix: 'docker.io/library/nginx/' })).toEqual([]);
    expect(await repoOf({ repositoryPrefix: 'docker.io/library/', kind: 'pull.manifest', requestId: 'r-0' })).toEqual(['docker.io/library/nginx']);
    const ids = (await db.audit.rows({ requestId: 'r-1' }, 0, 1000, 100)).map((r) => r.id);
    expect(ids).toEqual([2, 5, 8, 10]);
    expect(await db.audit.rows({ requestId: 'r-' }, 0, 1000, 100)).toEqual([]);
  });

  it('reads decisions of one kind by time, in (time, id) order, in batches', async () => {
    await fresh();
    const db = await open();
    // Written with chosen times, out of id order, as events of several processes can be.
    const times = ['2025-01-01T00:00:03.000Z', '2025-01-01T00:00:01.000Z', '2025-01-01T00:00:02.000Z', '2025-01-01T00:00:02.000Z',
      '2024-12-31T23:59:59.000Z', '2025-01-01T00:00:05.000Z', '2025-01-01T00:00:01.000Z'];
    await db.audit.append(seal(times.map((time, i) => ({
      time, input: { kind: i === 6 ? 'pull.blob' : 'pull.manifest', decision: i === 3 ? null : 'allow', repository: `r${i + 1}` },
    }))));
    await db.audit.append(seal([{ time: '2025-01-01T00:00:01.000Z', input: { kind: 'pull.manifest', decision: 'deny', reasons: ['x'] } }]));
    const read = async (batch: number) => {
      const out: number[] = [];
      let after: { time: string; id: number } | undefined;
      for (;;) {
        const rows = await db.audit.decisionsByTime('pull.manifest', '2025-01-01T00:00:01.000Z', '2025-01-01T00:00:05.000Z', after, batch);
        if (rows.length === 0) return out;
        out.push(...rows.map((r) => r.id));
        after = rows.at(-1)!;
      }
    };
    expect(await read(100)).toEqual([2, 8, 3, 1]);
    expect(await read(1)).toEqual([2, 8, 3, 1]);
    const [row] = await db.audit.decisionsByTime('pull.manifest', '2025-01-01T00:00:01.000Z', '2025-01-01T00:00:02.000Z', { time: '2025-01-01T00:00:01.000Z', id: 2 }, 5);
    expect(row).toMatchObject({ id: 8, decision: 'deny', reasons: '["x"]', repository: null });
  });

  it('shares the token signing key between openers and across restarts', async () => {
    await fresh();
    const [a, b] = await Promise.all([open(), open()]);
    const [ta, tb] = await Promise.all([IssuedTokens.shared(a.keys), IssuedTokens.shared(b.keys)]);
    const token = ta.issue('ci', []).token;
    expect(tb.check(token)).toEqual({ name: 'ci', pullable: [] });
    await a.close();
    const c = await open();
    expect((await IssuedTokens.shared(c.keys)).check(token)).toEqual({ name: 'ci', pullable: [] });
  });

  it('counts failed credentials across openers and shares blocks', async () => {
    await fresh();
    const [a, b] = await Promise.all([open(), open()]);
    const la = new FailureLimiter(a.failures, 4, 60_000, 30_000);
    const lb = new FailureLimiter(b.failures, 4, 60_000, 30_000);
    const now = Date.now();
    expect(await la.fail('10.0.0.1', now)).toBe(0);
    expect(await lb.fail('10.0.0.1', now)).toBe(0);
    expect(await la.fail('10.0.0.1', now)).toBe(0);
    expect(await lb.fail('10.0.0.1', now)).toBe(30);
    expect(lb.retryAfter('10.0.0.1', now)).toBe(30);
    await la.refresh(now);
    expect(la.retryAfter('10.0.0.1', now)).toBe(30);
    expect(la.retryAfter('10.0.0.2', now)).toBe(0);
    // A failure after the window starts a new count.
    expect(await a.failures.recordFailure('10.0.0.3', now, 1000)).toBe(1);
    expect(await a.failures.recordFailure('10.0.0.3', now + 2000, 1000)).toBe(1);
    expect(await b.failures.recordFailure('10.0.0.3', now + 2100, 1000)).toBe(2);
    await a.failures.prune(now + 10_000, 1000);
    expect((await b.failures.blocked(now, 10)).has('10.0.0.1')).toBe(true);
    expect(await b.failures.recordFailure('10.0.0.3', now + 10_000, 1000)).toBe(1);
  });

  it('grants one download lease per blob across openers, taken over once it expires', async () => {
    await fresh();
    const [a, b] = await Promise.all([open(), open()]);
    const results = await Promise.all([a.leases.acquire(D(1), 'A', '/tmp/a', 60_000), b.leases.acquire(D(1), 'B', '/tmp/b', 60_000)]);
    expect(results.filter((r) => r === undefined)).toHaveLength(1);
    const winner = results[0] === undefined ? 'A' : 'B';
    expect((await a.leases.holder(D(1)))?.owner).toBe(winner);
    await a.leases.release(D(1), winner === 'A' ? 'B' : 'A');
    expect((await b.leases.holder(D(1)))?.owner).toBe(winner);
    await a.leases.release(D(1), winner);
    expect(await b.leases.holder(D(1))).toBeUndefined();
    expect(await a.leases.acquire(D(2), 'A', '/tmp/a', -1)).toBeUndefined();
    expect(await b.leases.holder(D(2))).toBeUndefined();
    expect(await b.leases.acquire(D(2), 'B', '/tmp/b', 60_000)).toBeUndefined();
    expect(await a.leases.acquire(D(2), 'A', '/tmp/a', 60_000)).toEqual({ owner: 'B', tempPath: '/tmp/b' });
    await b.leases.renew(D(2), 'B', 120_000);
    expect((await a.leases.holder(D(2)))?.owner).toBe('B');
  });
});
