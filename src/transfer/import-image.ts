import { OciError } from '../oci/errors.js';
import { parseManifest, referencedBlobs } from '../oci/manifest.js';
import type { Digest } from '../oci/digest.js';
import { readFile } from 'node:fs/promises';
import type { TransferServices } from '../app.js';
import type { RequestInfo } from '../pull/pull-service.js';
import type { ExtractedLayout } from './archive-reader.js';
import type { NamedImage } from './image-names.js';

export interface ImportOutcome {
  name: string;
  digest: string;
  decision: 'allow' | 'warn' | 'deny' | 'error';
  rule: string | null;
  policyVersion: number | null;
  reasons: string[];
  /** The tag to point at `digest` once everything else is in. */
  tag?: string;
  /** Where it goes on this instance, once its name resolved. */
  upstream?: string;
  repository?: string;
}

/**
 * Loads one image of the archive as a pull would: the archive must hold every blob the image lists, each
 * hashing to its name; then each manifest is fetched, digest-checked, judged under this instance's policy and
 * trust roots (never the exporter's) and audited, and each config and layer is fetched, checked and stored.
 * Signature artifacts are gathered and cached by the judging itself, so later pulls verify offline.
 */
export async function importImage(t: TransferServices, layout: ExtractedLayout, req: RequestInfo, image: NamedImage, digest: Digest): Promise<ImportOutcome> {
  const outcome: ImportOutcome = { name: image.name, digest, decision: 'error', rule: null, policyVersion: null, reasons: [] };
  const damage = await missingOrAltered(layout, digest, 'manifest');
  if (damage.length > 0) return { ...outcome, decision: 'deny', reasons: damage };
  try {
    const top = await t.pull.manifest(req, image.target, { kind: 'digest', digest }, undefined);
    const pending = [parseManifest(top.bytes, top.mediaType)];
    while (pending.length > 0) {
      const parsed = pending.pop()!;
      for (const child of parsed.isIndex ? parsed.manifests : []) {
        const m = await t.pull.manifest(req, image.target, { kind: 'digest', digest: child.digest as Digest }, undefined);
        pending.push(parseManifest(m.bytes, m.mediaType));
      }
      for (const blob of parsed.isIndex ? [] : referencedBlobs(parsed)) {
        const res = await t.pull.blob({ ...req, noHandoff: true }, image.target, blob.digest as Digest, false, undefined);
        for await (const chunk of res.body ?? []) void chunk; // drained: the download commits once its digest checks out
      }
    }
    const { decision } = await t.pull.evaluate(image.target, { kind: 'digest', digest });
    return {
      ...outcome, decision: decision.outcome, rule: decision.rule, policyVersion: decision.policyVersion, reasons: decision.reasons,
      ...(image.ref.kind === 'tag' && { tag: image.ref.tag }),
    };
  } catch (err) {
    if (err instanceof OciError && err.code === 'DENIED') {
      const detail = (err.detail ?? {}) as { policy?: string | null; reasons?: string[] };
      return { ...outcome, decision: 'deny', rule: detail.policy ?? null, reasons: detail.reasons?.length ? detail.reasons : [err.message] };
    }
    return { ...outcome, reasons: [(err as Error).message] };
  }
}

/** What of the image the archive lacks or holds altered, walking its manifests; empty when all is there and intact. */
async function missingOrAltered(layout: ExtractedLayout, digest: string, role: string, depth = 0): Promise<string[]> {
  const path = `blobs/sha256/${digest.slice('sha256:'.length)}`;
  const blob = layout.blobs.get(digest);
  if (!blob) return [`the archive lacks ${path} (${role} ${digest})`];
  if (!blob.intact) return [`${path} (${role}) does not hash to its name: the archive was altered or damaged`];
  if (role !== 'manifest' && role !== 'platform manifest') return [];
  let parsed;
  try {
    parsed = parseManifest(await readFile(blob.file));
  } catch (err) {
    return [`${path} is not a valid manifest: ${(err as Error).message}`];
  }
  if (parsed.isIndex && depth > 1) return [`${path}: indexes nested more than two deep are not imported`];
  const found: string[] = [];
  for (const child of parsed.isIndex ? parsed.manifests : []) found.push(...(await missingOrAltered(layout, child.digest, 'platform manifest', depth + 1)));
  if (parsed.config) found.push(...(await missingOrAltered(layout, parsed.config.digest, 'config')));
  for (const layer of parsed.isIndex ? [] : parsed.layers) found.push(...(await missingOrAltered(layout, layer.digest, 'layer')));
  return found;
}
