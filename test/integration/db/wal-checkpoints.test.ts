import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WAL_CAP_PAGES } from '../../../src/db/sqlite/connection.js';
import { SqliteDatabase } from '../../../src/db/sqlite/sqlite-database.js';
import { createLogger } from '../../../src/logger.js';

// Real SQLite files: what a commit costs the serving thread depends on where the WAL checkpoint runs.
const PAGE = 4096;
let dir: string;
let db: SqliteDatabase | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function open(): { db: SqliteDatabase; file: string } {
  dir = mkdtempSync(join(tmpdir(), 'wal-'));
  const file = join(dir, 'portcullis.db');
  db = SqliteDatabase.open(file);
  db.db.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB)');
  return { db, file };
}

/** `pages` one-page commits, as audit appends are: each its own transaction. */
function commit(d: SqliteDatabase, pages: number): void {
  const insert = d.db.prepare('INSERT INTO filler (body) VALUES (?)');
  const body = Buffer.alloc(PAGE - 200, 7);
  for (let i = 0; i < pages; i++) insert.run(body);
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('WAL checkpoints', () => {
  it('leaves commits below the cap to the background thread, which moves them into the database file', async () => {
    const { db: d, file } = open();
    const before = statSync(file).size;
    // SQLite's default would checkpoint, fsync included, inside the commit that crosses 1000 pages.
    commit(d, 1500);
    expect(statSync(file).size).toBe(before);
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(1500 * PAGE);

    const upkeep = d.startUpkeep(createLogger('error'));
    await until(() => statSync(file).size > before + 1400 * PAGE);
    await upkeep.stop();
    expect(d.db.prepare('SELECT count(*) AS n FROM filler').get()).toEqual({ n: 1500 });
  });

  it('keeps the WAL bounded without the background thread: past the cap a commit checkpoints', () => {
    const { db: d, file } = open();
    commit(d, WAL_CAP_PAGES + 500);
    expect(statSync(file).size).toBeGreaterThan(WAL_CAP_PAGES * PAGE * 0.9);
    // The WAL restarts from its beginning after a full checkpoint: it never grows far past the cap.
    expect(statSync(`${file}-wal`).size).toBeLessThan((WAL_CAP_PAGES + 100) * (PAGE + 24));
  });

  it('stops at once on close, with a last checkpoint of what was committed', async () => {
    const { db: d, file } = open();
    const upkeep = d.startUpkeep(createLogger('error'));
    commit(d, 50);
    const size = statSync(file).size;
    await upkeep.stop();
    expect(statSync(file).size).toBeGreaterThanOrEqual(size);
    await upkeep.stop(); // a second stop is harmless
    d.db.prepare('INSERT INTO filler (body) VALUES (?)').run(Buffer.alloc(10));
  });
});
