import { formatTime, h, svg } from './dom.js';

export interface Bucket {
  start: string;
  pulls: number;
  allowed: number;
  denied: number;
  warned: number;
}

const W = 720;
const H = 220;
const PAD = { left: 40, right: 8, top: 10, bottom: 28 };

/**
 * Allowed, warned and denied pulls per bucket as stacked bars, drawn with DOM calls (no inline style: the
 * colours come from classes), with the same numbers in a table for screen readers and copying.
 */
export function pullsChart(series: Bucket[], bucketLabel: string): HTMLElement {
  const max = Math.max(1, ...series.map((b) => b.allowed + b.denied + b.warned));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, series.length);
  const barW = Math.max(1, Math.min(40, slot * 0.7));
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const bars = series.flatMap((b, i) => {
    const x = PAD.left + i * slot + (slot - barW) / 2;
    let base = 0;
    return (['allowed', 'warned', 'denied'] as const).flatMap((k) => {
      const v = b[k];
      if (v === 0) return [];
      const rect = svg('rect', { x: x.toFixed(1), y: y(base + v).toFixed(1), width: barW.toFixed(1), height: (y(base) - y(base + v)).toFixed(1), class: `bar ${k}` }, svg('title', {}, `${formatTime(b.start)}: ${v} ${k}`));
      base += v;
      return [rect];
    });
  });
  const ticks = [0, Math.ceil(max / 2), max].map((v) => [
    svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v).toFixed(1), y2: y(v).toFixed(1), class: 'grid' }),
    svg('text', { x: PAD.left - 6, y: (y(v) + 4).toFixed(1), class: 'axis', 'text-anchor': 'end' }, String(v)),
  ]);
  const labelEvery = Math.max(1, Math.ceil(series.length / 8));
  const labels = series.map((b, i) =>
    i % labelEvery === 0 ? svg('text', { x: (PAD.left + i * slot + slot / 2).toFixed(1), y: H - 8, class: 'axis', 'text-anchor': 'middle' }, shortTime(b.start, bucketLabel)) : null,
  );
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title', class: 'chart' },
    svg('title', { id: 'chart-title' }, `Pulls per ${bucketLabel}: allowed, warned and denied`),
    ticks,
    bars,
    labels,
  );
  const legend = h('ul', { class: 'legend' }, (['allowed', 'warned', 'denied'] as const).map((k) => h('li', {}, h('span', { class: `swatch ${k}`, 'aria-hidden': 'true' }), k)));
  const table = h(
    'table',
    { class: 'numbers' },
    h('caption', {}, `Pulls per ${bucketLabel}`),
    h('thead', {}, h('tr', {}, ['Start', 'Pulls', 'Allowed', 'Warned', 'Denied'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, series.map((b) => h('tr', {}, h('th', { scope: 'row' }, formatTime(b.start)), h('td', {}, String(b.pulls)), h('td', {}, String(b.allowed)), h('td', {}, String(b.warned)), h('td', {}, String(b.denied))))),
  );
  return h('figure', { class: 'chart-box' }, chart, legend, h('details', {}, h('summary', {}, 'Show as a table'), table));
}

function shortTime(iso: string, bucket: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return bucket === 'hour' ? `${pad(d.getUTCHours())}:00` : `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`.slice(5);
}
