import type pg from 'pg';

/**
 * A named (server-side prepared) statement: PostgreSQL parses and plans it once per connection, as
 * better-sqlite3 prepares once per database.
 */
export function statement<R extends pg.QueryResultRow = pg.QueryResultRow>(name: string, text: string) {
  return (db: pg.Pool | pg.PoolClient, values: unknown[] = []): Promise<pg.QueryResult<R>> =>
    db.query<R>({ name: `portcullis_${name}`, text, values });
}
