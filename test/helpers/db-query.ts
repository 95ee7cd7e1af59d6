import Database from 'better-sqlite3';
import pg from 'pg';
import type { Config } from '../../src/config/types.js';

/**
 * Reads rows straight from a proxy's database, SQLite or PostgreSQL, on a connection of its own, so a test
 * can look at what was committed. `?` placeholders; quote the column "user" (a keyword in PostgreSQL).
 */
export async function queryRows<T = Record<string, unknown>>(database: Config['database'], sql: string, ...params: unknown[]): Promise<T[]> {
  if (database.url === undefined) {
    const db = new Database(database.path, { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }
  let n = 0;
  const client = new pg.Client({ connectionString: database.url });
  client.setTypeParser(20, (v: string) => Number(v));
  await client.connect();
  try {
    return (await client.query(sql.replace(/\?/g, () => `$${++n}`), params)).rows as T[];
  } finally {
    await client.end();
  }
}

/** The first column of each row. */
export async function queryColumn<T = unknown>(database: Config['database'], sql: string, ...params: unknown[]): Promise<T[]> {
  return (await queryRows(database, sql, ...params)).map((r) => Object.values(r as object)[0] as T);
}
