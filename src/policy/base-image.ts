import type { BaseImageFact, BaseImageRequirement } from './types.js';

const DAY_MS = 86_400_000;
export const BASE_NAME_ANNOTATION = 'org.opencontainers.image.base.name';
export const BASE_DIGEST_ANNOTATION = 'org.opencontainers.image.base.digest';

/**
 * The reason an image fails `baseImage`, or undefined when it passes. Pure: the base facts are gathered
 * beforehand (decide/base-images.ts). An image whose base tag now points at another digest, built more than
 * maxBehindDays ago, was not rebuilt on its updated base. What cannot be checked fails (closed).
 */
export function baseImageReason(req: BaseImageRequirement, fact: BaseImageFact | undefined, now: Date): string | undefined {
  if (!fact) return req.requireAnnotation ? `image does not name its base image (no ${BASE_NAME_ANNOTATION} annotation or label)` : undefined;
  const base = `base image ${fact.name}`;
  if (fact.error) return `${base} cannot be checked: ${fact.error}`;
  if (!fact.digest) return `${base} cannot be checked: the image does not say which digest it was built on (no ${BASE_DIGEST_ANNOTATION})`;
  if (!fact.currentDigest) return `${base} cannot be checked: its current digest is unknown`;
  if (fact.currentDigest === fact.digest) return undefined;
  const moved = `${base} moved from ${fact.digest} to ${fact.currentDigest}`;
  const created = fact.currentCreated ? Date.parse(fact.currentCreated) : Number.NaN;
  if (Number.isNaN(created)) return `${moved}, whose build time is unknown; rebuild on the current base`;
  const behind = now.getTime() - created;
  if (behind <= req.maxBehindDays * DAY_MS) return undefined;
  return `${moved}, built ${new Date(created).toISOString().slice(0, 10)}, more than ${req.maxBehindDays} days ago; the image was not rebuilt on its current base`;
}
