import type { ReportFacts, ScanFacts } from './types.js';
import { ReportError } from './types.js';
import { isoTime, object, scannerName, str } from './fields.js';
import { isTrivyReport, trivyFindings, clean } from './trivy.js';
import { grypeFindings, grypeScanner, isGrypeReport } from './grype.js';
import { inTotoFindings } from './in-toto-vulns.js';
import { openVexFacts } from './openvex.js';

export const COSIGN_VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';
export const IN_TOTO_VULNS = 'https://in-toto.io/attestation/vulns/v0.1';
const OPENVEX = /^https:\/\/openvex\.dev\/ns(\/v\d+\.\d+\.\d+)?$/;

export const SCAN_PREDICATES: readonly string[] = [COSIGN_VULN, IN_TOTO_VULNS];

export function isScanPredicate(type: string | undefined): boolean {
  return type !== undefined && SCAN_PREDICATES.includes(type);
}

export function isVexPredicate(type: string | undefined): boolean {
  return type !== undefined && OPENVEX.test(type);
}

/** Scan and VEX predicates: reduced when verified, and accepted up to MAX_REPORT_BYTES. */
export function isReportPredicate(type: string | undefined): boolean {
  return isScanPredicate(type) || isVexPredicate(type);
}

/** The largest scan or VEX statement accepted (a scan of a large image with every finding described). */
export const MAX_REPORT_BYTES = 32 * 1024 * 1024;

/**
 * Reduces a scan or VEX predicate to its compact facts; undefined for other predicate types. Throws
 * ReportError saying why a report of one of these types cannot be read.
 */
export function reduceReport(predicateType: string, predicate: unknown): ReportFacts | undefined {
  if (isVexPredicate(predicateType)) return { vex: openVexFacts(predicate) };
  if (!isScanPredicate(predicateType)) return undefined;
  const p = object(predicate, 'the scan predicate');
  const scanner = object(p.scanner, 'predicate.scanner');
  const base = { scanFinishedOn: isoTime(p.metadata?.scanFinishedOn) };
  if (predicateType === IN_TOTO_VULNS) {
    return { scan: clean<ScanFacts>({
      format: 'in-toto',
      scanner: clean({ name: scannerName(scanner.uri) ?? 'unknown', version: str(scanner.version) }),
      dbUpdatedAt: isoTime(scanner.db?.lastUpdate ?? scanner.db?.version),
      ...base,
      findings: inTotoFindings(scanner.result),
    }) };
  }
  const result = scanner.result;
  if (isTrivyReport(result)) {
    return { scan: clean<ScanFacts>({
      format: 'trivy',
      scanner: clean({ name: 'trivy', version: str(result.Trivy?.Version) ?? str(scanner.version) }),
      dbUpdatedAt: isoTime(scanner.db?.version),
      ...base,
      findings: trivyFindings(result),
    }) };
  }
  if (isGrypeReport(result)) {
    const g = grypeScanner(result);
    return { scan: clean<ScanFacts>({
      format: 'grype',
      scanner: clean({ name: g.name, version: g.version ?? str(scanner.version) }),
      dbUpdatedAt: g.dbUpdatedAt ?? isoTime(scanner.db?.version),
      ...base,
      findings: grypeFindings(result),
    }) };
  }
  throw new ReportError('predicate.scanner.result is neither a Trivy report (SchemaVersion 2 with Results) nor a Grype report (matches)');
}
