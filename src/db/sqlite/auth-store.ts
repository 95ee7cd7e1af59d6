import type { Db } from './connection.js';
import type { FailureStore, KeyStore } from '../types.js';

/** Shared secrets in SQLite: insert-if-absent, then read, so racing processes all end with the first key. */
export class SqliteKeyStore implements KeyStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare('INSERT INTO secret_keys (name, key, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING'),
      get: db.prepare('SELECT key FROM secret_keys WHERE name = ?').pluck(),
    };
  }

  async getOrCreate(name: string, create: () => Buffer) {
    this.s.insert.run(name, create(), Date.now());
    return this.s.get.get(name) as Buffer;
  }
}

/** Failed-credential counts in SQLite; each change is one statement, so processes sharing the file agree. */
export class SqliteFailureStore implements FailureStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      record: db.prepare(`INSERT INTO auth_failures (address, window_start, failures, blocked_until, seen_at)
        VALUES (@address, @now, 1, 0, @now)
        ON CONFLICT (address) DO UPDATE SET
          failures = CASE WHEN @now - window_start >= @window THEN 1 ELSE failures + 1 END,
          window_start = CASE WHEN @now - window_start >= @window THEN @now ELSE window_start END,
          seen_at = @now
        RETURNING failures`).pluck(),
      block: db.prepare(`UPDATE auth_failures SET blocked_until = ?, failures = 0, window_start = ?
        WHERE address = ? AND failures >= ?`),
      blocked: db.prepare('SELECT address, blocked_until FROM auth_failures WHERE blocked_until > ? ORDER BY blocked_until DESC LIMIT ?'),
      pruneOld: db.prepare('DELETE FROM auth_failures WHERE seen_at < ? AND blocked_until < ?'),
      pruneExcess: db.prepare(`DELETE FROM auth_failures WHERE address IN (
        SELECT address FROM auth_failures ORDER BY seen_at DESC LIMIT -1 OFFSET ?)`),
    };
  }

  async recordFailure(address: string, now: number, windowMs: number) {
    return this.s.record.get({ address, now, window: windowMs }) as number;
  }

  async block(address: string, maxFailures: number, now: number, until: number) {
    return this.s.block.run(until, now, address, maxFailures).changes > 0;
  }

  async blocked(now: number, limit: number) {
    const rows = this.s.blocked.all(now, limit) as { address: string; blocked_until: number }[];
    return new Map(rows.map((r) => [r.address, r.blocked_until]));
  }

  async prune(before: number, keep: number) {
    this.s.pruneOld.run(before, Date.now());
    this.s.pruneExcess.run(keep);
  }
}
