import { h, field } from './dom.js';

/** The audit API's filters, as the hash route carries them (`#/events?decision=deny&since=7d`). */
export const FILTERS = [
  { key: 'kind', label: 'Kind', hint: 'e.g. pull.manifest, policy.rollback' },
  { key: 'decision', label: 'Decision' },
  { key: 'repository', label: 'Repository', hint: 'exact, e.g. docker.io/library/nginx' },
  { key: 'repositoryPrefix', label: 'Repository prefix', hint: 'e.g. docker.io/acme/' },
  { key: 'digest', label: 'Digest' },
  { key: 'user', label: 'User', hint: 'token name of who asked' },
  { key: 'requestId', label: 'Request id' },
  { key: 'signer', label: 'Signer', hint: 'key name, keyless subject or Notation fingerprint (whole)' },
  { key: 'issuer', label: 'Issuer', hint: 'keyless issuer (with a signer)' },
] as const;

export const RANGES = [
  { value: '1h', label: 'Last hour' },
  { value: '24h', label: 'Last 24 h' },
  { value: '7d', label: 'Last 7 days' },
  { value: '30d', label: 'Last 30 days' },
  { value: 'custom', label: 'Custom range' },
  { value: 'all', label: 'All time' },
] as const;

const KINDS = ['pull.manifest', 'pull.blob', 'pull.referrers', 'policy.update', 'policy.rollback', 'auth.failure', 'cache.purge', 'tag.drift', 'audit.prune'];
const TIME_KEYS = ['since', 'until'];
export const FILTER_KEYS: string[] = [...FILTERS.map((f) => f.key), ...TIME_KEYS];

/** Only the filter parameters of a route query, in a stable order. */
export function filterParams(params: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  for (const key of FILTER_KEYS) {
    const v = params.get(key);
    if (v) out.set(key, v);
  }
  return out;
}

function rangeOf(params: URLSearchParams): string {
  const since = params.get('since');
  const until = params.get('until');
  if (!since && !until) return 'all';
  if (since && !until && RANGES.some((r) => r.value === since)) return since;
  return 'custom';
}

/** `2026-11-30T10:00:00.000Z` → the value a datetime-local input shows, in local time. */
function toLocalInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * The filter form. On submit it hands back the new parameters (only those that are set), so the caller
 * puts them in the URL: a view is shared by sharing its address (the token never is in it).
 */
export function filterForm(params: URLSearchParams, opts: { idPrefix: string; submitLabel: string; times?: boolean }, onApply: (next: URLSearchParams) => void): HTMLFormElement {
  const id = (k: string) => `${opts.idPrefix}-${k}`;
  const controls = new Map<string, HTMLInputElement | HTMLSelectElement>();
  const fields = FILTERS.map((f) => {
    let control: HTMLInputElement | HTMLSelectElement;
    if (f.key === 'decision') {
      control = h('select', { id: id(f.key), name: f.key }, ['', 'allow', 'deny', 'warn'].map((v) => h('option', { value: v }, v || 'any')));
      control.value = params.get(f.key) ?? '';
    } else {
      control = h('input', { id: id(f.key), name: f.key, type: 'text', value: params.get(f.key) ?? '', list: f.key === 'kind' ? id('kinds') : undefined, autocomplete: 'off', spellcheck: 'false' });
    }
    controls.set(f.key, control);
    return field(f.label, control, 'hint' in f ? f.hint : undefined);
  });
  const kinds = h('datalist', { id: id('kinds') }, KINDS.map((k) => h('option', { value: k })));

  const range = h('select', { id: id('range'), name: 'range' }, RANGES.map((r) => h('option', { value: r.value }, r.label)));
  range.value = rangeOf(params);
  const since = h('input', { id: id('since'), name: 'since', type: 'datetime-local', value: toLocalInput(rangeOf(params) === 'custom' ? params.get('since') : null) });
  const until = h('input', { id: id('until'), name: 'until', type: 'datetime-local', value: toLocalInput(params.get('until')) });
  const custom = h('div', { class: 'custom-range' }, field('From (local time)', since), field('To (local time)', until));
  const showCustom = () => (custom.hidden = range.value !== 'custom');
  range.addEventListener('change', showCustom);
  showCustom();

  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'Filter audit events',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const next = new URLSearchParams();
        for (const [key, control] of controls) if (control.value.trim()) next.set(key, control.value.trim());
        if (opts.times !== false) {
          if (range.value === 'custom') {
            if (since.value) next.set('since', new Date(since.value).toISOString());
            if (until.value) next.set('until', new Date(until.value).toISOString());
          } else if (range.value !== 'all') next.set('since', range.value);
        }
        onApply(next);
      },
    },
    h('div', { class: 'grid' }, fields, kinds),
    opts.times === false ? null : h('fieldset', { class: 'times' }, h('legend', {}, 'Time'), field('Period', range), custom),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, opts.submitLabel),
      h('button', { type: 'button', class: 'secondary', onclick: () => onApply(new URLSearchParams()) }, 'Clear filters'),
    ),
  );
  return form;
}
