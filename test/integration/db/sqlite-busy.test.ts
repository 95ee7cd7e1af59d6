import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../../src/audit/audit-log.js';
import { SqliteDatabase } from '../../../src/db/sqlite/sqlite-database.js';

// Real SQLite files, the write lock held by a second connection as another worker process holds it.
let dir: string;
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  rmSync(dir, { recursive: true, force: true });
});

function setUp(): { db: SqliteDatabase; other: Database.Database } {
  dir = mkdtempSync(join(tmpdir(), 'busy-'));
  const file = join(dir, 'portcullis.db');
  const db = SqliteDatabase.open(file);
  const other = new Database(file);
  closers.push(() => db.close(), () => other.close());
  return { db, other };
}

describe('a write that finds the database locked by another process', () => {
  it('waits without freezing the event loop, and commits once the lock is released', async () => {
    const { db, other } = setUp();
    other.exec('BEGIN IMMEDIATE');
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    setTimeout(() => other.exec('COMMIT'), 300);
    const started = Date.now();
    const id = await new AuditLog(db.audit).record({ kind: 'pull.manifest', repository: 'x/y' });
    clearInterval(ticker);
    expect(id).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    // SQLite's busy handler would have slept through every tick, and the release, for five seconds.
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  it('answers reads at once while another process writes', async () => {
    const { db, other } = setUp();
    await new AuditLog(db.audit).record({ kind: 'pull.manifest', repository: 'x/y' });
    other.exec('BEGIN IMMEDIATE');
    other.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'x', 'now')");
    const started = Date.now();
    expect(await db.audit.maxId()).toBe(1);
    expect(Date.now() - started).toBeLessThan(1000);
    other.exec('ROLLBACK');
  });
});
