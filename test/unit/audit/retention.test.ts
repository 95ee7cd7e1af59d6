import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../../src/audit/audit-log.js';
import { pruneAudit } from '../../../src/audit/retention.js';
import { verifyChain } from '../../../src/audit/verify-chain.js';
import { SqliteDatabase } from '../../../src/db/sqlite/sqlite-database.js';
import type { Db } from '../../../src/db/sqlite/connection.js';

/** Retention keeps the remaining chain verifiable through its anchor, and tampering stays visible. */
const DAY = 86_400_000;
let dir: string;
let sqlite: SqliteDatabase;
let db: Db;
let audit: AuditLog;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-retention-'));
  sqlite = SqliteDatabase.open(join(dir, 'audit.db'));
  db = sqlite.db;
  audit = new AuditLog(sqlite.audit);
});
afterEach(async () => {
  await sqlite.close();
  await rm(dir, { recursive: true, force: true });
});

const append = async (n: number) => {
  for (let i = 0; i < n; i++) await audit.append({ kind: 'pull.manifest', decision: 'allow', reasons: [`pull ${i}`] });
};
const prune = (days: number, now?: Date) => pruneAudit(sqlite.audit, days, now);
const verify = () => verifyChain(sqlite.audit);

describe('audit retention', () => {
  it('prunes old events behind an anchor so the rest still verifies, twice over', async () => {
    await append(10);
    // Seen from 40 days on with 30 days kept, all ten are old.
    const first = await prune(30, new Date(Date.now() + 40 * DAY));
    expect(first).toEqual({ pruned: 10, upto: 10 });
    const anchor = db.prepare('SELECT kind, evidence FROM audit_events').all() as { kind: string; evidence: string }[];
    expect(anchor).toHaveLength(1);
    expect(anchor[0]!.kind).toBe('audit.prune');
    expect(JSON.parse(anchor[0]!.evidence)).toMatchObject({ upto: 10, pruned: 10, lastPrunedHash: expect.stringMatching(/^[a-f0-9]{64}$/) });
    expect(await verify()).toMatchObject({ ok: true, events: 1 });

    await append(5);
    expect(await verify()).toMatchObject({ ok: true, events: 6 });
    expect(await prune(30, new Date(Date.now() + 40 * DAY))).toEqual({ pruned: 6, upto: 16 });
    await append(2);
    expect(await verify()).toMatchObject({ ok: true, events: 3, firstBroken: null });
  });

  it('prunes nothing when no event is old enough', async () => {
    await append(3);
    expect(await prune(30)).toBeUndefined();
    expect(await verify()).toMatchObject({ ok: true, events: 3 });
  });

  it('still catches a changed event after pruning, and a forged prune point', async () => {
    await append(4);
    await prune(1, new Date(Date.now() + 2 * DAY));
    await append(3);
    const raw = new Database(join(dir, 'audit.db'));
    raw.exec('DROP TRIGGER audit_events_no_update');
    raw.exec(`UPDATE audit_events SET decision = 'deny' WHERE id = 7`);
    raw.close();
    expect(await verify()).toMatchObject({ ok: false, firstBroken: 7 });

    db.prepare('UPDATE audit_control SET prune_upto = 5 WHERE id = 1').run();
    expect(await verify()).toMatchObject({ ok: false, firstBroken: 6 });
  });

  it('continues ids and the chain from the anchor, not from the start', async () => {
    await append(3);
    await prune(1, new Date(Date.now() + 2 * DAY));
    await append(1);
    const ids = db.prepare('SELECT id FROM audit_events ORDER BY id').pluck().all();
    expect(ids).toEqual([4, 5]);
  });
});
