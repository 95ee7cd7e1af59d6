import type { Finding } from './types.js';
import { array, checkCount, isoTime, maxScore, object, severityOf, str } from './fields.js';

/** Whether a scanner result is a Trivy JSON report (`SchemaVersion` 2 with `Results`). */
export function isTrivyReport(result: any): boolean {
  return result?.SchemaVersion === 2 && 'Results' in result;
}

/** Findings of a Trivy report: `Results[].Vulnerabilities[]`. */
export function trivyFindings(result: Record<string, any>): Finding[] {
  const out: Finding[] = [];
  const results = result.Results === null ? [] : array(result.Results, 'Trivy Results');
  for (const [i, r] of results.entries()) {
    const vulns = object(r, `Trivy Results[${i}]`).Vulnerabilities;
    if (vulns === undefined || vulns === null) continue;
    for (const [j, raw] of array(vulns, `Trivy Results[${i}].Vulnerabilities`).entries()) {
      const v = object(raw, `Trivy Results[${i}].Vulnerabilities[${j}]`);
      const id = str(v.VulnerabilityID);
      const pkg = str(v.PkgIdentifier?.PURL) ?? str(v.PkgName);
      if (!id || !pkg) continue;
      const cvss = v.CVSS && typeof v.CVSS === 'object' ? maxScore(Object.values(v.CVSS).map((c: any) => c?.V3Score ?? c?.V40Score ?? c?.V2Score)) : undefined;
      out.push(clean({
        id,
        aliases: Array.isArray(v.VendorIDs) ? v.VendorIDs.filter((x: unknown) => typeof x === 'string') : [],
        package: pkg,
        installedVersion: str(v.InstalledVersion) ?? '',
        fixedVersion: str(v.FixedVersion),
        severity: severityOf(v.Severity),
        cvss,
        publishedDate: isoTime(v.PublishedDate),
      }));
      checkCount(out.length);
    }
  }
  return out;
}

export function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}
