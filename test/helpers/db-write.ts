import Database from 'better-sqlite3';
import pg from 'pg';
import type { Config } from '../../src/config/types.js';

/**
 * Runs one statement straight on a proxy's database, SQLite or PostgreSQL, on a connection of its own: to put
 * a database in a state the proxy no longer writes (rows from before an upgrade). `?` placeholders.
 */
export async function executeSql(database: Config['database'], sql: string, ...params: unknown[]): Promise<number> {
  if (database.url === undefined) {
    const db = new Database(database.path, { fileMustExist: true });
    try {
      return db.prepare(sql).run(...params).changes;
    } finally {
      db.close();
    }
  }
  let n = 0;
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return (await client.query(sql.replace(/\?/g, () => `$${++n}`), params)).rowCount ?? 0;
  } finally {
    await client.end();
  }
}
