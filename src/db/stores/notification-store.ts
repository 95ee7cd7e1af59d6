import { sql } from 'kysely';
import type { AuditRow, Seal } from '../types.js';
import type { Delivery, DeliveryState, NotificationStore, Outcome } from '../types.js';
import { compiledNow, query } from '../query/compiled.js';
import type { Dialect } from '../query/dialect.js';
import { all, get, run, type Executor } from '../query/steps.js';
import { appendAt } from './audit-store.js';

interface Row {
  id: number; webhook: string; event_id: number; kind: string; state: string; attempts: number; next_at: number;
  last_status: number | null; last_error: string | null; created_at: number; updated_at: number;
}

const COLUMNS = ['id', 'webhook', 'event_id', 'kind', 'state', 'attempts', 'next_at', 'last_status', 'last_error', 'created_at', 'updated_at'] as const;

const toDelivery = (r: Row): Delivery => ({
  id: r.id, webhook: r.webhook, eventId: r.event_id, kind: r.kind, state: r.state as DeliveryState, attempts: r.attempts,
  nextAt: r.next_at, lastStatus: r.last_status, lastError: r.last_error, createdAt: r.created_at, updatedAt: r.updated_at,
});

/** The outbox of webhook deliveries; every change is one statement or one transaction, so replicas agree. */
export class SqlNotificationStore implements NotificationStore {
  private readonly q;

  constructor(
    private readonly x: Executor,
    private readonly dialect: Dialect,
  ) {
    const qb = x.qb;
    this.q = {
      // Taking the cursor row's write lock first serialises scanners (PostgreSQL; SQLite's transaction is exclusive).
      lockCursor: query(() => qb.updateTable('notification_cursor').set((eb) => ({ after_id: eb.ref('after_id') })).where('id', '=', sql.lit(1)).returning('after_id')),
      startCursor: query(() => qb.insertInto('notification_cursor')
        .values({ id: sql.lit(1), after_id: sql<number>`(SELECT COALESCE(MAX(id), 0) FROM audit_events)` })
        .onConflict((oc) => oc.column('id').doNothing())),
      cursor: query(() => qb.selectFrom('notification_cursor').select('after_id').where('id', '=', sql.lit(1))),
      newest: query(() => qb.selectFrom('audit_events').select((eb) => eb.fn.max('id').as('id'))),
      moveCursor: query((a: { afterId: number }) => qb.updateTable('notification_cursor').set({ after_id: a.afterId }).where('id', '=', sql.lit(1))),
      events: query((a: { afterId: number; limit: number }) =>
        qb.selectFrom('audit_events').selectAll().where('id', '>', a.afterId).orderBy('id').limit(a.limit)),
      add: query((a: { webhook: string; eventId: number; kind: string; now: number }) =>
        qb.insertInto('notification_deliveries')
          .values({ webhook: a.webhook, event_id: a.eventId, kind: a.kind, state: sql.lit('pending'), attempts: sql.lit(0), next_at: a.now, claimed_until: sql.lit(0), created_at: a.now, updated_at: a.now })
          .onConflict((oc) => oc.columns(['webhook', 'event_id']).doNothing())),
      // Up to the newest pending delivery beyond the `keep` newest, every pending one is dropped.
      // Deliveries being sent (a live claim) are left to finish.
      trim: query((a: { webhook: string; keep: number; error: string; now: number }) =>
        qb.updateTable('notification_deliveries')
          .set({ state: sql.lit('failed'), last_error: a.error, updated_at: a.now })
          .where('webhook', '=', a.webhook).where('state', '=', sql.lit('pending')).where('claimed_until', '<', a.now)
          .where('id', '<=', (eb) => eb.selectFrom('notification_deliveries').select('id')
            .where('webhook', '=', a.webhook).where('state', '=', sql.lit('pending'))
            .orderBy('id', 'desc').limit(sql.lit(1)).offset(a.keep))),
      due: query((a: { webhook: string; now: number; limit: number }) =>
        qb.selectFrom('notification_deliveries').select('id')
          .where('webhook', '=', a.webhook).where('state', '=', sql.lit('pending'))
          .where('next_at', '<=', a.now).where('claimed_until', '<', a.now)
          .orderBy('id').limit(a.limit)),
      // Conditional on the claim being free: of two processes, the second's update matches nothing.
      claim: query((a: { id: number; owner: string; now: number; until: number }) =>
        qb.updateTable('notification_deliveries').set({ claimed_by: a.owner, claimed_until: a.until })
          .where('id', '=', a.id).where('state', '=', sql.lit('pending'))
          .where('next_at', '<=', a.now).where('claimed_until', '<', a.now)),
      release: query((a: { id: number; owner: string }) =>
        qb.updateTable('notification_deliveries').set({ claimed_by: sql.lit(null), claimed_until: sql.lit(0) })
          .where('id', '=', a.id).where('claimed_by', '=', a.owner)),
      get: query((a: { id: number }) => qb.selectFrom('notification_deliveries').select(COLUMNS).where('id', '=', a.id)),
      finish: query((a: { id: number; owner: string; state: string; status: number | null; error: string | null; nextAt: number; now: number }) =>
        qb.updateTable('notification_deliveries')
          .set((eb) => ({
            state: a.state, last_status: a.status, last_error: a.error, next_at: a.nextAt, updated_at: a.now,
            attempts: eb('attempts', '+', sql.lit(1)), claimed_by: sql.lit(null), claimed_until: sql.lit(0),
          }))
          .where('id', '=', a.id).where('claimed_by', '=', a.owner).where('state', '=', sql.lit('pending'))),
      retry: query((a: { id: number; now: number }) =>
        qb.updateTable('notification_deliveries')
          .set({ state: sql.lit('pending'), attempts: sql.lit(0), next_at: a.now, claimed_by: sql.lit(null), claimed_until: sql.lit(0), updated_at: a.now })
          .where('id', '=', a.id).where('state', 'in', [sql.lit('pending'), sql.lit('failed')])
          .returning(COLUMNS)),
      counts: query(() => qb.selectFrom('notification_deliveries').select(['state', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('state')),
      forget: query((a: { before: number; limit: number }) =>
        qb.deleteFrom('notification_deliveries').where('id', 'in', (eb) => eb.selectFrom('notification_deliveries').select('id')
          .where('state', '=', sql.lit('delivered')).where('updated_at', '<', a.before).limit(a.limit))),
    };
  }

  async scan(route: (row: AuditRow) => readonly string[], limit: number, now: number) {
    const q = this.q;
    // Nothing new (the usual case): answered by two reads, with no write transaction every second.
    const [cursor, newest] = [await this.x.get(q.cursor, undefined), await this.x.get(q.newest, undefined)];
    if (cursor && cursor.after_id >= Number(newest?.id ?? 0)) return { scanned: 0, created: 0 };
    return this.x.transaction(function* () {
      const cursor = yield* get(q.lockCursor, undefined);
      if (!cursor) {
        yield* run(q.startCursor, undefined);
        return { scanned: 0, created: 0 };
      }
      const rows = yield* all(q.events, { afterId: cursor.after_id, limit });
      let created = 0;
      for (const row of rows) {
        for (const webhook of route(row)) created += yield* run(q.add, { webhook, eventId: row.id, kind: row.kind, now });
      }
      if (rows.length > 0) yield* run(q.moveCursor, { afterId: rows[rows.length - 1]!.id });
      return { scanned: rows.length, created };
    });
  }

  async trim(webhook: string, keep: number, error: string, now: number) {
    return this.x.run(this.q.trim, { webhook, keep, error, now });
  }

  async due(webhook: string, now: number, limit: number) {
    return (await this.x.all(this.q.due, { webhook, now, limit })).map((r) => r.id);
  }

  async claim(id: number, owner: string, now: number, until: number) {
    return (await this.x.run(this.q.claim, { id, owner, now, until })) === 1;
  }

  async release(id: number, owner: string) {
    await this.x.run(this.q.release, { id, owner });
  }

  async get(id: number) {
    const row = await this.x.get(this.q.get, { id });
    return row && toDelivery(row);
  }

  async finish(id: number, owner: string, o: Outcome, now: number) {
    await this.x.run(this.q.finish, {
      id, owner, now, state: o.state, status: o.status,
      error: o.state === 'delivered' ? null : o.error,
      nextAt: o.state === 'pending' ? o.nextAt : 0,
    });
  }

  async list(states: readonly DeliveryState[], limit: number) {
    if (states.length === 0) return [];
    const qb = this.x.qb;
    const rows = await this.x.all(compiledNow(qb.selectFrom('notification_deliveries').select(COLUMNS)
      .where('state', 'in', states as DeliveryState[]).orderBy('id', 'desc').limit(limit)), undefined);
    return rows.map(toDelivery);
  }

  retry(id: number, now: number, audit: (before: Delivery) => Seal) {
    const { q, dialect } = this;
    return this.x.transaction(function* () {
      // The chain's lock first, as every audited change takes it: one order of locks, no deadlock.
      const chain = yield* dialect.lockChain();
      const before = yield* get(q.get, { id });
      if (!before) return undefined;
      const row = yield* get(q.retry, { id, now });
      if (!row) return undefined;
      yield* appendAt(dialect, chain, audit(toDelivery(before)));
      return toDelivery(row);
    });
  }

  async counts() {
    const out: Record<DeliveryState, number> = { pending: 0, delivered: 0, failed: 0 };
    for (const r of await this.x.all(this.q.counts, undefined)) out[r.state as DeliveryState] = Number(r.n);
    return out;
  }

  async forgetDelivered(before: number, limit: number) {
    return this.x.run(this.q.forget, { before, limit });
  }
}
