import type { Database } from '../types.js';
import { openSqlite, type Db } from './connection.js';
import { SqliteCacheStore } from './cache-store.js';
import { SqliteAuditStore } from './audit-store.js';
import { SqlitePolicyStore } from './policy-store.js';
import { SqliteExecutor } from './executor.js';
import { SqlFailureStore, SqlKeyStore } from '../stores/auth-store.js';
import { SqlLeaseStore } from '../stores/lease-store.js';
import { SqliteTrustStore } from './trust-store.js';
import { SqliteTagStore } from './tag-store.js';

/** The embedded default: one SQLite file (WAL), shared safely by processes on one machine. */
export class SqliteDatabase implements Database {
  readonly description: string;
  readonly cache;
  readonly audit;
  readonly policies;
  readonly keys;
  readonly failures;
  readonly leases;
  readonly trust;
  readonly tags;
  private readonly pingStmt;

  constructor(readonly db: Db) {
    this.description = `SQLite ${db.name}`;
    const x = new SqliteExecutor(db);
    this.cache = new SqliteCacheStore(db);
    this.audit = new SqliteAuditStore(db);
    this.policies = new SqlitePolicyStore(db, this.audit);
    this.keys = new SqlKeyStore(x);
    this.failures = new SqlFailureStore(x);
    this.leases = new SqlLeaseStore(x);
    this.trust = new SqliteTrustStore(db, this.audit);
    this.tags = new SqliteTagStore(db, this.audit);
    this.pingStmt = db.prepare('SELECT 1');
  }

  static open(path: string): SqliteDatabase {
    return new SqliteDatabase(openSqlite(path));
  }

  async ping() {
    this.pingStmt.get();
  }

  async close() {
    if (this.db.open) this.db.close();
  }
}
