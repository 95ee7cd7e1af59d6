import type pg from 'pg';
import type { AuditStore, CacheStore, Database, FailureStore, KeyStore, SessionStore, LeaseStore, PolicyStore, PrefetchStore, TagStore, TrustStore } from '../types.js';
import type { NotificationStore } from '../types.js';
import { createPool, migratePostgres } from './pool.js';
import { PostgresExecutor } from './executor.js';
import { postgresDialect } from './dialect.js';
import { openStores } from '../stores/open-stores.js';

/**
 * PostgreSQL 13 or newer, shared by any number of replicas. The pool reconnects by itself: while the server
 * is unreachable queries fail (and pulls with them, closed), and the next query after it returns succeeds.
 */
export class PostgresDatabase implements Database {
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

  private constructor(
    private readonly pool: pg.Pool,
    url: string,
    onError: (err: Error) => void,
  ) {
    this.description = `PostgreSQL ${redact(url)}`;
    const x = new PostgresExecutor(pool);
    ({
      cache: this.cache, audit: this.audit, policies: this.policies, keys: this.keys, failures: this.failures,
      sessions: this.sessions,
      leases: this.leases, trust: this.trust, tags: this.tags, prefetch: this.prefetch, notifications: this.notifications,
    } = openStores(x, postgresDialect(x, url, onError)));
  }

  /** Connects and applies pending migrations (once, under an advisory lock, however many replicas start). */
  static async open(url: string, onError: (err: Error) => void = () => {}): Promise<PostgresDatabase> {
    const pool = createPool(url, onError);
    try {
      await migratePostgres(pool);
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return new PostgresDatabase(pool, url, onError);
  }

  async ping() {
    await this.pool.query('SELECT 1');
  }

  async close() {
    if (!this.pool.ended) await this.pool.end();
  }
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}
