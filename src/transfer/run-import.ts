import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../app.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { Digest } from '../oci/digest.js';
import type { RequestInfo } from '../pull/pull-service.js';
import { extractLayout, type ExtractedLayout } from './archive-reader.js';
import { startArchiveRegistry, splitArchiveName } from './archive-registry.js';
import { readArchiveSummary, type ArchiveSummary } from './archive-summary.js';
import { nameImage } from './image-names.js';
import { importImage, type ImportOutcome } from './import-image.js';
import { REF_NAME, SUMMARY_REF } from './layout.js';

export class ImportError extends Error {}

export interface ImportResult {
  images: ImportOutcome[];
  summary?: ArchiveSummary;
}

/** cosign's `sha256-<hex>[.sig|.att|.sbom]` tags: artifacts the archive carries for its images, not images. */
const ARTIFACT_TAG = /:sha256-[0-9a-f]{64}(\.sig|\.att|\.sbom)?$/;

/**
 * Imports an OCI layout archive: unpacked and hashed into a temp folder, then served on loopback to this
 * instance's own pull path in place of its upstreams, so every image is fetched, checked, judged, audited
 * and cached as a pull would be. Tags are written last, once every image is in: an interrupted import leaves
 * no tag pointing at an image that is not whole.
 */
export async function runImport(config: Config, archive: string, log: Logger, onImage: (o: ImportOutcome) => void, signal?: AbortSignal): Promise<ImportResult> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-import-'));
  const closers: Array<() => Promise<void>> = [];
  try {
    const layout = await extractLayout(archive, dir);
    const summary = await readArchiveSummary(layout);
    const images = layout.manifests.flatMap((entry, i) => {
      const name = entry.annotations?.[REF_NAME];
      return name && name !== SUMMARY_REF && !ARTIFACT_TAG.test(name) ? [{ name, digest: entry.digest, at: `index.json manifests[${i}]` }] : [];
    });
    if (images.length === 0) throw new ImportError(`${archive} names no images (no index.json entry has an ${REF_NAME} annotation)`);
    const urls = new Map<string, string>();
    for (const upstream of config.upstreams) {
      if (!images.some((i) => splitArchiveName(i.name)?.upstream === upstream.name)) continue;
      const registry = await startArchiveRegistry(layout, upstream.name);
      closers.push(registry.close);
      urls.set(upstream.name, registry.url);
    }
    // Upstreams the archive does not feed point nowhere: the import never reaches past the archive.
    const local: Config = {
      ...config,
      upstreams: config.upstreams.map((u) => ({ ...u, url: urls.get(u.name) ?? 'http://127.0.0.1:9', username: undefined, password: undefined, retries: 0 })),
    };
    const app = await createApp(local, { log, maintenance: false });
    closers.unshift(() => app.close());
    const req: RequestInfo = { requestId: randomUUID(), client: 'local', user: `import:${userInfo().username}` };
    const outcomes: ImportOutcome[] = [];
    for (const image of images) {
      if (signal?.aborted) throw new ImportError('interrupted: no tag was written; images loaded so far are cached by digest only');
      const outcome = await importOne(app.transfer, layout, req, image, config.defaultUpstream, summary);
      // As pull events: the repository as policies match it, `upstream/repository`.
      await app.audit.record({
        kind: 'import.image', requestId: req.requestId, client: req.client, user: req.user,
        upstream: outcome.upstream ?? null, repository: outcome.upstream && outcome.repository ? `${outcome.upstream}/${outcome.repository}` : null, reference: outcome.tag ?? outcome.digest, digest: outcome.digest,
        decision: outcome.decision === 'error' ? 'deny' : outcome.decision, policy: outcome.rule, policyVersion: outcome.policyVersion,
        reasons: outcome.reasons, status: outcome.decision === 'allow' || outcome.decision === 'warn' ? 200 : 403,
      });
      outcomes.push(outcome);
      onImage(outcome);
    }
    if (signal?.aborted) throw new ImportError('interrupted: no tag was written; images loaded so far are cached by digest only');
    for (const o of outcomes) {
      if (o.tag && o.upstream && o.repository && (o.decision === 'allow' || o.decision === 'warn')) {
        await app.transfer.index.putTag(o.upstream, o.repository, o.tag, o.digest);
      }
    }
    return { images: outcomes, summary };
  } finally {
    for (const close of closers) await close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

type Located = ImportOutcome;

async function importOne(
  t: Parameters<typeof importImage>[0], layout: ExtractedLayout, req: RequestInfo,
  image: { name: string; digest: string; at: string }, defaultUpstream: string | undefined, summary: ArchiveSummary | undefined,
): Promise<Located> {
  const refused = (reasons: string[]): Located => ({ name: image.name, digest: image.digest, decision: 'deny', rule: null, policyVersion: null, reasons });
  let named;
  try {
    named = nameImage(image.name, image.at, t.upstreams, defaultUpstream);
  } catch (err) {
    return refused([`${image.at}: "${image.name}": ${(err as Error).message}`]);
  }
  const place = { upstream: named.target.upstream.name, repository: named.target.repository };
  if (named.ref.kind === 'digest' && named.ref.digest !== image.digest) {
    return { ...refused([`${image.at}: the name says ${named.ref.digest} but the entry is ${image.digest}`]), ...place };
  }
  const outcome = await importImage(t, layout, req, named, image.digest as Digest);
  if (summary && !summary.names.has(image.name)) outcome.reasons.push('not listed in the archive\'s summary: added after export');
  return { ...outcome, ...place };
}
