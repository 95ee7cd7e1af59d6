import Database from 'better-sqlite3';
import { mkdirSync, readFileSync } from 'node:fs';
import { migrationFiles } from '../migration-files.js';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Db = Database.Database;

export const WAL_CAP_PAGES = 10_000;

/** How long a write waits for another process's lock before it fails. */
export const BUSY_WAIT_MS = 5000;

/** The SQLite migrations folder shipped beside dist/ and src/ (PostgreSQL's are in its `postgres/` folder). */
export const MIGRATIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../migrations');

/**
 * Opens the database with WAL and applies every numbered migration not yet recorded, in order, each in
 * its own transaction. A migration file is never edited once landed; changes come as new files.
 */
export function openSqlite(path: string, opts: { readonly?: boolean; migrationsDir?: string } = {}): Db {
  if (!opts.readonly) mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  // Migrations and read-only use wait in SQLite; the executor then waits for locks itself, as long.
  db.pragma(`busy_timeout = ${BUSY_WAIT_MS}`);
  if (!opts.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Checkpoints are the upkeep process's background thread's work (wal-checkpointer.ts); a commit checkpoints
    // on its own only past this many pages (~40 MiB), which bounds the WAL if that thread is not running.
    db.pragma(`wal_autocheckpoint = ${WAL_CAP_PAGES}`);
    db.pragma('foreign_keys = ON');
    migrate(db, opts.migrationsDir ?? MIGRATIONS_DIR);
  }
  return db;
}

/**
 * Applies each pending migration in its own IMMEDIATE transaction, checking inside it whether another
 * process applied it meanwhile, so processes that start together run each migration once.
 */
export function migrate(db: Db, dir: string): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  const applied = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?');
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const ran: string[] = [];
  for (const { version, file } of migrationFiles(dir)) {
    const sql = readFileSync(join(dir, file), 'utf8');
    const done = db.transaction(() => {
      if (applied.get(version)) return false;
      db.exec(sql);
      record.run(version, file, new Date().toISOString());
      return true;
    }).immediate();
    if (done) ran.push(file);
  }
  return ran;
}
