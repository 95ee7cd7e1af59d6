import type { Query, QueryBuilder } from './compiled.js';

/**
 * Work inside a transaction is written once as a generator of steps: each `yield*` runs one query and
 * gives back its answer. SQLite runs the steps synchronously inside one IMMEDIATE transaction (its driver
 * is synchronous, and nothing else may run on the connection meanwhile); PostgreSQL runs them one round
 * trip at a time on one pooled client between BEGIN and COMMIT.
 */
export interface Step {
  kind: 'all' | 'get' | 'run';
  query: Query<any, unknown>;
  args: unknown;
}

export type Steps<T> = Generator<Step, T, unknown>;

export function* all<A, R>(query: Query<A, R>, args: A): Steps<R[]> {
  return (yield { kind: 'all', query, args }) as R[];
}

export function* get<A, R>(query: Query<A, R>, args: A): Steps<R | undefined> {
  return (yield { kind: 'get', query, args }) as R | undefined;
}

/** Runs a statement; returns how many rows it changed. */
export function* run<A>(query: Query<A, unknown>, args: A): Steps<number> {
  return (yield { kind: 'run', query, args }) as number;
}

/** An answer now (SQLite's synchronous driver: no promise to allocate and await on the hot path) or later. */
export type Answer<T> = T | Promise<T>;

/**
 * Runs queries on one database: outside a transaction one statement at a time, or steps in one. Callers
 * `await` single statements inside async functions, so an error reaches them as a rejection either way.
 */
export interface Executor {
  readonly dialect: 'sqlite' | 'postgres';
  /** Compiles queries only (never runs them). */
  readonly qb: QueryBuilder;
  all<A, R>(query: Query<A, R>, args: A): Answer<R[]>;
  get<A, R>(query: Query<A, R>, args: A): Answer<R | undefined>;
  run<A>(query: Query<A, unknown>, args: A): Answer<number>;
  /** Runs the steps in one transaction; a throw rolls it back. */
  transaction<T>(steps: () => Steps<T>): Promise<T>;
}
