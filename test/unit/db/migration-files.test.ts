import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { migrationFiles } from '../../../src/db/migration-files.js';
import { migrate, MIGRATIONS_DIR } from '../../../src/db/sqlite/connection.js';
import { PG_MIGRATIONS_DIR } from '../../../src/db/postgres/pool.js';

/** Migrations are recorded by number: two files with one number would leave the second unapplied. */
describe('migration files', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it('number every shipped migration once, for SQLite and PostgreSQL', () => {
    for (const dir of [MIGRATIONS_DIR, PG_MIGRATIONS_DIR]) {
      const versions = migrationFiles(dir).map((m) => m.version);
      expect(versions.length).toBeGreaterThan(2);
      expect(new Set(versions).size).toBe(versions.length);
    }
  });

  it('refuse a folder where two files share a number, before applying any', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
    dirs.push(dir);
    await writeFile(join(dir, '0001_first.sql'), 'CREATE TABLE first (x INTEGER);');
    await writeFile(join(dir, '0002_mine.sql'), 'CREATE TABLE mine (x INTEGER);');
    await writeFile(join(dir, '0002_theirs.sql'), 'CREATE TABLE theirs (x INTEGER);');
    expect(() => migrationFiles(dir)).toThrow(/0002_mine\.sql and 0002_theirs\.sql .* share the number 2/);
    const db = new Database(':memory:');
    expect(() => migrate(db, dir)).toThrow(/share the number/);
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE name = 'first'`).all()).toEqual([]);
    db.close();
  });
});
