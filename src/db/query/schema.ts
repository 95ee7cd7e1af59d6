import type { Generated } from 'kysely';
import type { AuditRow } from '../types.js';

/**
 * The tables as the stores see them, for the query builder's type checks. Both dialects share this shape:
 * integers (ids, sizes, epoch milliseconds, 0/1 flags) are read as numbers, times are ISO 8601 text.
 */
export interface Schema {
  tags: { upstream: string; repository: string; tag: string; digest: string; checked_at: number };
  manifests: { digest: string; media_type: string; size: number; is_index: number; subject: string | null; stored_at: number };
  repository_manifests: { upstream: string; repository: string; digest: string };
  manifest_children: { upstream: string; repository: string; parent: string; child: string };
  blob_links: { upstream: string; repository: string; digest: string; manifest: string; size: number; via_artifact: number; linked_at: number };
  blobs: { digest: string; size: number; stored_at: number; last_access: number };
  evidence: { upstream: string; repository: string; digest: string; fingerprint: string; json: string; expires_at: number; vulnerabilities_indexed: Generated<number> };
  /** The vulnerability ids (upper-cased ids and aliases) each evidence row's scans list. */
  evidence_vulnerabilities: { vulnerability: string; upstream: string; repository: string; digest: string; fingerprint: string };
  // The audit row's columns are the ones it is hashed over: one definition for both.
  audit_events: AuditRow;
  audit_control: { id: number; prune_upto: number };
  secret_keys: { name: string; key: Buffer; created_at: number };
  console_logins: { state_hash: string; browser_hash: string; nonce: string; code_verifier: string; redirect_url: string; expires_at: number };
  console_sessions: { id_hash: string; csrf: string; subject: string; issuer: string; name: string; role: string; created_at: number; expires_at: number };
  auth_failures: { address: string; window_start: number; failures: number; blocked_until: number; seen_at: number };
  blob_fetches: { digest: string; owner: string; temp_path: string; expires_at: number };
  policy_versions: {
    version: number; time: string; author: string; source: 'config' | 'api'; rules: string; diff: string;
    rollback_of: number | null; comment: string | null;
  };
  trust_generation: { id: number; n: number };
  revocations: {
    id: Generated<number>; signer: string; reason: string; author: string; time: string;
    lifted_at: string | null; lifted_by: string | null;
  };
  policy_exceptions: {
    id: Generated<number>; repository: string; digest: string | null; until: string; reason: string; author: string;
    time: string; cover_deny_rule: number; revoked_at: string | null; revoked_by: string | null; expired: Generated<number>;
    vulnerability: string | null;
  };
  prefetch_runs: { list: string; started_at: string; finished_at: string; result: string };
  notification_cursor: { id: number; after_id: number };
  notification_deliveries: {
    id: Generated<number>; webhook: string; event_id: number; kind: string; state: string; attempts: number; next_at: number;
    claimed_by: string | null; claimed_until: number; last_status: number | null; last_error: string | null;
    created_at: number; updated_at: number;
  };
  verified_tags: {
    upstream: string; repository: string; tag: string; digest: string; verified_at: string;
    accepted_by: string | null; seen_digest: string | null;
  };
}

