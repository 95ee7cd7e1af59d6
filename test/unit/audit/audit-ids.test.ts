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

/**
 * Audit ids are never given out twice, so events deleted from the end of the log stay missing after the
 * proxy appends new ones, with or without retention anchors before them.
 */
const DAY = 86_400_000;
let dir: string;
let path: string;
let sqlite: SqliteDatabase;
let db: Db;
let audit: AuditLog;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-ids-'));
  path = join(dir, 'audit.db');
  sqlite = SqliteDatabase.open(path);
  db = sqlite.db;
  audit = new AuditLog(sqlite.audit);
});
afterEach(async () => {
  await sqlite.close();
  await rm(dir, { recursive: true, force: true });
});

const append = async (n: number) => {
  for (let i = 0; i < n; i++) await audit.append({ kind: 'pull.manifest', decision: 'deny', reasons: [`pull ${i}`] });
};
const prune = () => pruneAudit(sqlite.audit, 1, new Date(Date.now() + 2 * DAY));
const verify = () => verifyChain(sqlite.audit);

/** Deletes rows behind the proxy's back, as someone with the database file could. */
function deleteRows(where: string): void {
  const raw = new Database(path);
  raw.exec('DROP TRIGGER audit_events_no_delete');
  raw.exec(`DELETE FROM audit_events WHERE ${where}`);
  raw.close();
}

const ids = () => db.prepare('SELECT id FROM audit_events ORDER BY id').pluck().all();

describe('audit ids', () => {
  it('keep a cut after a retention anchor visible once new events arrive', async () => {
    await append(4);
    await prune(); // anchor is event 5
    await append(3); // 6, 7, 8
    deleteRows('id >= 7');
    await append(3);
    expect(ids()).toEqual([5, 6, 9, 10, 11]);
    expect(await verify()).toMatchObject({
      ok: false,
      firstBroken: 7,
      reason: 'events 7..8 are missing: the log was cut after event 6 and the proxy appended from event 9 on',
    });
  });

  it('keep a log emptied and restarted visible', async () => {
    await append(3);
    deleteRows('1 = 1');
    await append(4);
    expect(ids()).toEqual([4, 5, 6, 7]);
    expect(await verify()).toMatchObject({ ok: false, firstBroken: 1, reason: expect.stringContaining('every event was removed') });
  });

  it('leave a log pruned by retention and appended to intact', async () => {
    await append(5);
    await prune();
    await append(2);
    await prune();
    await append(2);
    expect(await verify()).toMatchObject({ ok: true, firstBroken: null });
  });
});
