import { ApiError, errorText } from '../api.js';
import { h } from '../dom.js';
import { eventRow, EVENT_COLUMNS, type AuditEvent } from '../events.js';
import { filterForm, filterParams } from '../filters.js';
import { readSse } from '../sse.js';
import { announce } from '../status.js';
import type { View } from './view.js';

const MAX_ROWS = 200;

/** New audit events as they are written, newest on top, under the same filters as the explorer. */
export const liveView: View = async ({ main, params, signal }) => {
  const filters = filterParams(params);
  filters.delete('since');
  filters.delete('until');
  const state = h('p', { id: 'live-state', class: 'muted', role: 'status', 'aria-live': 'polite' }, 'Connecting…');
  const tbody = h('tbody', { id: 'live-events' });
  const count = h('span', {}, '0');
  main.append(
    h('h1', {}, 'Live decisions'),
    filterForm(filters, { idPrefix: 'l', submitLabel: 'Follow', times: false }, (next) => {
      location.hash = `#/live${next.size ? `?${next}` : ''}`;
    }),
    state,
    h('p', {}, 'Events received: ', count),
    h(
      'table',
      { class: 'events' },
      h('caption', {}, 'New audit events, newest first'),
      h('thead', {}, h('tr', {}, EVENT_COLUMNS.map((c) => h('th', { scope: 'col' }, c)))),
      tbody,
    ),
  );
  let lastId: string | undefined;
  let received = 0;
  // Reconnects after a dropped stream, resuming after the last event seen.
  void (async () => {
    let delay = 1000;
    while (!signal.aborted) {
      try {
        await readSse(`/audit/events/live${filters.size ? `?${filters}` : ''}`, lastId, signal, (m) => {
          if (m.event !== 'audit') return;
          const e = JSON.parse(m.data) as AuditEvent;
          lastId = m.id ?? String(e.id);
          tbody.prepend(eventRow(e));
          while (tbody.rows.length > MAX_ROWS) tbody.lastElementChild?.remove();
          count.textContent = String(++received);
          if (e.decision === 'deny') announce(`New denial: ${e.repository ?? ''} ${e.reasons[0] ?? ''}`);
        }, () => {
          state.textContent = 'Connected: new events appear below as they happen.';
          delay = 1000;
        });
        if (signal.aborted) return;
        state.textContent = 'The stream ended; reconnecting…';
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
          state.textContent = errorText(err);
          state.className = 'error';
          return;
        }
        state.textContent = `Connection lost (${errorText(err)}); reconnecting…`;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15_000);
    }
  })();
};
