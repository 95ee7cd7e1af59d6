import { OciError } from './errors.js';
import { isDigest, type Digest } from './digest.js';

// From the OCI distribution spec: repository path components and tags.
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const REPOSITORY_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const MAX_NAME_LENGTH = 255;

export function isRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && REPOSITORY_RE.test(name);
}

export function assertRepositoryName(name: string): string {
  if (!isRepositoryName(name)) throw new OciError('NAME_INVALID', `invalid repository name "${clip(name)}"`);
  return name;
}

export function isTag(ref: string): boolean {
  return TAG_RE.test(ref);
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/** A manifest reference from a URL: a tag or a digest, nothing else. */
export function parseReference(ref: string): Reference {
  if (ref.includes(':')) {
    if (isDigest(ref)) return { kind: 'digest', digest: ref };
    throw new OciError('DIGEST_INVALID', `invalid digest "${clip(ref)}"`);
  }
  if (isTag(ref)) return { kind: 'tag', tag: ref };
  throw new OciError('TAG_INVALID', `invalid tag "${clip(ref)}"`);
}

export function referenceString(ref: Reference): string {
  return ref.kind === 'tag' ? ref.tag : ref.digest;
}

/**
 * An image string as people write it: `[upstream/]repo[:tag][@digest]`.
 * Returns the parts without choosing an upstream; the caller resolves the prefix.
 */
export function splitImage(image: string): { path: string; tag?: string; digest?: Digest } {
  let rest = image;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw new OciError('DIGEST_INVALID', `invalid digest "${clip(d)}"`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    if (!isTag(tag)) throw new OciError('TAG_INVALID', `invalid tag "${clip(tag)}"`);
    rest = rest.slice(0, colon);
  }
  return { path: rest, tag, digest };
}

function clip(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}
