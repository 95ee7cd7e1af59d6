import type pg from 'pg';
import type { Database } from '../types.js';
import { createPool, migratePostgres } from './pool.js';
import { PostgresCacheStore } from './cache-store.js';
import { PostgresAuditStore } from './audit-store.js';
import { PostgresPolicyStore } from './policy-store.js';
import { PostgresExecutor } from './executor.js';
import { SqlFailureStore, SqlKeyStore } from '../stores/auth-store.js';
import { SqlLeaseStore } from '../stores/lease-store.js';
import { PostgresTrustStore } from './trust-store.js';
import { PostgresTagStore } from './tag-store.js';

/**
 * PostgreSQL 13 or newer, shared by any number of replicas. The pool reconnects by itself: while the server
 * is unreachable queries fail (and pulls with them, closed), and the next query after it returns succeeds.
 */
export class PostgresDatabase implements Database {
  readonly description: string;
  readonly cache;
  readonly audit;
  readonly policies;
  readonly keys;
  readonly failures;
  readonly leases;
  readonly trust;
  readonly tags;

  private constructor(
    private readonly pool: pg.Pool,
    url: string,
    onError: (err: Error) => void,
  ) {
    this.description = `PostgreSQL ${redact(url)}`;
    const x = new PostgresExecutor(pool);
    this.cache = new PostgresCacheStore(pool);
    this.audit = new PostgresAuditStore(pool);
    this.policies = new PostgresPolicyStore(pool, url, onError);
    this.keys = new SqlKeyStore(x);
    this.failures = new SqlFailureStore(x);
    this.leases = new SqlLeaseStore(x);
    this.trust = new PostgresTrustStore(pool);
    this.tags = new PostgresTagStore(pool);
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
