import { OciError } from '../oci/errors.js';
import { splitImage, type Reference } from '../oci/reference.js';
import { resolveTarget, type Target } from '../upstream/target.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';

/** One image to prefetch, resolved to its upstream and repository. */
export interface ImageRequest {
  /** As written: `upstream.test/org/app:1.2`, `org/app@sha256:…`. */
  image: string;
  target: Target;
  ref: Reference;
}

/** A list that names something wrong; `problems` name each line (or argument) and what is wrong with it. */
export class ImageListError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

export interface ListedImage {
  image: string;
  /** Where it was written, for messages: `list.txt:3` or `argument 2`. */
  where: string;
}

/**
 * The images of a list file: one per line; blank lines and `#` comments (whole-line or after the image) are
 * skipped. Every problem is reported together, each naming its line.
 */
export function readImageList(text: string, file: string): ListedImage[] {
  const out: ListedImage[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const hash = raw.indexOf('#');
    const line = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (line === '') return;
    const where = `${file}:${i + 1}`;
    out.push({ image: /\s/.test(line) ? `\u0000${line}` : line, where });
  });
  return out;
}

/**
 * Resolves listed images against the configured upstreams, refusing (all together, each by where it was
 * written) names that are invalid, that name an upstream not configured, or that repeat an earlier entry.
 */
export function resolveImages(
  listed: readonly ListedImage[],
  upstreams: ReadonlyMap<string, UpstreamClient>,
  defaultUpstream: string | undefined,
): ImageRequest[] {
  const problems: string[] = [];
  const first = new Map<string, string>();
  const out: ImageRequest[] = [];
  for (const { image, where } of listed) {
    if (image.startsWith('\u0000')) {
      problems.push(`${where}: "${clip(image.slice(1))}" is not one image reference (one image per line)`);
      continue;
    }
    try {
      const request = resolveImage(image, upstreams, defaultUpstream);
      const key = `${request.target.canonical}@${request.ref.kind === 'tag' ? request.ref.tag : request.ref.digest}`;
      const earlier = first.get(key);
      if (earlier) problems.push(`${where}: ${image} repeats ${earlier}`);
      else {
        first.set(key, where);
        out.push(request);
      }
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ImageListError(problems);
  return out;
}

/** `[upstream/]repository[:tag][@digest]`; a tag and a digest together pin the digest. */
export function resolveImage(
  image: string,
  upstreams: ReadonlyMap<string, UpstreamClient>,
  defaultUpstream: string | undefined,
): ImageRequest {
  if (image.length > 1024) throw new OciError('NAME_INVALID', 'the image reference is longer than 1024 characters');
  const parts = splitImage(image);
  if (parts.path === '') throw new OciError('NAME_INVALID', `"${clip(image)}" names no repository`);
  const slash = parts.path.indexOf('/');
  const host = slash > 0 ? parts.path.slice(0, slash) : undefined;
  // A registry host (a dot, a port, or localhost, as Docker reads names) that is not an upstream would be
  // looked up as a repository under the default upstream: never what was meant.
  if (host && !upstreams.has(host) && (host.includes('.') || host.includes(':') || host === 'localhost')) {
    throw new OciError('NAME_UNKNOWN', `"${clip(host)}" is not a configured upstream (upstreams: ${[...upstreams.keys()].join(', ')})`);
  }
  const target = resolveTarget(parts.path, undefined, upstreams, defaultUpstream);
  const ref: Reference = parts.digest ? { kind: 'digest', digest: parts.digest } : { kind: 'tag', tag: parts.tag ?? 'latest' };
  return { image, target, ref };
}

function clip(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}
