import type pg from 'pg';
import type { FailureStore, KeyStore } from '../types.js';
import { statement } from './statement.js';

const s = {
  insertKey: statement('key_insert', 'INSERT INTO secret_keys (name, key, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING'),
  getKey: statement<{ key: Buffer }>('key_get', 'SELECT key FROM secret_keys WHERE name = $1'),
  record: statement<{ failures: number }>('failure_record', `INSERT INTO auth_failures (address, window_start, failures, blocked_until, seen_at)
    VALUES ($1, $2, 1, 0, $2)
    ON CONFLICT (address) DO UPDATE SET
      failures = CASE WHEN $2 - auth_failures.window_start >= $3 THEN 1 ELSE auth_failures.failures + 1 END,
      window_start = CASE WHEN $2 - auth_failures.window_start >= $3 THEN $2 ELSE auth_failures.window_start END,
      seen_at = $2
    RETURNING failures`),
  block: statement('failure_block', `UPDATE auth_failures SET blocked_until = $1, failures = 0, window_start = $2
    WHERE address = $3 AND failures >= $4`),
  blocked: statement<{ address: string; blocked_until: number }>('failure_blocked',
    'SELECT address, blocked_until FROM auth_failures WHERE blocked_until > $1 ORDER BY blocked_until DESC LIMIT $2'),
  pruneOld: statement('failure_prune_old', 'DELETE FROM auth_failures WHERE seen_at < $1 AND blocked_until < $2'),
  pruneExcess: statement('failure_prune_excess', `DELETE FROM auth_failures WHERE address IN (
    SELECT address FROM auth_failures ORDER BY seen_at DESC OFFSET $1)`),
};

/** Shared secrets in PostgreSQL: INSERT ... ON CONFLICT DO NOTHING, then SELECT, so every replica gets the first key. */
export class PostgresKeyStore implements KeyStore {
  constructor(private readonly pool: pg.Pool) {}

  async getOrCreate(name: string, create: () => Buffer) {
    await s.insertKey(this.pool, [name, create(), Date.now()]);
    return (await s.getKey(this.pool, [name])).rows[0]!.key;
  }
}

/** Failed-credential counts in PostgreSQL; each change is one statement (row-locked), so replicas agree. */
export class PostgresFailureStore implements FailureStore {
  constructor(private readonly pool: pg.Pool) {}

  async recordFailure(address: string, now: number, windowMs: number) {
    return (await s.record(this.pool, [address, now, windowMs])).rows[0]!.failures;
  }

  async block(address: string, maxFailures: number, now: number, until: number) {
    return ((await s.block(this.pool, [until, now, address, maxFailures])).rowCount ?? 0) > 0;
  }

  async blocked(now: number, limit: number) {
    const rows = (await s.blocked(this.pool, [now, limit])).rows;
    return new Map(rows.map((r) => [r.address, r.blocked_until]));
  }

  async prune(before: number, keep: number) {
    await s.pruneOld(this.pool, [before, Date.now()]);
    await s.pruneExcess(this.pool, [keep]);
  }
}
