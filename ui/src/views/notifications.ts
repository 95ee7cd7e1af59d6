import { errorText, getJson, postJson } from '../api.js';
import { formatTime, h, replace } from '../dom.js';
import { announce } from '../status.js';
import type { View } from './view.js';

interface DeliveryItem {
  id: number;
  webhook: string;
  eventId: number;
  kind: string;
  state: 'pending' | 'failed' | 'delivered';
  attempts: number;
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  updatedAt: string;
}

interface Listing {
  counts: { pending: number; failed: number; delivered: number };
  deliveries: DeliveryItem[];
}

/**
 * Webhook deliveries that wait or were given up on, with why; admins send one again. An auditor sees no
 * retry button; the API is what refuses.
 */
export const notificationsView: View = async ({ main, me, signal }) => {
  const isAdmin = me.role === 'admin';
  const summary = h('p', { id: 'notification-counts' });
  const list = h('div', { id: 'notification-list' });
  const flash = h('div', { id: 'notification-result', 'aria-live': 'polite' });
  const refresh = async () => {
    const { counts, deliveries } = await getJson<Listing>('/notifications?state=failed,pending', { signal });
    replace(summary, `${counts.failed} failed, ${counts.pending} waiting, ${counts.delivered} delivered recently.`);
    replace(list, deliveryTable(deliveries, isAdmin, retry));
  };
  const retry = async (d: DeliveryItem) => {
    try {
      await postJson(`/notifications/${d.id}/retry`, {});
      replace(flash, h('p', { class: 'ok' }, `Delivery ${d.id} of event ${d.eventId} to ${d.webhook} is sent again now.`));
      announce(`Delivery ${d.id} is sent again.`);
    } catch (err) {
      replace(flash, h('p', { class: 'error', role: 'alert' }, errorText(err)));
    }
    await refresh();
  };
  main.append(
    h('h1', {}, 'Notifications'),
    h('p', {}, 'Audit events sent to webhooks. A delivery that fails is tried again with a growing wait; after its last attempt it is failed, and stays here until it is sent again.'),
    summary,
    flash,
    h('section', { 'aria-labelledby': 'notifications-title' }, h('h2', { id: 'notifications-title' }, 'Failed and waiting deliveries'), list),
  );
  await refresh();
};

function deliveryTable(deliveries: DeliveryItem[], isAdmin: boolean, retry: (d: DeliveryItem) => void): HTMLElement {
  if (deliveries.length === 0) return h('p', { class: 'muted' }, 'Nothing is waiting and nothing has failed.');
  const columns = ['ID', 'Webhook', 'Event', 'State', 'Attempts', 'Last error', ...(isAdmin ? ['Actions'] : [])];
  return h(
    'table',
    { id: 'notifications' },
    h('caption', { class: 'visually-hidden' }, 'Webhook deliveries, newest first'),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, deliveries.map((d) => h(
      'tr', { 'data-id': String(d.id), 'data-state': d.state },
      h('th', { scope: 'row' }, String(d.id)),
      h('td', {}, d.webhook),
      h('td', {}, h('a', { href: `#/events/${d.eventId}` }, `${d.eventId}`), h('div', { class: 'muted mono' }, d.kind)),
      h('td', {}, d.state === 'failed' ? h('span', { class: 'badge deny' }, 'failed') : [h('span', { class: 'badge mode' }, 'waiting'), h('div', { class: 'muted' }, `next ${formatTime(d.nextAttemptAt)}`)]),
      h('td', {}, String(d.attempts)),
      h('td', { class: 'reason' }, d.lastError ?? ''),
      isAdmin ? h('td', { class: 'nowrap' }, h('button', { type: 'button', class: 'secondary', onclick: () => retry(d) }, `Send delivery ${d.id} again`)) : null,
    ))),
  );
}
