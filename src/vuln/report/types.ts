/**
 * The compact form a signed scan or VEX document is reduced to when it is verified: what the gate judges,
 * never the raw report (a real scan is megabytes; this is a few hundred bytes per finding).
 */

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'unknown'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Finding {
  /** The scanner's id for it: `CVE-2024-3094`, `GHSA-…`. */
  id: string;
  /** Other ids of the same vulnerability the report names (a GHSA's CVE and back). */
  aliases: string[];
  /** A purl when the report gives one, else the package name. */
  package: string;
  installedVersion: string;
  fixedVersion?: string;
  severity: Severity;
  /** The highest CVSS base score the report gives. */
  cvss?: number;
  /** ISO time the vulnerability was published, when the report says. */
  publishedDate?: string;
}

export interface ScanFacts {
  format: 'trivy' | 'grype' | 'in-toto';
  scanner: { name: string; version?: string };
  /** ISO time the scanner's vulnerability database was built or updated, when the report says. */
  dbUpdatedAt?: string;
  /** The predicate's `metadata.scanFinishedOn` (unauthenticated: the signer's word). */
  scanFinishedOn?: string;
  findings: Finding[];
}

export type VexStatus = 'not_affected' | 'affected' | 'fixed' | 'under_investigation';

export interface VexStatement {
  vulnerability: string;
  aliases: string[];
  /** Product ids as written: purls (`pkg:oci/app@sha256%3A…`) or digests. */
  products: string[];
  status: VexStatus;
  justification?: string;
  impactStatement?: string;
  /** ISO time of the statement (its own, else the document's). */
  timestamp?: string;
}

export interface VexFacts {
  author?: string;
  timestamp?: string;
  statements: VexStatement[];
}

/** What a verified scan or VEX attestation is reduced to. */
export type ReportFacts = { scan: ScanFacts } | { vex: VexFacts };

/** A report that cannot be read as what its predicate type says; the message is the reason it is refused. */
export class ReportError extends Error {}
