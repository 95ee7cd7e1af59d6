import type { Db } from './connection.js';
import type { SqliteAuditStore } from './audit-store.js';
import type { PolicyRow, PolicySourceKind, PolicyState, PolicyStore, Seal } from '../types.js';
import { pollNewest } from '../poll-newest.js';
import { PolicyVersionConflict } from '../policy-conflict.js';

interface Row {
  version: number;
  time: string;
  author: string;
  source: PolicySourceKind;
  rules: string;
  diff: string;
  rollback_of: number | null;
  comment: string | null;
}

const toRow = ({ rollback_of, ...r }: Row): PolicyRow => ({ ...r, rollbackOf: rollback_of, comment: r.comment ?? null });

/** Policy versions in SQLite; a version and its audit event are written in one IMMEDIATE transaction. */
export class SqlitePolicyStore implements PolicyStore {
  private readonly s;

  constructor(
    private readonly db: Db,
    private readonly audit: SqliteAuditStore,
  ) {
    this.s = {
      newest: db.prepare('SELECT max(version) FROM policy_versions').pluck(),
      get: db.prepare('SELECT * FROM policy_versions WHERE version = ?'),
      lastFromConfig: db.prepare(`SELECT * FROM policy_versions WHERE source = 'config' ORDER BY version DESC LIMIT 1`),
      list: db.prepare('SELECT * FROM policy_versions ORDER BY version DESC'),
      insert: db.prepare(`INSERT INTO policy_versions (version, time, author, source, rules, diff, rollback_of, comment)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    };
  }

  async newest() {
    return (this.s.newest.get() as number | null) ?? null;
  }

  async get(version: number) {
    const r = this.s.get.get(version) as Row | undefined;
    return r && toRow(r);
  }

  async list() {
    return (this.s.list.all() as Row[]).map(toRow);
  }

  async append(plan: (state: PolicyState) => { row: PolicyRow; seal: Seal } | undefined, read?: number, ifNewest?: readonly number[]) {
    return this.db.transaction((): PolicyRow | undefined => {
      const newest = this.s.newest.get() as number | null;
      if (ifNewest && (newest === null || !ifNewest.includes(newest))) throw new PolicyVersionConflict(newest, ifNewest);
      const one = (v: number | null | undefined) => (v === null || v === undefined ? undefined : (this.s.get.get(v) as Row | undefined));
      const state: PolicyState = {
        newest: newest === null ? undefined : toRow(one(newest)!),
        lastFromConfig: ((r) => r && toRow(r))(this.s.lastFromConfig.get() as Row | undefined),
        read: ((r) => r && toRow(r))(one(read)),
      };
      const planned = plan(state);
      if (!planned) return undefined;
      const { row } = planned;
      this.s.insert.run(row.version, row.time, row.author, row.source, row.rules, row.diff, row.rollbackOf, row.comment);
      this.audit.appendInTx(planned.seal);
      return row;
    }).immediate();
  }

  /** Other processes sharing the file write versions too: check the newest version every second. */
  watch(onChange: () => void) {
    return pollNewest(() => this.newest(), onChange);
  }
}
