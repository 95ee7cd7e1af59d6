import pg from 'pg';
import type { PolicyRow, PolicySourceKind, PolicyState, PolicyStore, Seal } from '../types.js';
import { pollNewest } from '../poll-newest.js';
import { PolicyVersionConflict } from '../policy-conflict.js';
import { appendInTx, lockChain } from './audit-store.js';
import { inTransaction } from './pool.js';
import { statement } from './statement.js';

/** The channel a new policy version is announced on; the payload is its number. */
export const POLICY_CHANNEL = 'portcullis_policy';

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

const toRow = (r: Row | undefined): PolicyRow | undefined => {
  if (!r) return undefined;
  const { rollback_of, ...rest } = r;
  return { ...rest, rollbackOf: rollback_of, comment: r.comment ?? null };
};

const s = {
  newest: statement<{ v: number | null }>('policy_newest', 'SELECT max(version) AS v FROM policy_versions'),
  get: statement<Row>('policy_get', 'SELECT * FROM policy_versions WHERE version = $1'),
  lastFromConfig: statement<Row>('policy_last_config', `SELECT * FROM policy_versions WHERE source = 'config' ORDER BY version DESC LIMIT 1`),
  list: statement<Row>('policy_list', 'SELECT * FROM policy_versions ORDER BY version DESC'),
  insert: statement('policy_insert', `INSERT INTO policy_versions (version, time, author, source, rules, diff, rollback_of, comment)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`),
  notify: statement('policy_notify', `SELECT pg_notify('${POLICY_CHANNEL}', $1)`),
};

/** Policy versions in PostgreSQL; a new version is announced with NOTIFY when its transaction commits. */
export class PostgresPolicyStore implements PolicyStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    private readonly onError: (err: Error) => void,
  ) {}

  async newest() {
    return (await s.newest(this.pool)).rows[0]!.v;
  }

  async get(version: number) {
    return toRow((await s.get(this.pool, [version])).rows[0]);
  }

  async list() {
    return (await s.list(this.pool)).rows.map((r) => toRow(r)!);
  }

  append(plan: (state: PolicyState) => { row: PolicyRow; seal: Seal } | undefined, read?: number, ifNewest?: readonly number[]) {
    return inTransaction(this.pool, async (client): Promise<PolicyRow | undefined> => {
      // The audit head lock also serialises version numbers: every version change writes an audit event.
      await lockChain(client);
      const newest = (await s.newest(client)).rows[0]!.v;
      if (ifNewest && (newest === null || !ifNewest.includes(newest))) throw new PolicyVersionConflict(newest, ifNewest);
      const planned = plan({
        newest: newest === null ? undefined : toRow((await s.get(client, [newest])).rows[0]),
        lastFromConfig: toRow((await s.lastFromConfig(client)).rows[0]),
        read: read === undefined ? undefined : toRow((await s.get(client, [read])).rows[0]),
      });
      if (!planned) return undefined;
      const { row } = planned;
      await s.insert(client, [row.version, row.time, row.author, row.source, row.rules, row.diff, row.rollbackOf, row.comment]);
      await appendInTx(client, planned.seal);
      await s.notify(client, [String(row.version)]);
      return row;
    });
  }

  /** LISTEN for announcements on a connection of its own (reconnecting), and poll every second as well. */
  watch(onChange: () => void) {
    const poll = pollNewest(() => this.newest(), onChange);
    let stopped = false;
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    const connect = () => {
      if (stopped) return;
      const c = new pg.Client({ connectionString: this.url });
      client = c;
      const again = (err?: Error) => {
        if (err) this.onError(err);
        c.removeAllListeners();
        c.on('error', () => {});
        void c.end().catch(() => {});
        if (client === c) client = undefined;
        if (!stopped && !retry) retry = setTimeout(() => ((retry = undefined), connect()), 1000).unref();
      };
      c.on('error', again);
      c.on('end', () => again());
      c.on('notification', () => void poll.check());
      c.connect()
        .then(() => c.query(`LISTEN ${POLICY_CHANNEL}`))
        .then(() => void poll.check(), again);
    };
    connect();
    return {
      stop() {
        stopped = true;
        poll.stop();
        if (retry) clearTimeout(retry);
        const c = client;
        client = undefined;
        if (c) {
          c.removeAllListeners();
          c.on('error', () => {});
          void c.end().catch(() => {});
        }
      },
    };
  }
}
