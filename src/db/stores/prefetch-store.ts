import type { PrefetchRunRow, PrefetchStore } from '../types.js';
import { query } from '../query/compiled.js';
import type { Executor } from '../query/steps.js';

/** The last run of each scheduled prefetch list; a run replaces its list's row. */
export class SqlPrefetchStore implements PrefetchStore {
  private readonly q;

  constructor(private readonly x: Executor) {
    const qb = x.qb;
    this.q = {
      save: query((a: PrefetchRunRow) =>
        qb.insertInto('prefetch_runs')
          .values({ list: a.list, started_at: a.startedAt, finished_at: a.finishedAt, result: a.result })
          .onConflict((oc) => oc.column('list').doUpdateSet((eb) => ({
            started_at: eb.ref('excluded.started_at'), finished_at: eb.ref('excluded.finished_at'), result: eb.ref('excluded.result'),
          })))),
      all: query((_: Record<string, never>) =>
        qb.selectFrom('prefetch_runs').select(['list', 'started_at', 'finished_at', 'result']).orderBy('list')),
    };
  }

  async saveRun(run: PrefetchRunRow) {
    await this.x.run(this.q.save, run);
  }

  async lastRuns(): Promise<PrefetchRunRow[]> {
    const rows = await this.x.all(this.q.all, {});
    return rows.map((r) => ({ list: r.list, startedAt: r.started_at, finishedAt: r.finished_at, result: r.result }));
  }
}
