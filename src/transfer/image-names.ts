import { readFile } from 'node:fs/promises';
import { OciError } from '../oci/errors.js';
import { splitImage, type Reference } from '../oci/reference.js';
import { refuseUnknownRegistry } from '../api/image-evaluator.js';
import { resolveTarget, type Target } from '../upstream/target.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';

/** One image to carry: where it was written (argument or file line), its repository and reference. */
export interface NamedImage {
  /** `upstream/repository:tag` or `upstream/repository@digest`: the archive's ref name. */
  name: string;
  /** Where the name came from, for messages: `argument 2`, `images.txt:7`. */
  origin: string;
  target: Target;
  ref: Reference;
}

export class ImageNameError extends Error {}

/**
 * Images from command-line arguments and an optional list file (one per line; `#` comments and blank lines
 * skipped). Every bad name is reported together, each with where it was written; a name given twice is
 * carried once.
 */
export async function readImageNames(
  args: readonly string[],
  listFile: string | undefined,
  upstreams: ReadonlyMap<string, UpstreamClient>,
  defaultUpstream: string | undefined,
): Promise<NamedImage[]> {
  const written = args.map((text, i) => ({ text, origin: `argument ${i + 1}` }));
  if (listFile) {
    const text = await readFile(listFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new ImageNameError(`cannot read ${listFile}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    });
    text.split(/\r?\n/).forEach((line, i) => {
      const name = line.replace(/#.*$/, '').trim();
      if (name) written.push({ text: name, origin: `${listFile}:${i + 1}` });
    });
  }
  const problems: string[] = [];
  const seen = new Map<string, NamedImage>();
  for (const { text, origin } of written) {
    try {
      const image = nameImage(text, origin, upstreams, defaultUpstream);
      if (!seen.has(image.name)) seen.set(image.name, image);
    } catch (err) {
      problems.push(`${origin}: "${clip(text)}": ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ImageNameError(problems.join('\n'));
  if (seen.size === 0) throw new ImageNameError('no images given (IMAGE arguments or --file LIST)');
  return [...seen.values()];
}

export function nameImage(text: string, origin: string, upstreams: ReadonlyMap<string, UpstreamClient>, defaultUpstream: string | undefined): NamedImage {
  if (/\s/.test(text)) throw new OciError('NAME_INVALID', 'an image name has no spaces');
  const parts = splitImage(text);
  if (!parts.path) throw new OciError('NAME_INVALID', 'the repository name is missing');
  refuseUnknownRegistry(parts.path, upstreams, defaultUpstream);
  const target = resolveTarget(parts.path, undefined, upstreams, defaultUpstream);
  const ref: Reference = parts.digest ? { kind: 'digest', digest: parts.digest } : { kind: 'tag', tag: parts.tag ?? 'latest' };
  const name = ref.kind === 'tag' ? `${target.canonical}:${ref.tag}` : `${target.canonical}@${ref.digest}`;
  return { name, origin, target, ref };
}

function clip(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}
