import type { AuditStore } from '../db/types.js';
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
 * the previous row's hash, ids run without gaps, and the database remembers the highest id ever written
 * (SQLite's AUTOINCREMENT counter, PostgreSQL's chain head row), from which new ids continue, so a cut at
 * the end stays a gap after the proxy appends again. Yields to the event loop between batches so a server
 * stays responsive.
 */
export async function verifyChain(store: AuditStore): Promise<ChainReport> {
  const events = await store.count();
  const pruneUpto = await store.prunedUpTo();
  const broken = (id: number, reason: string, head: string | null): ChainReport => ({ ok: false, events, firstBroken: id, reason, head });

  let expectedPrev = GENESIS_HASH;
  if (pruneUpto > 0) {
    const anchor = anchorFor(await store.latestPruneEvidence(), pruneUpto);
    if (!anchor) return broken(pruneUpto + 1, `no retention anchor records the events pruned up to ${pruneUpto}`, null);
    expectedPrev = anchor;
  }
  let expectedId = pruneUpto + 1;
  let head: string | null = null;
  for (;;) {
    const rows = await store.rows({}, expectedId - 1, Number.MAX_SAFE_INTEGER, BATCH);
    for (const row of rows) {
      if (row.id !== expectedId) return broken(expectedId, missing(expectedId, row, expectedPrev), head);
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
  const highest = await store.highestId();
  if (highest !== undefined && highest >= expectedId) {
    return broken(expectedId, `events from ${expectedId} to ${highest} were removed from the end of the log`, head);
  }
  return { ok: true, events, firstBroken: null, head };
}

/**
 * Why ids from `from` up to the row found are missing. Ids are never reused, so rows deleted from the end
 * leave a gap once the proxy appends again. When the event after the gap chains straight onto the last one
 * before it, the log was cut there and the proxy carried on from what was left.
 */
function missing(from: number, found: StoredRow, expectedPrev: string): string {
  const ids = found.id - 1 > from ? `events ${from}..${found.id - 1} are` : `event ${from} is`;
  if (found.prev_hash === expectedPrev) {
    const cut = from === 1 ? 'every event was removed' : `the log was cut after event ${from - 1}`;
    return `${ids} missing: ${cut} and the proxy appended from event ${found.id} on`;
  }
  return from === 1 ? `${ids} missing` : `${ids} missing after event ${from - 1}`;
}

/** The hash of the last pruned event, as recorded by the newest retention anchor for this prune point. */
function anchorFor(evidence: string | null, pruneUpto: number): string | undefined {
  try {
    const e = JSON.parse(evidence ?? 'null') as { upto?: number; lastPrunedHash?: string } | null;
    return e && e.upto === pruneUpto && typeof e.lastPrunedHash === 'string' ? e.lastPrunedHash : undefined;
  } catch {
    return undefined;
  }
}
