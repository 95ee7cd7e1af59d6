import pg from 'pg';
import { readFileSync } from 'node:fs';
import { migrationFiles } from '../migration-files.js';
import { join } from 'node:path';
import { MIGRATIONS_DIR } from '../sqlite/connection.js';

export const PG_MIGRATIONS_DIR = join(MIGRATIONS_DIR, 'postgres');
/** Held by whoever runs migrations, so replicas that start together run each one once. */
const MIGRATION_LOCK = 0x706f7274; // "port"

const INT8 = 20;
/** BIGINT columns (ids, sizes, epoch milliseconds) all fit a double; read them as numbers, like SQLite. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function createPool(url: string, onError: (err: Error) => void): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    types,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // Fail a query fast when the server is gone instead of holding a pull open.
    query_timeout: 30_000,
  });
  // An idle client whose server went away emits 'error' on the pool; without a listener it would crash the
  // process. The pool drops that client and connects afresh on the next query.
  pool.on('error', onError);
  return pool;
}

/** Runs `fn` in a transaction on one client; a client that failed mid-transaction is discarded, not reused. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // The server may end the connection between two statements (a restart); without a listener that 'error'
  // would be uncaught. The next statement then fails, and the transaction with it.
  const onError = (err: Error) => (broken = err);
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    broken = err as Error;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/**
 * Applies pending migrations under a session advisory lock: the first replica runs them, the others wait
 * and then find nothing to do. Each migration commits with its schema_migrations row.
 */
export async function migratePostgres(pool: pg.Pool, dir = PG_MIGRATIONS_DIR): Promise<string[]> {
  const client = await pool.connect();
  const ran: string[] = [];
  let broken: Error | undefined;
  const onError = (err: Error) => (broken = err);
  client.on('error', onError);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const { version, file } of migrationFiles(dir)) {
      if (applied.has(version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(readFileSync(join(dir, file), 'utf8'));
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [version, file, new Date().toISOString()]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw new Error(`migration ${file} failed: ${(err as Error).message}`);
      }
      ran.push(file);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    client.off('error', onError);
    client.release(broken);
  }
  return ran;
}
