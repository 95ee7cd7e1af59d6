import { errorText, getJson } from '../api.js';
import { h, replace } from '../dom.js';
import { downloadExport } from '../download.js';
import { eventTable, type AuditEvent } from '../events.js';
import { filterForm, filterParams } from '../filters.js';
import { announce } from '../status.js';
import type { View } from './view.js';

const PAGE_SIZES = [10, 25, 50, 100, 250];
const DEFAULT_PAGE_SIZE = 50;
const ORDERS = [
  { value: 'desc', label: 'Newest first' },
  { value: 'asc', label: 'Oldest first' },
] as const;

/** Audit events under the API's filters, a page at a time with its cursor, and exports of what is shown. */
export const explorerView: View = async ({ main, params, signal }) => {
  const filters = filterParams(params);
  const asked = Number(params.get('limit'));
  // Any size the API takes (1–1000) can come in the address; the menu offers the usual ones.
  const pageSize = Number.isInteger(asked) && asked >= 1 && asked <= 1000 ? asked : DEFAULT_PAGE_SIZE;
  const sizeChoices = [...new Set([...PAGE_SIZES, pageSize])].sort((a, b) => a - b);
  // Auditors look for what just happened: newest first unless the address asks for oldest first.
  const order = params.get('order') === 'asc' ? 'asc' : 'desc';
  // The page size and order are part of the address too; the filters are applied to the first page.
  const show = (next: URLSearchParams, size = pageSize, ord: string = order) => {
    if (size !== DEFAULT_PAGE_SIZE) next.set('limit', String(size));
    if (ord === 'asc') next.set('order', 'asc');
    location.hash = `#/events${next.size ? `?${next}` : ''}`;
  };
  main.append(
    h('h1', {}, 'Audit events'),
    filterForm(filters, { idPrefix: 'f', submitLabel: 'Show events' }, (next) => show(next)),
  );
  const results = h('section', { 'aria-labelledby': 'results-title', class: 'results' });
  main.append(results);

  // Cursors of the pages before this one; the first page has none.
  const previous: Array<string | undefined> = [];
  let cursor: string | undefined;

  const load = async (): Promise<void> => {
    const query = new URLSearchParams(filters);
    query.set('limit', String(pageSize));
    query.set('order', order);
    if (cursor) query.set('cursor', cursor);
    replace(results, h('h2', { id: 'results-title' }, 'Results'), h('p', { class: 'muted' }, 'Loading…'));
    let page: { events: AuditEvent[]; next: string | null };
    try {
      page = await getJson(`/audit/events?${query}`, { signal });
    } catch (err) {
      if (signal.aborted) return;
      replace(results, h('h2', { id: 'results-title' }, 'Results'), h('p', { class: 'error', role: 'alert' }, errorText(err)));
      return;
    }
    const first = previous.length * pageSize + 1;
    const summary = page.events.length === 0 ? 'No events match these filters.' : `Events ${first}–${first + page.events.length - 1}${page.next ? ' (more on the next page)' : ''}.`;
    const pageCursor = cursor;
    const exportPath = (format: string, all: boolean) => {
      const q = new URLSearchParams(filters);
      q.set('format', format);
      q.set('order', order);
      // Exactly the rows shown: the same cursor and as many rows, unless every matching event is asked for.
      if (!all) {
        if (pageCursor) q.set('cursor', pageCursor);
        q.set('limit', String(Math.max(1, page.events.length)));
      }
      return `/audit/events?${q}`;
    };
    const sizes = h('select', { id: 'page-size' }, sizeChoices.map((n) => h('option', { value: String(n) }, String(n))));
    sizes.value = String(pageSize);
    sizes.addEventListener('change', () => show(new URLSearchParams(filters), Number(sizes.value)));
    const orders = h('select', { id: 'order' }, ORDERS.map((o) => h('option', { value: o.value }, o.label)));
    orders.value = order;
    orders.addEventListener('change', () => show(new URLSearchParams(filters), pageSize, orders.value));
    const allBox = h('input', { id: 'export-all', type: 'checkbox' });
    const exportStatus = h('span', { class: 'muted', role: 'status' });
    const save = (format: 'csv' | 'ndjson') => async () => {
      exportStatus.textContent = 'Preparing download…';
      try {
        await downloadExport(exportPath(format, allBox.checked), `audit-events.${format}`);
        exportStatus.textContent = `Downloaded audit-events.${format}.`;
      } catch (err) {
        exportStatus.textContent = errorText(err);
      }
    };
    replace(
      results,
      h('h2', { id: 'results-title' }, 'Results'),
      h('p', { id: 'results-summary' }, summary),
      page.events.length ? eventTable(`Audit events matching the filters, ${order === 'desc' ? 'newest' : 'oldest'} first`, page.events) : null,
      h(
        'nav',
        { class: 'pager', 'aria-label': 'Pages' },
        h('button', { type: 'button', disabled: previous.length === 0, onclick: () => { cursor = previous.pop(); void load(); } }, 'Previous page'),
        h('button', { type: 'button', disabled: !page.next, onclick: () => { previous.push(cursor); cursor = page.next ?? undefined; void load(); } }, 'Next page'),
        h('span', { class: 'field inline' }, h('label', { for: 'page-size' }, 'Rows per page'), sizes),
        h('span', { class: 'field inline' }, h('label', { for: 'order' }, 'Order'), orders),
      ),
      h(
        'div',
        { class: 'exports' },
        h('button', { type: 'button', class: 'secondary', disabled: page.events.length === 0, onclick: save('csv') }, 'Download CSV'),
        h('button', { type: 'button', class: 'secondary', disabled: page.events.length === 0, onclick: save('ndjson') }, 'Download NDJSON'),
        h('span', { class: 'check' }, allBox, h('label', { for: 'export-all' }, 'every matching event, not only this page')),
        exportStatus,
      ),
    );
    announce(summary);
  };
  await load();
};
