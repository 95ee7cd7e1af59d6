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
  | { keyless: IdentityMatch }
  | NotationRequirement;

/** A Notation trust policy statement, in `notation`'s words. */
export interface NotationRequirement {
  notation: {
    /** `ca:<name>` or `signingAuthority:<name>`: folders of trust.notation.trustStoreDir. */
    trustStores: string[];
    /** `"*"`, or `x509.subject: <DN>`: every attribute named must equal the leaf subject's. */
    trustedIdentities: string[];
    /** `tsa:<name>`: timestamp authorities whose countersignature may vouch for an expired certificate. */
    tsa?: string[];
  };
}

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
  /** The image must have been rebuilt on its base image once the base tag moved more than maxBehindDays ago. */
  baseImage?: BaseImageRequirement;
  /** Judged on the newest signed scan, VEX from trusted signers and per-vulnerability exceptions. */
  vulnerabilities?: VulnerabilityRequirement;
}

/**
 * The CEL variable `vulnerabilities`: the judged scan's findings after VEX and exceptions, and what was
 * suppressed. Only a rule with a `vulnerabilities` block has it (its signers say which scans count).
 */
export interface VulnerabilityView {
  scanTime: string | null;
  scanner: string | null;
  findings: ReadonlyArray<{ id: string; aliases: string[]; package: string; installedVersion: string; fixedVersion?: string; severity: string; cvss?: number; publishedDate?: string }>;
  suppressed: ReadonlyArray<{ id: string; by: string }>;
}

export type SeverityThreshold = 'critical' | 'high' | 'medium' | 'low';

export interface VulnerabilityRequirement {
  /** Scans count only from these signers; the newest one per scanner is judged. maxAge is a duration (`7d`). */
  scans: { signedBy: { anyOf: SignatureRequirement[] }; maxAge?: string };
  /** VEX statements count only from these signers; without it VEX is ignored. */
  vex?: { signedBy: { anyOf: SignatureRequirement[] } };
  deny?: {
    /** A finding at or above this severity denies. */
    severity?: SeverityThreshold;
    /** Count only findings with a fixed version (for `severity`). */
    fixableOnly?: boolean;
    /** These ids deny whatever their severity; a CVE also matches its GHSA aliases and back. */
    ids?: string[];
    /** Any finding in the known-exploited catalog (`trust.knownExploitedFile`) denies. */
    knownExploited?: boolean;
  };
  /** A finding published less than this long ago (`72h`) does not deny yet. */
  gracePeriod?: string;
}

export interface BaseImageRequirement {
  maxBehindDays: number;
  /** Deny (or warn) an image that does not name its base; without it such an image passes this check. */
  requireAnnotation?: boolean;
}

/**
 * What the proxy found out about an image's base (`org.opencontainers.image.base.name` / `.digest`),
 * gathered by pull/ and judged by the evaluator. Absent when the image names no base.
 */
export interface BaseImageFact {
  /** The base as the image names it, e.g. `docker.io/library/alpine:3.20`. */
  name: string;
  /** The digest the image was built on (`org.opencontainers.image.base.digest`). */
  digest?: string;
  /** What the base tag points at now (an index digest for a multi-platform base). */
  currentDigest?: string;
  /** The `created` of the current base's image config (the platform manifest matching the image). */
  currentCreated?: string;
  /** Why the base could not be resolved; the check then cannot be made. */
  error?: string;
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

/** The rules in force and the version they were saved as. */
export interface ActivePolicy {
  version: number;
  rules: readonly PolicyRule[];
}

export interface PolicySource {
  current(): ActivePolicy;
}
