/** Trust policy as plain data. The config file, the admin API and the evaluator share these types. */

export type PolicyMode = 'enforce' | 'warn' | 'allow' | 'deny';

export interface IdentityMatch {
  /** A name under trust.roots the certificate must chain to; without it, trust.trustedRoot. */
  root?: string;
  /** Without issuer and issuerRegExp, certificates that carry no issuer extension also match. */
  issuer?: string;
  issuerRegExp?: string;
  subject?: string;
  subjectRegExp?: string;
  /** Fulcio certificate extensions by sigstore-go name (`sourceRepositoryURI`, …): exact values. */
  extensions?: Record<string, string>;
  /** The same names: patterns that must match the whole value. */
  extensionsRegExp?: Record<string, string>;
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

/** One required attestation: a verified in-toto statement of this predicate type, signed as `signedBy` says. */
export interface AttestationRequirement {
  /** Names the requirement in deny reasons. */
  name: string;
  predicateType: string;
  signedBy: { anyOf: SignatureRequirement[] };
  /** CEL over `predicate`, `statement` and the rule's variables; at least one attestation must make it true. */
  condition?: string;
}

export interface PolicyRule {
  name: string;
  /** Globs over `<upstream name>/<repository>`: `*` is one path segment, `**` any number. */
  match: string[];
  mode: PolicyMode;
  signatures?: { anyOf: SignatureRequirement[] };
  provenance?: ProvenanceRequirement;
  /** Every entry must be met by at least one verified attestation. */
  attestations?: AttestationRequirement[];
  /** CEL over the image (config, annotations, platform, layers), its name, signatures and attestations. */
  condition?: string;
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
