import { describe, expect, it } from 'vitest';
import { jsonLinesReporter, ttyReporter } from '../../../src/commands/prefetch-progress.js';
import type { ImageOutcome } from '../../../src/prefetch/image-walker.js';

/** What a person or a log sees while a prefetch runs. */
const outcome = (image: string, result: ImageOutcome['result'], extra: Partial<ImageOutcome> = {}): ImageOutcome => ({
  image, repository: 'r', reference: '1', digest: result === 'refused' ? null : 'sha256:' + 'a'.repeat(64), result,
  decision: result === 'refused' ? 'deny' : 'allow', rule: result === 'refused' ? 'signed' : null, reasons: [], manifests: 1, blobs: 2, bytes: 3072, artifacts: 1, ...extra,
});

describe('prefetch progress', () => {
  it('writes JSON lines: start, progress at most once a second per image, the outcome and a summary', () => {
    let now = 0;
    const out: string[] = [];
    const r = jsonLinesReporter((t) => out.push(t), () => now);
    r.started('a');
    r.total('a', 3072);
    for (let i = 0; i < 3; i++) {
      now += 400;
      r.progress('a', 1024);
    }
    r.finished(outcome('a', 'cached'));
    r.summary({ images: 1, cached: 1, refused: 0, failed: 0, bytes: 3072, outcomes: [] });
    expect(out.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      { event: 'start', image: 'a' },
      { event: 'progress', image: 'a', bytes: 3072, total: 3072 },
      expect.objectContaining({ event: 'done', image: 'a', result: 'cached', bytes: 3072 }),
      { event: 'summary', images: 1, cached: 1, refused: 0, failed: 0, bytes: 3072 },
    ]);
    expect(out.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
  });

  it('draws a bar per image on a terminal and leaves a line per outcome with its reasons', () => {
    let now = 0;
    let screen = '';
    const r = ttyReporter((t) => (screen += t), () => now);
    r.started('a');
    r.started('b');
    r.total('a', 2048);
    now += 200;
    r.progress('a', 1024);
    expect(screen).toContain('[############............] 1.0 KiB / 2.0 KiB  a');
    r.finished(outcome('b', 'refused', { reasons: ['no signature'] }));
    r.finished(outcome('a', 'cached'));
    r.summary({ images: 2, cached: 1, refused: 1, failed: 0, bytes: 3072, outcomes: [] });
    expect(screen).toContain('REFUSED b  policy "signed": no signature');
    expect(screen).toMatch(/cached {2}a@sha256:aaaaaaaaaaaa {2}1 manifest\(s\), 2 blob\(s\), 1 artifact\(s\), 3\.0 KiB/);
    expect(screen.trimEnd().split('\n').at(-1)).toBe('2 image(s): 1 cached, 1 refused, 0 failed; 3.0 KiB');
  });
});
