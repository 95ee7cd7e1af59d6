import type { AuditStore } from '../db/types.js';
import { GENESIS_HASH, rowHash, type StoredRow } from './chain.js';
import type { Checkpoint } from './checkpoint.js';

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
  /** With checkpoints given: how many were held against the log, and the newest. */
  checkpoints?: CheckpointSummary;
}

export interface CheckpointSummary {
  /** Checkpoints whose event was found in the log with the signed hash. */
  matched: number;
  /** Checkpoints older than the retention point (their events were pruned as configured): not comparable. */
  pruned: number;
  /** The newest checkpoint given (highest `lastId`): the log provably holds every event up to it when `ok`. */
  newest: { lastId: number; head: string; time: string } | null;
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
export async function verifyChain(store: AuditStore, opts: { checkpoints?: readonly Checkpoint[] } = {}): Promise<ChainReport> {
  const events = await store.count();
  const pruneUpto = await store.prunedUpTo();
  // Signed checkpoints by the id they cover; the newest wins if two name one id (they must agree anyway).
  const given = opts.checkpoints;
  const byId = new Map<number, Checkpoint[]>();
  for (const c of given ?? []) byId.set(c.lastId, [...(byId.get(c.lastId) ?? []), c]);
  const newest = given?.length ? given.reduce((a, b) => (b.lastId > a.lastId ? b : a)) : undefined;
  const summary: CheckpointSummary | undefined = given
    ? { matched: 0, pruned: 0, newest: newest ? { lastId: newest.lastId, head: newest.head, time: newest.time } : null }
    : undefined;
  const broken = (id: number, reason: string, head: string | null): ChainReport =>
    ({ ok: false, events, firstBroken: id, reason, head, ...(summary ? { checkpoints: summary } : {}) });
  /** A checkpoint whose event holds another hash: the log was rewritten at or before that event. */
  const against = (id: number, hash: string): ChainReport | undefined => {
    for (const c of byId.get(id) ?? []) {
      if (c.head !== hash) {
        return broken(id, `event ${id} does not have the hash signed by the checkpoint of ${c.time} (${c.head}): the log was rewritten at or before event ${id}`, null);
      }
      summary!.matched++;
    }
    return undefined;
  };

  let expectedPrev = GENESIS_HASH;
  if (pruneUpto > 0) {
    const anchor = anchorFor(await store.latestPruneEvidence(), pruneUpto);
    if (!anchor) return broken(pruneUpto + 1, `no retention anchor records the events pruned up to ${pruneUpto}`, null);
    expectedPrev = anchor;
    for (const [id, list] of byId) if (id < pruneUpto) summary!.pruned += list.length;
    const wrong = against(pruneUpto, anchor);
    if (wrong) return wrong;
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
      const wrong = byId.size > 0 ? against(row.id, row.hash) : undefined;
      if (wrong) return { ...wrong, head };
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
  if (newest && newest.lastId >= expectedId) {
    const last = expectedId - 1;
    return broken(expectedId, `the log ends at event ${last} but the checkpoint of ${newest.time} covers events up to ${newest.lastId}: events ${expectedId}..${newest.lastId} were removed`, head);
  }
  return { ok: true, events, firstBroken: null, head, ...(summary ? { checkpoints: summary } : {}) };
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
