import { createHash } from 'node:crypto';
import type { AuditRow } from '../db/types.js';
import type { AuditEvent } from './types.js';

export const GENESIS_HASH = '0'.repeat(64);

/**
 * The hashed content of an event: every column but the hashes, in a fixed order, as they are stored
 * (JSON columns as their stored text), so the check needs nothing but the row.
 */
export type StoredRow = AuditRow;

export function rowHash(prevHash: string, row: Omit<StoredRow, 'hash' | 'prev_hash'>): string {
  const content = JSON.stringify([
    row.id, row.time, row.kind, row.request_id, row.client, row.user, row.upstream, row.repository, row.reference,
    row.digest, row.decision, row.policy, row.policy_version, row.mode, row.reasons, row.evidence, row.cache_hit,
    row.bytes, row.status,
  ]);
  return createHash('sha256').update(prevHash).update('\n').update(content).digest('hex');
}

export function rowToEvent(row: StoredRow): AuditEvent {
  return {
    id: row.id,
    time: row.time,
    kind: row.kind,
    requestId: row.request_id,
    client: row.client,
    user: row.user,
    upstream: row.upstream,
    repository: row.repository,
    reference: row.reference,
    digest: row.digest,
    decision: row.decision,
    policy: row.policy,
    policyVersion: row.policy_version,
    mode: row.mode,
    reasons: safeParse(row.reasons, [] as string[]),
    evidence: row.evidence === null ? null : safeParse(row.evidence, null),
    cacheHit: row.cache_hit === null ? null : row.cache_hit === 1,
    bytes: row.bytes,
    status: row.status,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function safeParse<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}
