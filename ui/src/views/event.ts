import { getJson } from '../api.js';
import { formatTime, h, type Child } from '../dom.js';
import { decisionBadge, imageName, type AuditEvent } from '../events.js';
import type { View } from './view.js';
import { vulnerabilityEvidence } from './vulnerability-evidence.js';

type Rec = Record<string, unknown>;

/** One audit event: why it was decided, under which rule and policy version, and the evidence behind it. */
export const eventView: View = async ({ main, id, signal }) => {
  const e = await getJson<AuditEvent>(`/audit/events/${id}`, { signal });
  const row = (label: string, value: Child) => [h('dt', {}, label), h('dd', {}, value === '' || value === null || value === undefined ? '—' : value)];
  main.append(
    h('p', {}, h('a', { href: '#/events' }, '← All audit events')),
    h('h1', {}, `Event ${e.id}`, ' ', decisionBadge(e.decision)),
    h(
      'dl',
      { class: 'facts' },
      row('Time', h('time', { datetime: e.time }, formatTime(e.time))),
      row('Kind', e.kind),
      row('Decision', e.decision),
      row('Image', h('span', { class: 'mono' }, imageName(e))),
      row('Upstream', e.upstream),
      row('Digest', e.digest ? h('span', { class: 'mono' }, e.digest) : null),
      row('Rule', e.policy),
      row('Mode', e.mode),
      row('Policy version', e.policyVersion === null ? null : String(e.policyVersion)),
      row('User', e.user ?? 'anonymous'),
      row('Client', e.client),
      row(
        'Request id',
        e.requestId
          ? [h('span', { class: 'mono' }, e.requestId), ' ', h('a', { href: `#/events?${requestQuery(e.requestId, e.time)}` }, 'All events of this request')]
          : null,
      ),
      row('Status', e.status === null ? null : String(e.status)),
      row('Served from cache', e.cacheHit === null ? null : e.cacheHit ? 'yes' : 'no'),
    ),
    h('section', { 'aria-labelledby': 'reasons-title' }, h('h2', { id: 'reasons-title' }, 'Reasons'), e.reasons.length ? h('ul', { class: 'reasons' }, e.reasons.map((r) => h('li', {}, r))) : h('p', { class: 'muted' }, 'No reasons recorded.')),
    h('section', { 'aria-labelledby': 'evidence-title' }, h('h2', { id: 'evidence-title' }, 'Evidence'), evidence(e.evidence)),
    h('section', { 'aria-labelledby': 'chain-title' }, h('h2', { id: 'chain-title' }, 'Audit chain'), h('dl', { class: 'facts' }, row('Hash', h('span', { class: 'mono' }, e.hash)), row('Previous hash', h('span', { class: 'mono' }, e.prevHash)))),
  );
};

function evidence(ev: Rec | null): Child {
  if (!ev) return h('p', { class: 'muted' }, 'No evidence was gathered for this event.');
  const signers = (ev.matchedSigners as Rec[] | undefined) ?? [];
  const atts = (ev.attestationTypes as Rec[] | undefined) ?? [];
  const built = ev.buildTime as { time?: string; source?: string } | undefined;
  const rejected = (ev.rejected as string[] | undefined) ?? [];
  return [
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Signatures found'), h('dd', {}, String(ev.signatures ?? 0)),
      h('dt', {}, 'Attestations found'), h('dd', {}, String(ev.attestations ?? 0)),
      built ? [h('dt', {}, 'Build time'), h('dd', {}, `${formatTime(built.time)}${built.source ? ` (from ${built.source})` : ''}`)] : null,
      ev.gatherError ? [h('dt', {}, 'Gathering failed'), h('dd', {}, String(ev.gatherError))] : null,
      ev.coveredByIndex ? [h('dt', {}, 'Covered by index'), h('dd', { class: 'mono' }, String(ev.coveredByIndex))] : null,
    ),
    signers.length
      ? h(
          'table',
          { class: 'evidence' },
          h('caption', {}, 'Signers that met the rule'),
          h('thead', {}, h('tr', {}, ['Signer', 'Issuer', 'Source', 'Transparency log index', 'Logged at'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, signers.map((s) => {
            const notation = ((s.signer ?? {}) as Rec).notation as Rec | undefined;
            // A Notation signer: its certificate subject, vouched for by its trust stores.
            const signer = (notation ? { subject: notation.subject, issuer: `Notation (${String(notation.trustStores ?? '')})` } : (s.signer ?? {})) as Rec;
            const tlog = s.tlog as Rec | undefined;
            return h(
              'tr',
              {},
              h('td', { class: 'mono' }, String(signer.key ?? signer.subject ?? '')),
              h('td', {}, String(signer.issuer ?? (signer.key ? 'key' : ''))),
              h('td', {}, String(s.source ?? '')),
              h('td', {}, tlog?.logIndex === undefined ? '—' : String(tlog.logIndex)),
              h('td', {}, loggedAt(tlog?.integratedTime)),
            );
          })),
        )
      : null,
    atts.length
      ? h(
          'table',
          { class: 'evidence' },
          h('caption', {}, 'Attestations'),
          h('thead', {}, h('tr', {}, ['Predicate type', 'Signer', 'Builder', 'Source repository'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, atts.map((a) => {
            const signer = (a.signer ?? {}) as Rec;
            return h('tr', {}, h('td', { class: 'mono' }, String(a.predicateType ?? '')), h('td', { class: 'mono' }, String(signer.key ?? signer.subject ?? '')), h('td', {}, String(a.builderId ?? '—')), h('td', {}, String(a.sourceRepository ?? '—')));
          })),
        )
      : null,
    vulnerabilityEvidence(ev.vulnerabilities),
    rejected.length ? [h('h3', {}, 'Rejected signatures and attestations'), h('ul', {}, rejected.map((r) => h('li', {}, r)))] : null,
    h('details', {}, h('summary', {}, 'Evidence as recorded (JSON)'), h('pre', { class: 'json' }, JSON.stringify(ev, null, 2))),
  ];
}

/** The log's integrated time: recorded as ISO text, or as Unix seconds by older events. */
function loggedAt(value: unknown): string {
  if (typeof value === 'number') return formatTime(new Date(value * 1000).toISOString());
  return typeof value === 'string' && value ? formatTime(value) : '—';
}

/**
 * The events of one request, within a day either side of this one: a request's events are written while
 * it runs, and the time range lets the database use its time index instead of scanning the whole log.
 */
function requestQuery(requestId: string, time: string): URLSearchParams {
  const at = Date.parse(time);
  const day = 86_400_000;
  return new URLSearchParams({ requestId, since: new Date(at - day).toISOString(), until: new Date(at + day).toISOString() });
}
