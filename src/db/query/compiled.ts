import {
  DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, SqliteAdapter, SqliteIntrospector,
  SqliteQueryCompiler, type Compilable,
} from 'kysely';
import type { Schema } from './schema.js';

/**
 * Queries are written once with Kysely and compiled once per dialect, when a store is made: the hot path
 * only binds arguments and runs the SQL text through the driver (better-sqlite3 prepared statements,
 * PostgreSQL named statements). Kysely never executes anything here; its builders only produce SQL.
 */
export type QueryBuilder = Kysely<Schema>;

export function queryBuilder(dialect: 'sqlite' | 'postgres'): QueryBuilder {
  const sqlite = dialect === 'sqlite';
  return new Kysely<Schema>({
    dialect: {
      createAdapter: () => (sqlite ? new SqliteAdapter() : new PostgresAdapter()),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => (sqlite ? new SqliteIntrospector(db) : new PostgresIntrospector(db)),
      createQueryCompiler: () => (sqlite ? new SqliteQueryCompiler() : new PostgresQueryCompiler()),
    },
  });
}

/** SQL text and how to turn named arguments into its positional parameters. */
export interface Query<A, R> {
  readonly sql: string;
  readonly bind: (args: A) => unknown[];
  /** Only carries the row type. */
  readonly row?: R;
}

/** A named argument, compiled into the SQL as a parameter and filled in on each run. */
class Arg {
  constructor(readonly name: string) {}
}

/** Stands in for `args.name` while a query is built. */
const placeholders = new Proxy({}, { get: (_, name) => new Arg(String(name)) });

/**
 * Compiles `build(args)` once. `args` is a stand-in: each field read becomes a parameter, bound by name when
 * the query runs. Read its fields one by one (`a.digest`): the stand-in has no keys of its own, so
 * `values(a)` would insert no columns. Constants must be literals (`sql.lit(1)`), not parameters: the
 * planner then sees them, as it must to use a partial index or to plan `LIMIT 1` (a parameter costs
 * measurably on SQLite); a constant parameter is refused here.
 */
export function query<A, R>(build: (args: A) => Compilable<R>): Query<A, R> {
  const compiled = build(placeholders as A).compile();
  const constant = compiled.parameters.find((p) => !(p instanceof Arg));
  if (constant !== undefined) throw new Error(`a constant parameter (${String(constant)}) in: ${compiled.sql}; write it as sql.lit()`);
  return fromParameters<A, R>(compiled.sql, compiled.parameters as Arg[]);
}

/** Hand-written SQL (one dialect's own), with its parameters named in order. */
export function rawQuery<A, R = unknown>(sql: string, names: readonly (keyof A & string)[]): Query<A, R> {
  return fromParameters<A, R>(sql, names.map((n) => new Arg(n)));
}

/**
 * A query built with its values at run time (filters of any shape): compiled on each call, so not for hot
 * paths. Its SQL text stays the same for the same shape, so the driver's prepared statement is reused.
 */
export function compiledNow<R>(q: Compilable<R>): Query<void, R> {
  const compiled = q.compile();
  return { sql: compiled.sql, bind: () => compiled.parameters.slice() };
}

function fromParameters<A, R>(sql: string, parameters: readonly Arg[]): Query<A, R> {
  const names = parameters.map((p) => p.name);
  return {
    sql,
    bind: (args: A) => {
      const out = new Array<unknown>(names.length);
      for (let i = 0; i < names.length; i++) out[i] = (args as Record<string, unknown>)[names[i]!];
      return out;
    },
  };
}
