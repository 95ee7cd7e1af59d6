import { errorText, getJson } from '../api.js';
import { h, replace } from '../dom.js';
import { pullsChart, type Bucket } from '../chart.js';
import type { View } from './view.js';

interface Group {
  key: string;
  pulls: number;
  allowed: number;
  denied: number;
  warned: number;
  reasons: Array<{ reason: string; count: number }>;
}

interface Summary {
  since: string;
  until: string;
  totals: { pulls: number; allowed: number; denied: number; warned: number };
  groups: Group[];
  series: Bucket[];
}

interface ChainReport {
  ok: boolean;
  events: number;
  firstBroken: number | null;
  reason?: string;
  head: string | null;
}

const PERIODS = [
  { value: '24h', label: 'Last 24 h', bucket: '1h', unit: 'hour' },
  { value: '7d', label: 'Last 7 days', bucket: '1d', unit: 'day' },
  { value: '30d', label: 'Last 30 days', bucket: '1d', unit: 'day' },
] as const;

/** Pulls and denials over time, the most denied images and the busiest pullers, and the chain's state. */
export const overviewView: View = async ({ main, params, signal }) => {
  const period = PERIODS.find((p) => p.value === params.get('since')) ?? PERIODS[1];
  const select = h('select', { id: 'overview-period' }, PERIODS.map((p) => h('option', { value: p.value }, p.label)));
  select.value = period.value;
  select.addEventListener('change', () => (location.hash = `#/?since=${select.value}`));
  const chain = h('section', { 'aria-labelledby': 'chain-title', class: 'card' }, h('h2', { id: 'chain-title' }, 'Audit chain'), h('p', {}, 'Checking…'));
  const activity = h('section', { 'aria-labelledby': 'activity-title', class: 'card wide' }, h('h2', { id: 'activity-title' }, 'Pulls over time'), h('p', {}, 'Loading…'));
  const denied = h('section', { 'aria-labelledby': 'denied-title', class: 'card wide' }, h('h2', { id: 'denied-title' }, 'Most denied images'));
  const pullers = h('section', { 'aria-labelledby': 'pullers-title', class: 'card' }, h('h2', { id: 'pullers-title' }, 'Top pullers'));
  main.append(
    h('h1', {}, 'Overview'),
    h('div', { class: 'field inline' }, h('label', { for: 'overview-period' }, 'Period'), select),
    h('div', { class: 'cards' }, chain, pullers, activity, denied),
  );
  const range = `since=${period.value}`;
  await Promise.all([
    getJson<ChainReport>('/audit/verify', { signal }).then(
      (r) => replace(chain, chain.firstElementChild, chainStatus(r)),
      (err) => replace(chain, chain.firstElementChild, h('p', { class: 'error' }, errorText(err))),
    ),
    getJson<Summary>(`/audit/summary?${range}&by=image&bucket=${period.bucket}&limit=10`, { signal }).then(
      (s) => {
        replace(
          activity,
          activity.firstElementChild,
          h('p', { id: 'totals' }, `${s.totals.pulls} pulls: ${s.totals.allowed} allowed, ${s.totals.warned} warned, ${s.totals.denied} denied.`),
          pullsChart(s.series, period.unit),
        );
        const top = s.groups.filter((g) => g.denied > 0).sort((a, b) => b.denied - a.denied);
        replace(
          denied,
          denied.firstElementChild,
          top.length === 0
            ? h('p', { class: 'muted' }, 'Nothing was denied in this period.')
            : h(
                'table',
                { id: 'top-denied' },
                h('caption', { class: 'visually-hidden' }, 'Most denied images and why'),
                h('thead', {}, h('tr', {}, ['Image', 'Denied', 'Reasons'].map((c) => h('th', { scope: 'col' }, c)))),
                h('tbody', {}, top.map((g) => h(
                  'tr', {},
                  h('th', { scope: 'row', class: 'mono' }, h('a', { href: `#/events?${new URLSearchParams({ decision: 'deny', repository: g.key, since: period.value })}` }, g.key)),
                  h('td', {}, String(g.denied)),
                  h('td', {}, h('ul', { class: 'reasons' }, g.reasons.slice(0, 3).map((r) => h('li', {}, `${r.reason} (${r.count})`)))),
                ))),
              ),
        );
      },
      (err) => {
        replace(activity, activity.firstElementChild, h('p', { class: 'error' }, errorText(err)));
        replace(denied, denied.firstElementChild, h('p', { class: 'error' }, errorText(err)));
      },
    ),
    getJson<Summary>(`/audit/summary?${range}&by=user&limit=10`, { signal }).then(
      (s) => {
        const top = [...s.groups].sort((a, b) => b.pulls - a.pulls);
        replace(
          pullers,
          pullers.firstElementChild,
          top.length === 0
            ? h('p', { class: 'muted' }, 'No pulls in this period.')
            : h(
                'table',
                { id: 'top-pullers' },
                h('caption', { class: 'visually-hidden' }, 'Who pulled the most'),
                h('thead', {}, h('tr', {}, ['User', 'Pulls', 'Denied'].map((c) => h('th', { scope: 'col' }, c)))),
                h('tbody', {}, top.map((g) => h('tr', {}, h('th', { scope: 'row' }, g.key.startsWith('anonymous (') ? g.key : h('a', { href: `#/events?${new URLSearchParams({ user: g.key, kind: 'pull.manifest', since: period.value })}` }, g.key)), h('td', {}, String(g.pulls)), h('td', {}, String(g.denied))))),
              ),
        );
      },
      (err) => replace(pullers, pullers.firstElementChild, h('p', { class: 'error' }, errorText(err))),
    ),
  ]);
};

function chainStatus(r: ChainReport): HTMLElement {
  if (r.ok) {
    return h('p', { id: 'chain-status', class: 'ok' }, `Intact: ${r.events} events, head ${r.head ? `${r.head.slice(0, 16)}…` : '(empty log)'}`);
  }
  return h(
    'p',
    { id: 'chain-status', class: 'error' },
    `Broken at event ${r.firstBroken ?? '?'}${r.reason ? `: ${r.reason}` : ''} (${r.events} events checked).`,
    r.firstBroken ? [' ', h('a', { href: `#/events/${r.firstBroken}` }, 'Open that event')] : null,
  );
}
