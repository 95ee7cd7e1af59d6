import type { Finding } from './report/types.js';
import { packageName } from './ids.js';

export interface Blocking {
  finding: Finding;
  /** The severity that denies it, or why it denies whatever its severity. */
  group: string;
}

const GROUP_ORDER = ['critical', 'high', 'medium', 'low', 'unknown', 'denied by id', 'known exploited'];
/** Ids named per group; the count says how many more there are. */
const NAMED_PER_GROUP = 3;

/**
 * `vulnerabilities: 2 critical (CVE-2024-1234 in openssl 3.0.1, fixed in 3.0.2; CVE-…), 1 known exploited
 * (CVE-…)`: the worst first, each vulnerability once, a few named per group.
 */
export function denialText(blocking: readonly Blocking[]): string {
  const groups = new Map<string, Map<string, Finding>>();
  for (const b of blocking) {
    const g = groups.get(b.group) ?? new Map<string, Finding>();
    if (!g.has(b.finding.id)) g.set(b.finding.id, b.finding);
    groups.set(b.group, g);
  }
  const parts = GROUP_ORDER.filter((g) => groups.has(g)).map((g) => {
    const found = [...groups.get(g)!.values()].sort((a, b) => (b.cvss ?? 0) - (a.cvss ?? 0));
    const named = found.slice(0, NAMED_PER_GROUP).map(describe);
    if (found.length > NAMED_PER_GROUP) named.push('…');
    return `${found.length} ${g} (${named.join('; ')})`;
  });
  return `vulnerabilities: ${parts.join(', ')}`;
}

function describe(f: Finding): string {
  const pkg = f.package ? ` in ${packageName(f.package)}${f.installedVersion ? ` ${f.installedVersion}` : ''}` : '';
  return `${f.id}${pkg}${f.fixedVersion ? `, fixed in ${f.fixedVersion}` : ''}`;
}
