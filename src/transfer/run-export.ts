import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { userInfo } from 'node:os';
import type { App } from '../app.js';
import { loadSigningKey } from '../audit/checkpoint.js';
import type { RequestInfo } from '../pull/pull-service.js';
import { exportImage, type ExportOutcome } from './export-image.js';
import { writeSummary } from './export-summary.js';
import type { NamedImage } from './image-names.js';
import { LayoutWriter } from './layout-writer.js';
import type { LayoutDescriptor, SummaryImage } from './layout.js';

export class ExportError extends Error {}

export interface ExportResult {
  /** Written only when every image was allowed and carried whole. */
  written: boolean;
  images: ExportOutcome[];
}

/**
 * Judges and carries every image into one archive at `out`. Any refusal or failure writes nothing (an
 * archive missing an image asked for is not what was asked for); `signal` (Ctrl-C) stops it the same way.
 */
export async function runExport(app: App, images: NamedImage[], out: string, onImage: (o: ExportOutcome) => void, signal?: AbortSignal): Promise<ExportResult> {
  const folder = await stat(dirname(out)).catch(() => undefined);
  if (!folder?.isDirectory()) throw new ExportError(`cannot write ${out}: the folder ${dirname(out)} does not exist`);
  const key = app.config.export?.signingKey ? loadSigningKey(readFileSync(app.config.export.signingKey)) : undefined;
  const writer = await LayoutWriter.create(out).catch((err: NodeJS.ErrnoException) => {
    throw new ExportError(`cannot write beside ${out}: ${err.message}`);
  });
  const abort = () => void writer.abort();
  signal?.addEventListener('abort', abort, { once: true });
  const req: RequestInfo = { requestId: randomUUID(), client: 'local', user: `export:${userInfo().username}` };
  const outcomes: ExportOutcome[] = [];
  try {
    for (const image of images) {
      if (signal?.aborted) throw new ExportError('interrupted; nothing was written');
      const outcome = await exportImage(app.transfer, writer, req, image);
      outcomes.push(outcome);
      onImage(outcome);
    }
    if (outcomes.some((o) => !o.ok)) {
      await writer.abort();
      return { written: false, images: outcomes };
    }
    const carried = outcomes.filter((o): o is Extract<ExportOutcome, { ok: true }> => o.ok);
    const entries: LayoutDescriptor[] = carried.flatMap((o) => o.entries);
    const summary: SummaryImage[] = carried.map((o) => o.image);
    entries.push(await writeSummary(writer, summary, carried.map((o) => o.signers), app.config.trust, key));
    await writer.finish(entries);
    return { written: true, images: outcomes };
  } catch (err) {
    await writer.abort();
    if (signal?.aborted) throw new ExportError(`interrupted; nothing was written to ${out}`);
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOSPC' ? 'the disk is full' : e.message;
    throw new ExportError(`writing ${out} failed (${why}); the partial archive was removed and nothing was written`);
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}
