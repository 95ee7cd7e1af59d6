/** Trust policy as plain data. The config file, the admin API and the evaluator share these types. */

export type PolicyMode = 'enforce' | 'warn' | 'allow' | 'deny';

export interface IdentityMatch {
  issuer?: string;
  issuerRegExp?: string;
  subject?: string;
  subjectRegExp?: string;
}

export type SignatureRequirement =
  | { key: string; tlog?: 'required' | 'optional' }
  | { keyless: IdentityMatch };

export interface ProvenanceRequirement {
  signedBy: { anyOf: SignatureRequirement[] };
  builderId?: string;
  builderIdRegExp?: string;
  /** Compared as a URL without ref or `git+`: `https://github.com/owner/repo`. */
  sourceRepository?: string;
  sourceRepositoryRegExp?: string;
  /** Branch name (`main`), as slsa-verifier's --source-branch: for a tag build, the branch the tag was pushed from. */
  sourceBranch?: string;
  sourceBranchRegExp?: string;
}

export interface PolicyRule {
  name: string;
  /** Globs over `<upstream name>/<repository>`: `*` is one path segment, `**` any number. */
  match: string[];
  mode: PolicyMode;
  signatures?: { anyOf: SignatureRequirement[] };
  provenance?: ProvenanceRequirement;
  maxAgeDays?: number;
}

export type Outcome = 'allow' | 'deny' | 'warn';

/** A decision is a value, never an exception: deny carries its reasons. */
export interface Decision {
  outcome: Outcome;
  /** Rule name, or null when no rule matched (which denies). */
  rule: string | null;
  mode: PolicyMode | null;
  reasons: string[];
  /** The evidence summary that decided it, for the audit log. */
  evidence?: Record<string, unknown>;
}
