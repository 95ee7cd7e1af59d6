import type { Finding } from './types.js';
import { array, checkCount, isoTime, maxScore, object, severityOf, str } from './fields.js';
import { clean } from './trivy.js';

/** Whether a scanner result is a Grype JSON report (`matches`). */
export function isGrypeReport(result: any): boolean {
  return result !== null && typeof result === 'object' && 'matches' in result && !('SchemaVersion' in result);
}

/** Findings of a Grype report: `matches[]`, with related vulnerabilities as aliases. */
export function grypeFindings(result: Record<string, any>): Finding[] {
  const out: Finding[] = [];
  for (const [i, raw] of array(result.matches, 'Grype matches').entries()) {
    const m = object(raw, `Grype matches[${i}]`);
    const v = object(m.vulnerability, `Grype matches[${i}].vulnerability`);
    const a = object(m.artifact, `Grype matches[${i}].artifact`);
    const id = str(v.id);
    const pkg = str(a.purl) ?? str(a.name);
    if (!id || !pkg) continue;
    const related = Array.isArray(m.relatedVulnerabilities) ? m.relatedVulnerabilities : [];
    const fixed = v.fix?.state === 'fixed' && Array.isArray(v.fix.versions) ? str(v.fix.versions[0]) : undefined;
    const scores = [v, ...related].flatMap((x: any) => (Array.isArray(x?.cvss) ? x.cvss.map((c: any) => c?.metrics?.baseScore) : []));
    out.push(clean({
      id,
      aliases: related.map((r: any) => str(r?.id)).filter((x: string | undefined): x is string => x !== undefined && x !== id),
      package: pkg,
      installedVersion: str(a.version) ?? '',
      fixedVersion: fixed,
      severity: severityOf(v.severity),
      cvss: maxScore(scores),
      publishedDate: isoTime(v.published ?? v.publishedDate),
    }));
    checkCount(out.length);
  }
  return out;
}

/** The Grype descriptor's name, version and database build time. */
export function grypeScanner(result: Record<string, any>): { name: string; version?: string; dbUpdatedAt?: string } {
  const d = result.descriptor ?? {};
  return clean({ name: str(d.name)?.toLowerCase() ?? 'grype', version: str(d.version), dbUpdatedAt: isoTime(d.db?.built) });
}
