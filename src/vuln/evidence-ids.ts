import type { Evidence } from '../verify/types.js';
import { idsOf } from './ids.js';
import { scansOf } from './scans.js';

/**
 * Every vulnerability id the evidence's verified scans list (each finding's id and aliases, upper-cased),
 * once each, whoever signed the scan: what the cache indexes the evidence under, so the impact report finds
 * it without reading every stored document. Which scans count is decided later, by the rule.
 */
export function scannedVulnerabilityIds(evidence: Pick<Evidence, 'attestations'>): string[] {
  const ids = new Set<string>();
  for (const { scan } of scansOf(evidence.attestations ?? [])) {
    for (const finding of scan.findings) for (const id of idsOf(finding)) ids.add(id);
  }
  return [...ids];
}
