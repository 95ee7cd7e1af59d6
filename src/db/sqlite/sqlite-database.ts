import type { AuditStore, CacheStore, Database, FailureStore, KeyStore, SessionStore, LeaseStore, PolicyStore, PrefetchStore, TagStore, TrustStore } from '../types.js';
import type { NotificationStore } from '../types.js';
import { openSqlite, type Db } from './connection.js';
import { SqliteExecutor } from './executor.js';
import { sqliteDialect } from './dialect.js';
import { openStores } from '../stores/open-stores.js';
import type { Logger } from '../../logger.js';
import { startWalCheckpoints, type BackgroundCheckpoints } from './wal-checkpointer.js';

/** The embedded default: one SQLite file (WAL), shared safely by processes on one machine. */
export class SqliteDatabase implements Database {
  readonly description: string;
  readonly cache: CacheStore;
  readonly audit: AuditStore;
  readonly policies: PolicyStore;
  readonly keys: KeyStore;
  readonly failures: FailureStore;
  readonly sessions: SessionStore;
  readonly leases: LeaseStore;
  readonly trust: TrustStore;
  readonly tags: TagStore;
  readonly prefetch: PrefetchStore;
  readonly notifications: NotificationStore;
  private readonly pingStmt;

  constructor(readonly db: Db) {
    this.description = `SQLite ${db.name}`;
    const x = new SqliteExecutor(db);
    ({
      cache: this.cache, audit: this.audit, policies: this.policies, keys: this.keys, failures: this.failures,
      sessions: this.sessions,
      leases: this.leases, trust: this.trust, tags: this.tags, prefetch: this.prefetch, notifications: this.notifications,
    } = openStores(x, sqliteDialect(x)));
    this.pingStmt = db.prepare('SELECT 1');
  }

  static open(path: string): SqliteDatabase {
    return new SqliteDatabase(openSqlite(path));
  }

  /** WAL checkpoints in a thread of this process, so no request's commit pays for one. */
  startUpkeep(log: Logger): BackgroundCheckpoints {
    return startWalCheckpoints(this.db.name, log);
  }

  async ping() {
    this.pingStmt.get();
  }

  async close() {
    if (this.db.open) this.db.close();
  }
}
