import type { Statement } from 'better-sqlite3';
import type { Db } from './connection.js';
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
  }

  all<A, R>(query: Query<A, R>, args: A): R[] {
    return this.statement(query).all(...query.bind(args)) as R[];
  }

  get<A, R>(query: Query<A, R>, args: A): R | undefined {
    return this.statement(query).get(...query.bind(args)) as R | undefined;
  }

  run<A>(query: Query<A, unknown>, args: A): number {
    return this.statement(query).run(...query.bind(args)).changes;
  }

  async transaction<T>(steps: () => Steps<T>): Promise<T> {
    return this.inTransaction.immediate(steps()) as T;
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
