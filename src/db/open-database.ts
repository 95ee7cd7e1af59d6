import type { Config } from '../config/types.js';
import type { Database } from './types.js';
import { SqliteDatabase } from './sqlite/sqlite-database.js';
import { PostgresDatabase } from './postgres/postgres-database.js';

/**
 * The one place that picks the backend: PostgreSQL when the config names a URL, else the SQLite file.
 * Migrations for that dialect are applied before it resolves.
 */
export async function openDatabase(config: Config['database'], onError?: (err: Error) => void): Promise<Database> {
  if (config.url !== undefined) return PostgresDatabase.open(config.url, onError);
  return SqliteDatabase.open(config.path);
}
