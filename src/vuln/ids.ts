import type { Finding } from './report/types.js';

/** Every id a finding goes by, upper-cased: its own and its aliases (a GHSA's CVE and back). */
export function idsOf(f: Pick<Finding, 'id' | 'aliases'>): string[] {
  return [f.id, ...f.aliases].map((id) => id.toUpperCase());
}

export function namedBy(f: Pick<Finding, 'id' | 'aliases'>, ids: ReadonlySet<string>): boolean {
  return idsOf(f).some((id) => ids.has(id));
}

export function upperSet(ids: readonly string[] | undefined): Set<string> {
  return new Set((ids ?? []).map((id) => id.toUpperCase()));
}

/** `libidn2-0` from `pkg:deb/debian/libidn2-0@2.0.5-1?arch=amd64`; a plain name as it is. */
export function packageName(pkg: string): string {
  if (!pkg.startsWith('pkg:')) return pkg;
  const path = pkg.slice(4).split(/[?#]/)[0]!;
  const name = path.split('@')[0]!.split('/').pop() ?? path;
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}
