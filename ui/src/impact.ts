import { formatTime, h, type Child } from './dom.js';
import type { AuditEvent } from './events.js';
import { describeSigner, type RevocationItem } from './trust.js';

/** The API's revocation impact report (the 201 answer of POST /trust/revocations). */
export interface ImpactedDigest {
  repository: string;
  digest: string;
  rule: string | null;
  wouldBeDenied: boolean | null;
  reasons: string[];
  pullCount: number;
  pulls: Array<{ time: string; user: string | null; client: string | null; reference: string | null }>;
}

export interface RevocationImpact {
  admitted: number;
  wouldBeDenied: ImpactedDigest[];
  stillServed: ImpactedDigest[];
  unknown: ImpactedDigest[];
}

export interface ServedImage {
  repository: string;
  digest: string;
  pulls: number;
  last: { time: string; user: string | null; reference: string | null };
}

/** Served manifest pulls (newest first) grouped by image, as the API's report counts them. */
export function servedOn(events: AuditEvent[]): ServedImage[] {
  const byImage = new Map<string, ServedImage>();
  for (const e of events) {
    if ((e.decision !== 'allow' && e.decision !== 'warn') || e.status !== 200 || !e.repository || !e.digest) continue;
    const key = `${e.repository}@${e.digest}`;
    const seen = byImage.get(key);
    if (seen) seen.pulls++;
    else byImage.set(key, { repository: e.repository, digest: e.digest, pulls: 1, last: { time: e.time, user: e.user, reference: e.reference } });
  }
  return [...byImage.values()];
}

const short = (digest: string) => `${digest.slice(0, 19)}…`;

export function previewTable(images: ServedImage[]): HTMLElement {
  return h(
    'table',
    { id: 'preview-images' },
    h('caption', {}, 'Served on this signer'),
    h('thead', {}, h('tr', {}, ['Image', 'Pulls', 'Last pull'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, images.map((i) => h(
      'tr', {},
      h('td', { class: 'mono', title: `${i.repository}@${i.digest}` }, `${i.repository}@${short(i.digest)}`),
      h('td', {}, String(i.pulls)),
      h('td', {}, `${formatTime(i.last.time)} by ${i.last.user ?? 'anonymous'}${i.last.reference ? ` (${i.last.reference})` : ''}`),
    ))),
  );
}

/** What the revocation did, group by group: now denied, still served, cannot be judged. */
export function impactReport(created: RevocationItem & { impact: RevocationImpact }): HTMLElement {
  const i = created.impact;
  const group = (id: string, title: string, items: ImpactedDigest[]): Child =>
    items.length === 0
      ? null
      : h(
          'table', { id },
          h('caption', {}, `${title}: ${items.length}`),
          h('thead', {}, h('tr', {}, ['Image', 'Rule', 'Pulls', 'Last pulled by', 'Reason'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, items.map((d) => h(
            'tr', {},
            h('td', { class: 'mono', title: `${d.repository}@${d.digest}` }, `${d.repository}@${short(d.digest)}`),
            h('td', {}, d.rule ?? '(none)'),
            h('td', {}, String(d.pullCount)),
            h('td', {}, d.pulls[0] ? `${d.pulls[0].user ?? 'anonymous'}, ${formatTime(d.pulls[0].time)}` : ''),
            h('td', { class: 'reason' }, d.reasons.join('; ')),
          ))),
        );
  return h(
    'div',
    { class: 'card', id: 'impact' },
    h('p', { class: 'ok' }, `Revocation ${created.id} of ${describeSigner(created.signer)} is in force.`),
    h('p', {}, `${i.admitted} image(s) had been served on it: ${i.wouldBeDenied.length} now denied, ${i.stillServed.length} still served, ${i.unknown.length} cannot be judged (no cached evidence).`),
    group('impact-denied', 'Now denied', i.wouldBeDenied),
    group('impact-served', 'Still served', i.stillServed),
    group('impact-unknown', 'Cannot be judged', i.unknown),
  );
}
