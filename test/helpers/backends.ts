import { afterAll, beforeAll } from 'vitest';
import { havePostgres, startPostgres, type PgCluster } from './postgres.js';

/**
 * The database backends a suite runs against: SQLite always, PostgreSQL when it is installed (a notice
 * otherwise, a failure under CI). Use with describe.each; call `useBackends()` at the top of the file so a
 * PostgreSQL cluster is started once for it and removed afterwards.
 *
 *   const backends = useBackends();
 *   describe.each(backends.names)('audit (%s)', (name) => { ... backends.database(name, dir) ... });
 */
export type BackendName = 'sqlite' | 'postgres';

export interface Backends {
  names: BackendName[];
  /** A `database` config section for a fresh, empty database of this backend (SQLite in `./<file>`). */
  database(name: BackendName, file?: string): Promise<{ path: string } | { url: string }>;
  cluster(): PgCluster;
}

export function useBackends(): Backends {
  const names: BackendName[] = havePostgres() ? ['sqlite', 'postgres'] : ['sqlite'];
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    if (names.includes('postgres')) cluster = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);
  return {
    names,
    async database(name, file = './portcullis.db') {
      if (name === 'sqlite') return { path: file };
      return { url: await this.cluster().createDatabase() };
    },
    cluster() {
      if (!cluster) throw new Error('no PostgreSQL cluster started');
      return cluster;
    },
  };
}
