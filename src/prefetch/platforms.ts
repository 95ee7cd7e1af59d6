import type { Descriptor } from '../oci/manifest.js';

const PLATFORM_RE = /^[a-z0-9_-]+\/[a-z0-9_-]+(\/[a-z0-9_.-]+)?$/;

/** `os/arch` or `os/arch/variant`, as Docker and containerd write platforms. */
export function isPlatform(text: string): boolean {
  return PLATFORM_RE.test(text);
}

/** Whether an index entry is for one of `platforms` (none listed: every entry); a platform without variant matches any. */
export function platformMatches(d: Descriptor, platforms: readonly string[] | undefined): boolean {
  if (!platforms || platforms.length === 0) return true;
  const p = d.platform;
  if (!p) return false;
  return platforms.some((want) => {
    const [os, arch, variant] = want.split('/');
    return p.os === os && p.architecture === arch && (variant === undefined || p.variant === variant);
  });
}
