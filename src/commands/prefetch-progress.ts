import type { ImageOutcome } from '../prefetch/image-walker.js';
import type { PrefetchReporter, PrefetchSummary } from '../prefetch/prefetch-run.js';
import { formatBytes } from '../text/bytes.js';

type Write = (text: string) => void;

/** A reporter for the command: every event, and the summary at the end. */
export type ProgressReporter = Required<PrefetchReporter> & { summary(s: PrefetchSummary): void };

/** JSON lines for logs and scripts: a start, progress at most once a second per image, the outcome, the summary. */
export function jsonLinesReporter(write: Write, now: () => number = Date.now): ProgressReporter {
  const state = new Map<string, { total: number; done: number; lastAt: number }>();
  const line = (value: Record<string, unknown>) => write(`${JSON.stringify(value)}\n`);
  return {
    started(image) {
      state.set(image, { total: 0, done: 0, lastAt: now() });
      line({ event: 'start', image });
    },
    total(image, bytes) {
      const s = state.get(image);
      if (s) s.total += bytes;
    },
    progress(image, bytes) {
      const s = state.get(image);
      if (!s) return;
      s.done += bytes;
      if (now() - s.lastAt < 1000) return;
      s.lastAt = now();
      line({ event: 'progress', image, bytes: s.done, total: s.total });
    },
    finished(outcome) {
      state.delete(outcome.image);
      line({ event: 'done', ...outcome });
    },
    summary({ outcomes: _outcomes, ...totals }) {
      line({ event: 'summary', ...totals });
    },
  };
}

const BAR = 24;

/**
 * A progress bar per image being fetched, redrawn in place (at most ten times a second); each finished image
 * leaves one line with its outcome above the bars.
 */
export function ttyReporter(write: Write, now: () => number = Date.now): ProgressReporter {
  const live = new Map<string, { total: number; done: number }>();
  let drawn = 0;
  let lastDraw = 0;
  const redraw = (force: boolean, above: string[] = []) => {
    if (!force && now() - lastDraw < 100) return;
    lastDraw = now();
    let text = drawn > 0 ? `\x1b[${drawn}A\r\x1b[J` : '';
    for (const l of above) text += `${l}\n`;
    for (const [image, s] of live) text += `${bar(image, s.done, s.total)}\n`;
    drawn = live.size;
    write(text);
  };
  return {
    started(image) {
      live.set(image, { total: 0, done: 0 });
      redraw(true);
    },
    total(image, bytes) {
      const s = live.get(image);
      if (s) s.total += bytes;
    },
    progress(image, bytes) {
      const s = live.get(image);
      if (!s) return;
      s.done += bytes;
      redraw(false);
    },
    finished(outcome) {
      live.delete(outcome.image);
      redraw(true, [outcomeLine(outcome)]);
    },
    summary(s) {
      redraw(true);
      write(`\n${s.images} image(s): ${s.cached} cached, ${s.refused} refused, ${s.failed} failed; ${formatBytes(s.bytes)}\n`);
    },
  };
}

function bar(image: string, done: number, total: number): string {
  const share = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(share * BAR);
  return `  [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${formatBytes(done)} / ${formatBytes(total)}  ${image}`;
}

function outcomeLine(o: ImageOutcome): string {
  const mark = o.result === 'cached' ? 'cached ' : o.result === 'refused' ? 'REFUSED' : 'FAILED ';
  const what = o.result === 'cached' ? `${o.manifests} manifest(s), ${o.blobs} blob(s), ${o.artifacts} artifact(s), ${formatBytes(o.bytes)}` : '';
  const why = o.result === 'cached' ? '' : `${o.rule ? `policy "${o.rule}": ` : ''}${o.reasons.join('; ')}`;
  return `${mark} ${o.image}${o.digest ? `@${o.digest.slice(0, 19)}` : ''}  ${what}${why}`;
}
