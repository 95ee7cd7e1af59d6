import { formatTime, h } from './dom.js';
// The API's own event type: the console reads exactly what the server writes.
import type { AuditEvent } from '../../src/audit/types.js';

export type { AuditEvent };

/** `repository:tag` or `repository@sha256:…` (abbreviated), as a person reads an image name. */
export function imageName(e: Pick<AuditEvent, 'repository' | 'reference' | 'digest'>): string {
  if (!e.repository) return '';
  const ref = e.reference ?? e.digest;
  if (!ref) return e.repository;
  return ref.startsWith('sha256:') ? `${e.repository}@${ref.slice(0, 19)}…` : `${e.repository}:${ref}`;
}

export function decisionBadge(decision: string | null): HTMLElement | string {
  return decision ? h('span', { class: `badge ${decision}` }, decision) : '';
}

export const EVENT_COLUMNS = ['Time', 'Decision', 'Kind', 'Image', 'User / client', 'Rule', 'First reason'];

export function eventRow(e: AuditEvent): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-id': String(e.id) },
    h('td', {}, h('a', { href: `#/events/${e.id}`, 'aria-label': `Event ${e.id} at ${formatTime(e.time)}` }, h('time', { datetime: e.time }, formatTime(e.time)))),
    h('td', {}, decisionBadge(e.decision)),
    h('td', {}, e.kind),
    h('td', { class: 'mono' }, imageName(e)),
    h('td', {}, [e.user ?? 'anonymous', e.client ? h('small', { class: 'client' }, ` ${e.client}`) : null]),
    h('td', {}, e.policy ?? ''),
    h('td', { class: 'reason' }, e.reasons[0] ?? ''),
  );
}

export function eventTable(caption: string, events: AuditEvent[], tbodyId?: string): HTMLTableElement {
  return h(
    'table',
    { class: 'events' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, EVENT_COLUMNS.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', { id: tbodyId }, events.map(eventRow)),
  );
}
