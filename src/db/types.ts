import type { Logger } from '../logger.js';
import type { PolicyException } from '../policy/exception.js';
/**
 * The database seam: async repositories that every backend (SQLite, PostgreSQL) implements and one contract
 * test suite checks. Callers hold a `Database` and never learn which backend it is. The stores are written
 * once (`stores/`, Kysely); SQL that differs per dialect stays in `sqlite/dialect.ts` and `postgres/dialect.ts`.
 */

export interface ManifestMeta {
  digest: string;
  mediaType: string;
  size: number;
  isIndex: boolean;
  subject: string | null;
}

export interface BlobLink {
  manifest: string;
  size: number;
  viaArtifact: boolean;
}

/** Evidence is gathered in one repository of one upstream, under one set of trust material. */
export interface EvidenceKey {
  upstream: string;
  repository: string;
  digest: string;
  fingerprint: string;
}

/** A digest in one repository of one upstream, whatever the trust material its evidence was gathered under. */
export type EvidenceDigest = Omit<EvidenceKey, 'fingerprint'>;

/** Tags, manifests, blob links, blob accounting and evidence: what the proxy has cached. */
export interface CacheStore {
  getTag(upstream: string, repository: string, tag: string): Promise<{ digest: string; checkedAt: number } | undefined>;
  putTag(upstream: string, repository: string, tag: string, digest: string, checkedAt: number): Promise<void>;
  listTags(upstream: string, repository: string): Promise<string[]>;
  getManifest(digest: string): Promise<ManifestMeta | undefined>;
  /** The manifest row, its presence in the repository and its children, in one transaction. */
  putManifest(upstream: string, repository: string, meta: ManifestMeta, children: readonly string[], storedAt: number): Promise<void>;
  inRepository(upstream: string, repository: string, digest: string): Promise<boolean>;
  parents(upstream: string, repository: string, child: string): Promise<string[]>;
  /**
   * Links in one transaction, each marked as written `at` (a later write refreshes it); a link from an ordinary
   * manifest wins over one from an artifact.
   */
  linkBlobs(upstream: string, repository: string, manifest: string, blobs: readonly { digest: string; size: number }[], viaArtifact: boolean, at: number): Promise<void>;
  /** Deletes up to `limit` links last written before `before`; returns how many. */
  sweepLinks(before: number, limit: number): Promise<number>;
  blobLinks(upstream: string, repository: string, digest: string): Promise<BlobLink[]>;
  linksAnywhere(digest: string): Promise<{ upstream: string; repository: string; manifest: string }[]>;
  recordBlob(digest: string, size: number, at: number): Promise<void>;
  touchBlob(digest: string, at: number): Promise<void>;
  /** Deletes the repository's tags; returns how many and the repository's manifest digests. */
  forgetRepository(upstream: string, repository: string): Promise<{ tags: number; manifests: string[] }>;
  forgetEvidence(digests: readonly string[]): Promise<number>;
  forgetContent(digest: string): Promise<void>;
  getEvidence(key: EvidenceKey): Promise<{ json: string; expiresAt: number } | undefined>;
  /**
   * Stores evidence with the vulnerability ids its scans list (each finding's id and aliases, upper-cased),
   * replacing both in one transaction.
   */
  putEvidence(key: EvidenceKey, json: string, expiresAt: number, vulnerabilities?: readonly string[]): Promise<void>;
  /**
   * Digests whose stored evidence (under any fingerprint) lists the upper-cased vulnerability id, in
   * (upstream, repository, digest) order after `after`, at most `limit`.
   */
  evidenceListing(vulnerability: string, after: EvidenceDigest, limit: number): Promise<EvidenceDigest[]>;
  /** Up to `limit` evidence rows stored before their vulnerability ids were indexed. */
  unindexedEvidence(limit: number): Promise<Array<EvidenceKey & { json: string }>>;
  /** Indexes such a row's ids unless it was indexed or rewritten meanwhile; true when indexed here. */
  indexEvidence(key: EvidenceKey, vulnerabilities: readonly string[]): Promise<boolean>;
  /** The newest evidence for a digest in a repository, preferring the given trust fingerprint (policy replay). */
  latestEvidence(upstream: string, repository: string, digest: string, fingerprint: string): Promise<string | undefined>;
  totalBlobBytes(): Promise<number>;
  /**
   * Blobs not accessed since `before` and not referenced by a manifest served (status 200) since `since`,
   * least recently used first.
   */
  evictionCandidates(before: number, since: string, limit: number): Promise<{ digest: string; size: number }[]>;
  /** Deletes the blob's row only if nobody touched it since `before`; true when it was deleted. */
  removeIdleBlob(digest: string, before: number): Promise<boolean>;
}

/** An audit row as stored and hashed: JSON columns as their stored text, booleans as 0/1. */
export interface AuditRow {
  id: number;
  time: string;
  kind: string;
  request_id: string | null;
  client: string | null;
  user: string | null;
  upstream: string | null;
  repository: string | null;
  reference: string | null;
  digest: string | null;
  decision: string | null;
  policy: string | null;
  policy_version: number | null;
  mode: string | null;
  reasons: string;
  evidence: string | null;
  cache_hit: number | null;
  bytes: number | null;
  status: number | null;
  prev_hash: string;
  hash: string;
}

/** The newest row of the chain. */
export interface ChainHead {
  id: number;
  hash: string;
}

/**
 * Turns pending events into sealed rows that follow `head` (undefined when the table holds no row; then ids
 * continue after `prunedUpTo`). Called inside the append transaction, with the head read under its lock.
 */
export type Seal = (head: ChainHead | undefined, prunedUpTo: number) => AuditRow[];

export interface AuditFilter {
  kind?: string;
  decision?: string;
  repository?: string;
  digest?: string;
  user?: string;
  /** Exact match on the event's request id. */
  requestId?: string;
  /** Events whose repository starts with this text (taken literally: `%` and `_` are no wildcards). */
  repositoryPrefix?: string;
  /** ISO 8601 UTC, inclusive. */
  since?: string;
  /** ISO 8601 UTC, exclusive. */
  until?: string;
  /** Events whose evidence JSON contains any of these strings (see `signerNeedles`). */
  evidenceContains?: string[];
}

/**
 * What an event's evidence holds when a signer took part: `{"key":NAME}` (as a `signer`, or in the `signers`
 * list), or a keyless identity ending `"subject":SUBJECT}` (with `"issuer":ISSUER,` before it when the issuer
 * is given), a Notation certificate's fingerprint, or a log entry.
 */
export function signerNeedles(signer: { key?: string; issuer?: string; subject?: string; logIndex?: number; fingerprint?: string }): string[] {
  const j = JSON.stringify;
  const out: string[] = [];
  if (signer.key !== undefined) out.push(`{"key":${j(signer.key)}}`);
  if (signer.subject !== undefined) {
    // The subject ends the recorded signer object, or is followed by its roots.
    const id = `${signer.issuer !== undefined ? `"issuer":${j(signer.issuer)},` : ''}"subject":${j(signer.subject)}`;
    out.push(`${id}}`, `${id},`);
  }
  // A Notation signer is recorded with its leaf certificate's SHA-256 fingerprint.
  if (signer.fingerprint !== undefined) out.push(`"fingerprint":${j(signer.fingerprint)}`);
  if (signer.logIndex !== undefined) out.push(`"logIndex":${signer.logIndex},"`, `"logIndex":${signer.logIndex}}`);
  return out;
}

/** What retention removes: rows up to `upto`, the last of which has hash `lastHash`. */
export interface PrunePlan {
  upto: number;
  lastHash: string;
  pruned: number;
}

/** The append-only, hash-chained audit log. Appends from every process serialise on the chain head. */
/** Id order of audit reads: oldest first, or newest first. */
export type AuditOrder = 'asc' | 'desc';

export interface AuditStore {
  /** Appends the sealed rows in one transaction, under a lock that serialises appends across processes. */
  append(seal: Seal): Promise<AuditRow[]>;
  /**
   * In one transaction: finds the newest row older than `cutoff`, appends the anchor `anchor(plan)` seals,
   * raises the prune point and deletes the rows up to it. Undefined when nothing is old enough.
   */
  prune(cutoff: string, anchor: (plan: PrunePlan) => Seal): Promise<PrunePlan | undefined>;
  count(): Promise<number>;
  maxId(): Promise<number>;
  prunedUpTo(): Promise<number>;
  /** The highest id ever appended (remembered even if rows are removed from the end), if the backend keeps it. */
  highestId(): Promise<number | undefined>;
  /** The evidence JSON of the newest `audit.prune` event. */
  latestPruneEvidence(): Promise<string | null>;
  /**
   * Rows matching the filter with afterId < id <= uptoId, at most `limit`, in id order: from afterId up
   * (`asc`), or from uptoId down (`desc`, newest first).
   */
  rows(filter: AuditFilter, afterId: number, uptoId: number, limit: number, order?: AuditOrder): Promise<AuditRow[]>;
  /**
   * The id of the `offset`-th (0-based) and following matching row in that order, at most two ids (for page
   * cursors).
   */
  idsAt(filter: AuditFilter, afterId: number, uptoId: number, offset: number, order?: AuditOrder): Promise<number[]>;
  /**
   * Rows of `kind` that carry a decision, with since <= time < until, in (time, id) order after `after`, at
   * most `limit`: the decisions a summary folds, read by time through an index instead of the whole log.
   */
  decisionsByTime(kind: string, since: string, until: string, after: TimeCursor | undefined, limit: number): Promise<DecisionRow[]>;
}

/** A position in (time, id) order. */
export interface TimeCursor {
  time: string;
  id: number;
}

/** What a summary needs of a decision event. */
export type DecisionRow = Pick<AuditRow, 'id' | 'time' | 'client' | 'user' | 'repository' | 'reference' | 'digest' | 'decision' | 'policy' | 'reasons'>;

export type PolicySourceKind = 'config' | 'api';

export interface PolicyRow {
  version: number;
  time: string;
  author: string;
  source: PolicySourceKind;
  /** JSON text of the rules. */
  rules: string;
  /** JSON text of the diff from the version before. */
  diff: string;
  rollbackOf: number | null;
  /** Why the version was made, as its author wrote it. */
  comment: string | null;
}

/** What a new version is planned from, read inside the append transaction. */
export interface PolicyState {
  newest: PolicyRow | undefined;
  lastFromConfig: PolicyRow | undefined;
  /** The version asked for with `append(plan, read)`, e.g. the one rolled back to. */
  read: PolicyRow | undefined;
}

/** Append-only policy versions; the newest is active. */
export interface PolicyStore {
  newest(): Promise<number | null>;
  get(version: number): Promise<PolicyRow | undefined>;
  /** Newest first. */
  list(): Promise<PolicyRow[]>;
  /**
   * Inserts the version `plan` returns together with its audit event, in one transaction holding the audit
   * chain's lock (so versions, like events, are numbered without races); nothing when it returns undefined.
   * With `ifNewest`, throws PolicyVersionConflict inside that transaction unless the newest version is one
   * of those numbers (a conditional write: of two writers expecting the same version, one wins).
   */
  append(
    plan: (state: PolicyState) => { row: PolicyRow; seal: Seal } | undefined,
    read?: number,
    ifNewest?: readonly number[],
  ): Promise<PolicyRow | undefined>;
  /**
   * Calls `onChange` soon after a new version is stored by any process (PostgreSQL: LISTEN/NOTIFY; both: a
   * check of the newest version every second as the fallback). Stop it before closing the database.
   */
  watch(onChange: () => void): { stop(): void };
}

/** Secrets shared by every replica, created once. */
export interface KeyStore {
  /** The key stored under `name`; the first caller's `create()` wins a race, everyone gets the same key. */
  getOrCreate(name: string, create: () => Buffer): Promise<Buffer>;
}

/** Failed-credential counts per client address, shared by every replica. */
export interface FailureStore {
  /** Counts a failure in the window that started at most `windowMs` ago (or starts one); returns the count. */
  recordFailure(address: string, now: number, windowMs: number): Promise<number>;
  /** Blocks the address until `until` if its count still reaches `maxFailures`, resetting it; true if this call did. */
  block(address: string, maxFailures: number, now: number, until: number): Promise<boolean>;
  /** Addresses blocked after `now`, with the time their block ends. */
  blocked(now: number, limit: number): Promise<Map<string, number>>;
  /** Forgets addresses not seen since `before`, and the oldest beyond `keep`. */
  prune(before: number, keep: number): Promise<void>;
}

/** A sign-in at the provider waiting for its callback (see console-sessions.ts). */
export interface PendingLogin {
  browserHash: string;
  nonce: string;
  codeVerifier: string;
  redirectUrl: string;
  expiresAt: number;
}

/** A signed-in person. */
export interface SessionRow {
  csrf: string;
  subject: string;
  issuer: string;
  name: string;
  role: string;
  createdAt: number;
  expiresAt: number;
}

/** Console sign-ins and sessions, shared by every process and replica; keys are hashes of browser secrets. */
export interface SessionStore {
  putLogin(stateHash: string, login: PendingLogin): Promise<void>;
  /** Sign-ins waiting for their callback, expired ones included until pruned. */
  pendingLogins(): Promise<number>;
  /** Removes and returns the pending sign-in: only one caller ever gets it. */
  takeLogin(stateHash: string, now: number): Promise<PendingLogin | undefined>;
  putSession(idHash: string, session: SessionRow): Promise<void>;
  getSession(idHash: string, now: number): Promise<SessionRow | undefined>;
  deleteSession(idHash: string): Promise<boolean>;
  /** Forgets expired sign-ins and sessions. */
  prune(now: number): Promise<void>;
}

/** A download in progress elsewhere: follow `tempPath` until the blob lands in the store. */
export interface HeldLease {
  owner: string;
  tempPath: string;
}

/**
 * Leases on upstream blob downloads, shared by every process on the database: the first to ask downloads,
 * the others follow its temp file. A holder renews its lease while it downloads; one that dies stops
 * renewing, and its lease can be taken once it has expired.
 */
export interface LeaseStore {
  /** Takes the lease (resolves undefined) or names the live holder to follow. */
  acquire(digest: string, owner: string, tempPath: string, ttlMs: number): Promise<HeldLease | undefined>;
  /** The live holder of a blob's lease, if any. */
  holder(digest: string): Promise<HeldLease | undefined>;
  renew(digest: string, owner: string, ttlMs: number): Promise<void>;
  release(digest: string, owner: string): Promise<void>;
}

/** A revoked signer (its JSON in `signer`); lifted when `liftedAt` is set. */
export interface RevocationRow {
  id: number;
  /** JSON: `{"key"}`, `{"keyless": {"issuer", "subject"}}` or `{"logIndex"}`. */
  signer: string;
  reason: string;
  author: string;
  time: string;
  liftedAt: string | null;
  liftedBy: string | null;
}

/** A time-boxed exception; inactive once revoked or past `until` (then `expired` once its event is written). */
export interface ExceptionRow extends PolicyException {
  revokedAt: string | null;
  revokedBy: string | null;
  expired: boolean;
}

export type NewRevocation = Omit<RevocationRow, 'id' | 'liftedAt' | 'liftedBy'>;
export type NewException = Omit<ExceptionRow, 'id' | 'revokedAt' | 'revokedBy' | 'expired'>;

/**
 * Revocations and exceptions. Every change is written with its audit event in one transaction holding the
 * audit chain's lock, and bumps a generation counter that every process watches.
 */
export interface TrustStore {
  /** Counts changes; moves whenever a revocation or exception is added, lifted, revoked or expired. */
  generation(): Promise<number>;
  /** Every revocation, lifted ones included, newest first. */
  revocations(): Promise<RevocationRow[]>;
  addRevocation(row: NewRevocation, seal: (row: RevocationRow) => Seal): Promise<RevocationRow>;
  /** Lifts an active revocation; undefined when no active revocation has this id. */
  liftRevocation(id: number, at: string, by: string, seal: (row: RevocationRow) => Seal): Promise<RevocationRow | undefined>;
  /** Every exception, newest first. */
  exceptions(): Promise<ExceptionRow[]>;
  addException(row: NewException, seal: (row: ExceptionRow) => Seal): Promise<ExceptionRow>;
  /** Revokes an exception that is neither revoked nor expired; undefined otherwise. */
  revokeException(id: number, at: string, by: string, seal: (row: ExceptionRow) => Seal): Promise<ExceptionRow | undefined>;
  /**
   * Marks exceptions whose `until` is at or before `now` (and not revoked) as expired, with the events `seal`
   * makes, in one transaction: each expiry is recorded once however many processes sweep.
   */
  expireExceptions(now: string, seal: (rows: ExceptionRow[]) => Seal): Promise<ExceptionRow[]>;
  /** Calls `onChange` soon after any process changes trust (a check of the generation every second). */
  watch(onChange: () => void): { stop(): void };
}

/** The digest a tag last passed its rule with, or that an admin accepted for it. */
export interface VerifiedTag {
  digest: string;
  verifiedAt: string;
  /** Who accepted it through the API; null when it passed its rule on a pull. */
  acceptedBy: string | null;
  /** The digest the tag was last seen moved to (a move is recorded once); null when it has not moved. */
  seenDigest: string | null;
}

/** Verified tags, for `upstreams[].tagDrift`: shared by every process through the database. */
export interface TagStore {
  verified(upstream: string, repository: string, tag: string): Promise<VerifiedTag | undefined>;
  /** Records that the tag passed with `digest` (clears a noted move). */
  markVerified(upstream: string, repository: string, tag: string, digest: string, at: string): Promise<void>;
  /** Notes that the tag moved to `digest`; true only for the first process to note this digest. */
  noteMoved(upstream: string, repository: string, tag: string, digest: string): Promise<boolean>;
  /** An admin accepts `digest` for the tag, written with its audit event in one transaction. */
  accept(upstream: string, repository: string, tag: string, digest: string, at: string, by: string, seal: Seal): Promise<VerifiedTag>;
}

/** The last run of a scheduled prefetch list; `result` is its JSON summary with every image's outcome. */
export interface PrefetchRunRow {
  list: string;
  startedAt: string;
  finishedAt: string;
  result: string;
}

/** Scheduled prefetch runs, one row per list (its last run), shared by every process through the database. */
export interface PrefetchStore {
  saveRun(run: PrefetchRunRow): Promise<void>;
  lastRuns(): Promise<PrefetchRunRow[]>;
}

export interface Database {
  /** For messages only: callers never branch on it. */
  readonly description: string;
  readonly cache: CacheStore;
  readonly audit: AuditStore;
  readonly policies: PolicyStore;
  readonly keys: KeyStore;
  readonly failures: FailureStore;
  readonly sessions: SessionStore;
  readonly leases: LeaseStore;
  readonly trust: TrustStore;
  readonly tags: TagStore;
  readonly prefetch: PrefetchStore;
  /** The outbox of webhook notifications. */
  readonly notifications: NotificationStore;
  /** Resolves when the database answers a query; rejects with the reason otherwise. */
  ping(): Promise<void>;
  /** Background work one process (the upkeep process) does for the database, if the backend needs any. */
  startUpkeep?(log: Logger): { stop(): Promise<void> };
  close(): Promise<void>;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

/** One webhook's copy of one audit event, waiting, sent or given up on. */
export interface Delivery {
  id: number;
  webhook: string;
  eventId: number;
  kind: string;
  state: DeliveryState;
  attempts: number;
  /** Epoch ms of the next attempt (pending). */
  nextAt: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

/** How an attempt ended, as the deliverer writes it back. */
export type Outcome =
  | { state: 'delivered'; status: number }
  | { state: 'pending'; status: number | null; error: string; nextAt: number }
  | { state: 'failed'; status: number | null; error: string };

/**
 * The notification outbox, shared by every process on the database. `scan` turns audit events after a
 * stored cursor into deliveries in one transaction, so nothing is skipped or doubled across restarts and
 * replicas; a delivery is `claim`ed before it is sent, so one process sends it.
 */
export interface NotificationStore {
  /**
   * Reads up to `limit` audit events after the cursor, writes a delivery for each webhook `route` names,
   * and moves the cursor past them. The first scan on a database starts after the newest event.
   */
  scan(route: (row: AuditRow) => readonly string[], limit: number, now: number): Promise<{ scanned: number; created: number }>;
  /** Marks the oldest pending deliveries of `webhook` beyond the newest `keep` as failed; returns how many. */
  trim(webhook: string, keep: number, error: string, now: number): Promise<number>;
  /** Ids of pending deliveries of `webhook` due at `now` and not claimed by a live claim, oldest first. */
  due(webhook: string, now: number, limit: number): Promise<number[]>;
  /** Claims a due delivery until `until`; true only for the one caller that got it. */
  claim(id: number, owner: string, now: number, until: number): Promise<boolean>;
  /** Gives a claim back untouched (the sender stopped before an answer): due again at once. */
  release(id: number, owner: string): Promise<void>;
  get(id: number): Promise<Delivery | undefined>;
  /** Writes the outcome of an attempt by the claim's owner, releasing the claim. */
  finish(id: number, owner: string, outcome: Outcome, now: number): Promise<void>;
  /** Newest first, in the given states. */
  list(states: readonly DeliveryState[], limit: number): Promise<Delivery[]>;
  /**
   * Makes a failed or pending delivery due now with fresh attempts, and appends the audit event `audit`
   * seals for it (given the delivery as it was) in the same transaction; undefined when no such delivery.
   */
  retry(id: number, now: number, audit: (before: Delivery) => Seal): Promise<Delivery | undefined>;
  /** How many deliveries are in each state. */
  counts(): Promise<Record<DeliveryState, number>>;
  /** Deletes up to `limit` delivered rows last updated before `before`. */
  forgetDelivered(before: number, limit: number): Promise<number>;
}
