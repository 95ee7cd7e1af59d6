import Database from 'better-sqlite3';
import type { StoredRow } from '../../src/audit/chain.js';

/** Audit rows straight from a proxy's SQLite file (read-only), in id order. */
export function auditRows(dbPath: string, where = '1 = 1', ...params: unknown[]): StoredRow[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT * FROM audit_events WHERE ${where} ORDER BY id`).all(...params) as StoredRow[];
  } finally {
    db.close();
  }
}
