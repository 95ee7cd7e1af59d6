import type { RawBuilder, SqlBool } from 'kysely';
import type { AuditRow, ChainHead, EvidenceKey } from '../types.js';
import type { Steps } from './steps.js';

/** Where the audit chain stands, read under its lock. */
export interface ChainPosition {
  /** The row new rows chain to (its id: the highest id ever given), undefined when the table is empty. */
  head: ChainHead | undefined;
  /** Ids continue after this when the table is empty. */
  after: number;
  /** Rows up to here were removed by retention. */
  prunedUpTo: number;
}

export interface CacheLink {
  upstream: string;
  repository: string;
  manifest: string;
  blobs: readonly { digest: string; size: number }[];
  viaArtifact: boolean;
  at: number;
}

/**
 * What SQLite and PostgreSQL really do differently; everything else is written once in `stores/`. One
 * implementation each: `sqlite/dialect.ts`, `postgres/dialect.ts`.
 */
export interface Dialect {
  /**
   * Inside a transaction: takes the lock that serialises audit appends (and the versions and trust changes
   * written with them) across processes, and reads where the chain stands.
   */
  lockChain(): Steps<ChainPosition>;
  /** Inside a transaction holding the chain's lock: inserts sealed rows. */
  insertAudit(rows: readonly AuditRow[]): Steps<void>;
  /** The highest audit id ever given, if the backend remembers it. */
  highestAuditId(): Promise<number | undefined>;
  /** `column` starts with `prefix`, compared as text (no LIKE wildcards). */
  startsWith(column: string, prefix: string): RawBuilder<SqlBool>;
  /** `column` contains `needle` as text. */
  contains(column: string, needle: string): RawBuilder<SqlBool>;
  /** Orders text byte by byte, whatever the database's collation. */
  bytewise(column: string): RawBuilder<unknown>;
  /** Announces a committed policy version to other processes (inside its transaction). */
  announcePolicy(version: number): Steps<void>;
  /** Calls `check` when another process may have stored a policy version; stop before closing. */
  listenPolicies(check: () => void): { stop(): void };
  // Cache writes of many rows: one statement each on PostgreSQL, a loop in one transaction on SQLite.
  putManifest(upstream: string, repository: string, row: { digest: string; mediaType: string; size: number; isIndex: boolean; subject: string | null }, children: readonly string[], storedAt: number): Promise<void>;
  linkBlobs(link: CacheLink): Promise<void>;
  /** Deletes up to `limit` links written before `before` (by physical row id). */
  sweepLinks(before: number, limit: number): Promise<number>;
  forgetRepository(upstream: string, repository: string): Promise<{ tags: number; manifests: string[] }>;
  /** Deletes the digests' evidence in every repository, with its vulnerability ids; returns how many evidence rows. */
  forgetEvidence(digests: readonly string[]): Promise<number>;
  /** Inside a transaction: adds vulnerability ids of one evidence row (distinct, upper-cased). */
  insertVulnerabilities(key: EvidenceKey, ids: readonly string[]): Steps<void>;
}
