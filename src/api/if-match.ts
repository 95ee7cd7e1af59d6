import type { Response } from 'express';

/** The ETag of a policy version: its number, quoted (a strong validator). */
export function policyEtag(version: number): string {
  return `"${version}"`;
}

/**
 * The policy versions an If-Match header accepts: undefined when it sets no condition (absent or `*`),
 * else the versions it names (strong comparison: weak or foreign tags match nothing, so may leave it empty).
 */
export function ifMatchVersions(header: string | undefined): number[] | undefined {
  if (header === undefined) return undefined;
  const tags = header.split(',').map((t) => t.trim());
  if (tags.includes('*')) return undefined;
  return tags.flatMap((t) => (/^"[1-9]\d{0,14}"$/.test(t) ? [Number(t.slice(1, -1))] : []));
}

export function setPolicyEtag(res: Response, version: number | null): void {
  if (version !== null) res.setHeader('ETag', policyEtag(version));
}
