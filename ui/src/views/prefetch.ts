import { getJson } from '../api.js';
import { formatTime, h } from '../dom.js';
import { fromNow } from '../trust.js';
import type { View } from './view.js';

interface Outcome {
  image: string;
  digest: string | null;
  result: 'cached' | 'refused' | 'failed';
  rule: string | null;
  reasons: string[];
  blobs: number;
  bytes: number;
  artifacts: number;
}

interface ListStatus {
  name: string;
  images: Array<{ repository: string; tags?: string[]; semver?: string }>;
  platforms: string[] | null;
  referrers: boolean;
  lastRun: { startedAt: string; finishedAt: string; images: number; cached: number; refused: number; failed: number; bytes: number } | null;
  nextRun: string | null;
  outcomes: Outcome[];
}

const BADGE: Record<Outcome['result'], string> = { cached: 'allow', refused: 'deny', failed: 'warn' };

/** The scheduled prefetch lists: what each picks, its last and next run, and each image's outcome with its reasons. */
export const prefetchView: View = async ({ main, signal }) => {
  const status = await getJson<{ intervalMs: number | null; lists: ListStatus[] }>('/prefetch', { signal });
  main.append(
    h('h1', {}, 'Prefetch'),
    h('p', {}, 'Lists of images the proxy fetches into its cache on a schedule, each judged and audited as a pull by "prefetch:<list>". Refused images are not cached.'),
  );
  if (status.lists.length === 0) {
    main.append(h('p', { class: 'muted', id: 'prefetch-none' }, 'No prefetch list is configured (the "prefetch" section of the config file).'));
    return;
  }
  for (const list of status.lists) main.append(listSection(list));
};

function listSection(list: ListStatus): HTMLElement {
  const id = `prefetch-${list.name}`;
  const picks = list.images.map((i) => `${i.repository}${i.tags ? ` tags ${i.tags.join(', ')}` : ''}${i.semver ? ` versions ${i.semver}` : ''}`);
  const run = list.lastRun;
  return h(
    'section',
    { 'aria-labelledby': `${id}-title`, id, 'data-list': list.name },
    h('h2', { id: `${id}-title` }, `List ${list.name}`),
    h('ul', {}, picks.map((p) => h('li', { class: 'mono' }, p))),
    h('p', { class: 'muted' }, `Platforms: ${list.platforms ? list.platforms.join(', ') : 'all'}; referrers ${list.referrers ? 'included' : 'skipped'}.`),
    h(
      'p',
      { class: 'run' },
      run
        ? `Last run ${formatTime(run.startedAt)}: ${run.cached} cached, ${run.refused} refused, ${run.failed} failed. `
        : 'Not run yet. ',
      list.nextRun ? `Next run ${formatTime(list.nextRun)} (${fromNow(list.nextRun)}).` : 'Next run when the proxy starts.',
    ),
    run ? outcomeTable(list) : null,
  );
}

function outcomeTable(list: ListStatus): HTMLElement {
  if (list.outcomes.length === 0) return h('p', { class: 'muted' }, 'The last run had no images.');
  return h(
    'table',
    { class: 'prefetch-outcomes' },
    h('caption', { class: 'visually-hidden' }, `Images of list ${list.name} in its last run`),
    h('thead', {}, h('tr', {}, ['Image', 'Outcome', 'Why', 'Cached'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, list.outcomes.map((o) => h(
      'tr',
      { 'data-result': o.result },
      h('th', { scope: 'row', class: 'mono' }, o.image, o.digest ? h('div', { class: 'muted' }, o.digest) : null),
      h('td', {}, h('span', { class: `badge ${BADGE[o.result]}` }, o.result)),
      h('td', { class: 'reason' }, o.rule ? `policy "${o.rule}": ` : '', o.reasons.join('; ')),
      h('td', { class: 'nowrap' }, o.result === 'cached' ? `${o.blobs} blobs, ${o.artifacts} artifacts, ${size(o.bytes)}` : ''),
    ))),
  );
}

function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}
