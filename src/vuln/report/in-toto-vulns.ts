import type { Finding } from './types.js';
import { array, checkCount, isoTime, maxScore, object, severityOf, str } from './fields.js';
import { clean } from './trivy.js';

/**
 * Findings of an in-toto `vulns` v0.1 result: `[{id, severity: [{method, score}], …}]`. The format names no
 * package; publishers that add `package`/`purl`, `installedVersion` and `fixedVersion` are read too.
 */
export function inTotoFindings(result: unknown): Finding[] {
  const out: Finding[] = [];
  for (const [i, raw] of array(result ?? [], 'scanner.result').entries()) {
    const r = object(raw, `scanner.result[${i}]`);
    const id = str(r.id);
    if (!id) continue;
    const ratings = Array.isArray(r.severity) ? r.severity : [];
    const words = ratings.map((s: any) => severityOf(s?.score)).filter((s: string) => s !== 'unknown');
    const rank = ['low', 'medium', 'high', 'critical'];
    const worst = words.sort((x: string, y: string) => rank.indexOf(y) - rank.indexOf(x))[0];
    out.push(clean({
      id,
      aliases: Array.isArray(r.aliases) ? r.aliases.filter((x: unknown) => typeof x === 'string') : [],
      package: str(r.purl) ?? str(r.package) ?? str(r.packageName) ?? '',
      installedVersion: str(r.installedVersion) ?? str(r.version) ?? '',
      fixedVersion: str(r.fixedVersion),
      severity: worst ?? severityOf(typeof r.severity === 'string' ? r.severity : undefined),
      cvss: maxScore(ratings.map((s: any) => (/cvss/i.test(String(s?.method)) ? s?.score : undefined))),
      publishedDate: isoTime(r.publishedDate ?? r.published),
    }));
    checkCount(out.length);
  }
  return out;
}
