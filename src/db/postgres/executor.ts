import { createHash } from 'node:crypto';
import type pg from 'pg';
import { queryBuilder, type Query } from '../query/compiled.js';
import type { Executor, Step, Steps } from '../query/steps.js';
import { inTransaction } from './pool.js';

/**
 * Runs compiled queries on a pg pool as named statements (parsed and planned once per connection, named
 * after their SQL text); a transaction runs its steps on one client between BEGIN and COMMIT.
 */
export class PostgresExecutor implements Executor {
  readonly dialect = 'postgres';
  readonly qb = queryBuilder('postgres');
  private readonly names = new Map<string, string>();

  constructor(readonly pool: pg.Pool) {}

  async all<A, R>(query: Query<A, R>, args: A): Promise<R[]> {
    return (await this.send(this.pool, query, args)).rows as R[];
  }

  async get<A, R>(query: Query<A, R>, args: A): Promise<R | undefined> {
    return (await this.send(this.pool, query, args)).rows[0] as R | undefined;
  }

  async run<A>(query: Query<A, unknown>, args: A): Promise<number> {
    return (await this.send(this.pool, query, args)).rowCount ?? 0;
  }

  transaction<T>(steps: () => Steps<T>): Promise<T> {
    return inTransaction(this.pool, async (client) => {
      const it = steps();
      let next = it.next();
      while (!next.done) next = it.next(await this.step(client, next.value));
      return next.value;
    });
  }

  private async step(client: pg.PoolClient, step: Step): Promise<unknown> {
    const result = await this.send(client, step.query, step.args);
    if (step.kind === 'run') return result.rowCount ?? 0;
    return step.kind === 'all' ? result.rows : result.rows[0];
  }

  private send<A>(db: pg.Pool | pg.PoolClient, query: Query<A, unknown>, args: A): Promise<pg.QueryResult> {
    return db.query({ name: this.name(query.sql), text: query.sql, values: query.bind(args) });
  }

  private name(sql: string): string {
    let name = this.names.get(sql);
    if (!name) {
      name = `portcullis_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
      this.names.set(sql, name);
    }
    return name;
  }
}
