import type { Db } from '../db/database.js';
import { GENESIS_HASH, rowHash, type StoredRow } from './chain.js';

export interface ChainReport {
  ok: boolean;
  /** Events stored now. */
  events: number;
  /** Id of the first event that fails the check (or the first missing id), null when intact. */
  firstBroken: number | null;
  /** Why it failed, for people; absent when intact. */
  reason?: string;
  /** Hash of the newest event: keep it elsewhere to detect a rewrite of the whole log later. */
  head: string | null;
}

const BATCH = 2000;

/**
 * Recomputes the hash chain from the retention anchor (or genesis) to the newest event. A row changed,
 * removed from the middle or the end, or moved breaks it: each hash covers the row's id and content and
 * the previous row's hash, ids run without gaps, and SQLite's AUTOINCREMENT counter remembers the
 * highest id ever written. Yields to the event loop between batches so a server stays responsive.
 */
export async function verifyChain(db: Db): Promise<ChainReport> {
  const events = db.prepare('SELECT count(*) FROM audit_events').pluck().get() as number;
  const pruneUpto = (db.prepare('SELECT prune_upto FROM audit_control WHERE id = 1').pluck().get() as number | undefined) ?? 0;
  const broken = (id: number, reason: string, head: string | null): ChainReport => ({ ok: false, events, firstBroken: id, reason, head });

  let expectedPrev = GENESIS_HASH;
  if (pruneUpto > 0) {
    const anchor = anchorFor(db, pruneUpto);
    if (!anchor) return broken(pruneUpto + 1, `no retention anchor records the events pruned up to ${pruneUpto}`, null);
    expectedPrev = anchor;
  }
  let expectedId = pruneUpto + 1;
  let head: string | null = null;
  const page = db.prepare('SELECT * FROM audit_events WHERE id > ? ORDER BY id LIMIT ?');
  for (;;) {
    const rows = page.all(expectedId - 1, BATCH) as StoredRow[];
    for (const row of rows) {
      if (row.id !== expectedId) {
        return broken(expectedId, `event ${expectedId}${row.id - 1 > expectedId ? `..${row.id - 1}` : ''} is missing`, head);
      }
      if (row.prev_hash !== expectedPrev) {
        return broken(row.id, `event ${row.id} does not follow the event before it (removed, reordered or changed)`, head);
      }
      const { hash: _h, prev_hash: _p, ...content } = row;
      if (rowHash(row.prev_hash, content) !== row.hash) return broken(row.id, `event ${row.id} was changed`, head);
      expectedPrev = row.hash;
      head = row.hash;
      expectedId++;
    }
    if (rows.length < BATCH) break;
    await new Promise((r) => setImmediate(r));
  }
  const highest = db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'`).pluck().get() as number | undefined;
  if (highest !== undefined && highest >= expectedId) {
    return broken(expectedId, `events from ${expectedId} to ${highest} were removed from the end of the log`, head);
  }
  return { ok: true, events, firstBroken: null, head };
}

/** The hash of the last pruned event, as recorded by the newest retention anchor for this prune point. */
function anchorFor(db: Db, pruneUpto: number): string | undefined {
  const rows = db
    .prepare(`SELECT evidence FROM audit_events WHERE kind = 'audit.prune' ORDER BY id DESC LIMIT 1`)
    .pluck()
    .all() as (string | null)[];
  try {
    const e = JSON.parse(rows[0] ?? 'null') as { upto?: number; lastPrunedHash?: string } | null;
    return e && e.upto === pruneUpto && typeof e.lastPrunedHash === 'string' ? e.lastPrunedHash : undefined;
  } catch {
    return undefined;
  }
}
