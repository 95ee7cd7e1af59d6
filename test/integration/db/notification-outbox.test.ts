import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, sealOne } from '../../../src/audit/audit-log.js';
import { verifyChain } from '../../../src/audit/verify-chain.js';
import { openDatabase } from '../../../src/db/open-database.js';
import type { Database } from '../../../src/db/types.js';
import { useBackends, type BackendName } from '../../helpers/backends.js';

/**
 * The notification outbox on every backend, with two openers of one database standing for two replicas:
 * racing scans write each delivery once and skip no event, and of racing claims exactly one wins.
 */

const backends = useBackends();

describe.each(backends.names)('notification outbox (%s)', (backend: BackendName) => {
  let dir: string;
  const opened: Database[] = [];
  let config: { path: string } | { url: string };
  const open = async () => {
    const db = await openDatabase(config as never);
    opened.push(db);
    return db;
  };
  const everyone = () => ['hook'];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `outbox-${backend}-`));
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

  it('starts after the newest event, then turns every later event into one delivery however many scan', async () => {
    await fresh();
    const [a, b] = [await open(), await open()];
    const log = new AuditLog(a.audit);
    await log.record({ kind: 'pull.manifest', decision: 'deny' });
    expect(await a.notifications.scan(everyone, 100, Date.now())).toEqual({ scanned: 0, created: 0 });
    const ids: number[] = [];
    // Scans race with appends and with each other, in small batches.
    const appending = (async () => {
      for (let i = 0; i < 40; i++) ids.push(await log.record({ kind: 'pull.manifest', decision: 'deny', repository: `r${i}` }));
    })();
    let done = false;
    const scanner = async (db: Database) => {
      while (!done) {
        await db.notifications.scan(everyone, 7, Date.now());
        // SQLite answers at once: let the appends' turns come.
        await new Promise((r) => setImmediate(r));
      }
    };
    const scanning = Promise.all([scanner(a), scanner(b)]);
    await appending;
    done = true;
    await scanning;
    while ((await a.notifications.scan(everyone, 7, Date.now())).scanned > 0);
    const rows = await a.notifications.list(['pending'], 1000);
    expect(rows.map((r) => r.eventId).sort((x, y) => x - y)).toEqual(ids);
  });

  it('gives a due delivery to exactly one of the processes that claim it', async () => {
    await fresh();
    const [a, b] = [await open(), await open()];
    const log = new AuditLog(a.audit);
    await a.notifications.scan(everyone, 100, Date.now());
    for (let i = 0; i < 20; i++) await log.record({ kind: 'tag.drift' });
    await a.notifications.scan(everyone, 100, Date.now());
    const now = Date.now();
    const ids = await a.notifications.due('hook', now, 100);
    expect(ids).toHaveLength(20);
    const won = await Promise.all(ids.flatMap((id) => [a.notifications.claim(id, 'a', now, now + 60_000), b.notifications.claim(id, 'b', now, now + 60_000)]));
    for (let i = 0; i < ids.length; i++) expect(Number(won[2 * i]) + Number(won[2 * i + 1])).toBe(1);
    expect(await b.notifications.due('hook', now, 100)).toEqual([]);
    // A claim that lapses (its process died) makes the delivery due again.
    expect(await b.notifications.due('hook', now + 60_001, 100)).toHaveLength(20);
  });
  it('makes a delivery due again and appends its audit event in one transaction, on the chain', async () => {
    await fresh();
    const [a, b] = [await open(), await open()];
    const log = new AuditLog(a.audit);
    await a.notifications.scan(everyone, 100, Date.now());
    const eventId = await log.record({ kind: 'pull.manifest', decision: 'deny' });
    await a.notifications.scan(everyone, 100, Date.now());
    const [delivery] = await a.notifications.list(['pending'], 10);
    const audit = (before: { id: number; state: string }) => sealOne({ kind: 'notification.retry', user: 'alice', reasons: [`retried ${before.id} (${before.state})`] });
    // Two replicas retry at once: both are recorded, each after the other on the chain.
    const [x, y] = await Promise.all([a.notifications.retry(delivery!.id, Date.now(), audit), b.notifications.retry(delivery!.id, Date.now(), audit)]);
    expect([x?.state, y?.state]).toEqual(['pending', 'pending']);
    expect(await a.notifications.retry(delivery!.id + 1000, Date.now(), audit)).toBeUndefined();
    const rows = await a.audit.rows({ kind: 'notification.retry' }, 0, await a.audit.maxId(), 10);
    expect(rows.map((r) => [r.user, r.reasons])).toEqual([['alice', JSON.stringify([`retried ${delivery!.id} (pending)`])], ['alice', JSON.stringify([`retried ${delivery!.id} (pending)`])]]);
    expect(rows.every((r) => r.id > eventId)).toBe(true);
    expect((await verifyChain(a.audit)).ok).toBe(true);
  });
});
