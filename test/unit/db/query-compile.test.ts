import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { query, queryBuilder } from '../../../src/db/query/compiled.js';

describe('queries compiled once per dialect', () => {
  const build = (dialect: 'sqlite' | 'postgres') => {
    const qb = queryBuilder(dialect);
    return query((a: { upstream: string; repository: string; tag: string }) =>
      qb.selectFrom('tags').select('digest').where('tag', '=', a.tag).where('upstream', '=', a.upstream)
        .where('repository', '=', a.repository).limit(sql.lit(1)));
  };

  it('binds named arguments to each dialect\'s placeholders, in the order the SQL uses them', () => {
    const lite = build('sqlite');
    const pg = build('postgres');
    expect(lite.sql).toBe('select "digest" from "tags" where "tag" = ? and "upstream" = ? and "repository" = ? limit 1');
    expect(pg.sql).toBe('select "digest" from "tags" where "tag" = $1 and "upstream" = $2 and "repository" = $3 limit 1');
    const args = { upstream: 'docker.io', repository: 'library/alpine', tag: '3' };
    expect(lite.bind(args)).toEqual(['3', 'docker.io', 'library/alpine']);
    expect(pg.bind(args)).toEqual(['3', 'docker.io', 'library/alpine']);
  });

  it('refuses a constant written as a parameter, which would hide it from the planner', () => {
    const qb = queryBuilder('sqlite');
    expect(() => query(() => qb.selectFrom('policy_exceptions').select('id').where('expired', '=', 0))).toThrow(/sql\.lit/);
  });
});
