import type { Config } from '../config/types.js';
import { openDatabase } from '../db/open-database.js';
import type { Database } from '../db/types.js';

/** Opens the config's database for a one-shot command and closes it afterwards, whatever happens. */
export async function withDatabase<T>(config: Config, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(config.database);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Where the database is, for messages (never the PostgreSQL URL: it may hold a password). */
export function databaseName(config: Config): string {
  return config.database.path ?? 'the PostgreSQL database';
}
