import type { Statement } from 'better-sqlite3';
import { BUSY_WAIT_MS, type Db } from './connection.js';
import { queryBuilder, type Query } from '../query/compiled.js';
import type { Executor, Step, Steps } from '../query/steps.js';

/**
 * Runs compiled queries on better-sqlite3: each SQL text is prepared once and kept, every call is
 * synchronous (answered at once, not as a promise), and a transaction runs its steps in one IMMEDIATE
 * transaction, which takes the file's write lock first so processes sharing the file serialise.
 */
export class SqliteExecutor implements Executor {
  readonly dialect = 'sqlite';
  readonly qb = queryBuilder('sqlite');
  /** By SQL text; and by query object, an identity lookup that spares hashing the text on every call. */
  private readonly prepared = new Map<string, Statement>();
  private readonly byQuery = new WeakMap<Query<any, unknown>, Statement>();
  /** Made once: better-sqlite3 builds a wrapper per `transaction()` call. */
  private readonly inTransaction;

  constructor(readonly db: Db) {
    this.inTransaction = db.transaction((steps: Steps<unknown>) => this.drive(steps));
    // Waiting for a lock is done here, not by SQLite: see transaction() and waitingSync().
    db.pragma('busy_timeout = 0');
  }

  all<A, R>(query: Query<A, R>, args: A): R[] {
    const stmt = this.statement(query);
    return waitingSync(() => stmt.all(...query.bind(args)) as R[]);
  }

  get<A, R>(query: Query<A, R>, args: A): R | undefined {
    const stmt = this.statement(query);
    return waitingSync(() => stmt.get(...query.bind(args)) as R | undefined);
  }

  run<A>(query: Query<A, unknown>, args: A): number {
    const stmt = this.statement(query);
    return waitingSync(() => stmt.run(...query.bind(args)).changes);
  }

  /**
   * While another process holds the write lock, SQLite's busy handler would sleep inside this call, freezing the
   * event loop (its first sleep is a whole millisecond, and workers on one file collide constantly under load).
   * So the attempt does not wait: a busy lock is retried from a timer, and only after BUSY_WAIT_MS is it an error.
   */
  async transaction<T>(steps: () => Steps<T>): Promise<T> {
    const deadline = Date.now() + BUSY_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return this.inTransaction.immediate(steps()) as T;
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline) throw err;
      }
      // A lock is held for tens of microseconds: look again at once, then back off to a few milliseconds.
      await new Promise((resolve) => (attempt === 0 ? setImmediate(resolve) : setTimeout(resolve, Math.min(2 ** (attempt - 1), 8))));
    }
  }

  private drive<T>(steps: Steps<T>): T {
    let next = steps.next();
    while (!next.done) next = steps.next(this.step(next.value));
    return next.value;
  }

  private step(step: Step): unknown {
    const stmt = this.statement(step.query);
    const params = step.query.bind(step.args);
    // One argument: an array of positional parameters, or an object of named ones (the audit row insert).
    if (step.kind === 'run') return stmt.run(params).changes;
    return step.kind === 'all' ? stmt.all(params) : stmt.get(params);
  }

  private statement(query: Query<any, unknown>): Statement {
    let stmt = this.byQuery.get(query);
    if (stmt) return stmt;
    stmt = this.prepared.get(query.sql);
    if (!stmt) {
      stmt = this.db.prepare(query.sql);
      this.prepared.set(query.sql, stmt);
    }
    this.byQuery.set(query, stmt);
    return stmt;
  }
}

function isBusy(err: unknown): boolean {
  return (err as { code?: string }).code === 'SQLITE_BUSY';
}

const pause = new Int32Array(new SharedArrayBuffer(4));
/**
 * A single statement (an autocommit write, rarely a read) answered synchronously waits for a lock as SQLite's
 * own busy handler would, sleeping a little longer each time, for BUSY_WAIT_MS in all. Such statements are
 * few and short; the group-committed writes go through transaction(), which waits without blocking.
 */
function waitingSync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!isBusy(err)) throw err;
  }
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    Atomics.wait(pause, 0, 0, Math.min(2 ** attempt, 25));
    try {
      return fn();
    } catch (err) {
      if (!isBusy(err) || Date.now() >= deadline) throw err;
    }
  }
}
