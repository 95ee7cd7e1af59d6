export type AuditKind =
  | 'pull.manifest'
  | 'audit.chain.broken'
  | 'pull.blob'
  | 'pull.referrers'
  | 'policy.update'
  | 'policy.rollback'
  | 'auth.failure'
  | 'cache.purge'
  | 'audit.prune'
  | (string & {});

/** One audit event as written; `id`, `time`, hashes are assigned by the log. */
export interface AuditEventInput {
  kind: AuditKind;
  requestId?: string | null;
  client?: string | null;
  user?: string | null;
  upstream?: string | null;
  repository?: string | null;
  reference?: string | null;
  digest?: string | null;
  decision?: 'allow' | 'deny' | 'warn' | null;
  policy?: string | null;
  policyVersion?: number | null;
  mode?: string | null;
  reasons?: string[];
  evidence?: Record<string, unknown> | null;
  cacheHit?: boolean | null;
  bytes?: number | null;
  status?: number | null;
}

export interface AuditEvent {
  id: number;
  time: string;
  kind: string;
  requestId: string | null;
  client: string | null;
  user: string | null;
  upstream: string | null;
  repository: string | null;
  reference: string | null;
  digest: string | null;
  decision: string | null;
  policy: string | null;
  policyVersion: number | null;
  mode: string | null;
  reasons: string[];
  evidence: Record<string, unknown> | null;
  cacheHit: boolean | null;
  bytes: number | null;
  status: number | null;
  prevHash: string;
  hash: string;
}
