import { ApiError, errorText, getJson, postJson } from '../api.js';
import { field, formatTime, h, replace, type Child } from '../dom.js';
import { decisionBadge } from '../events.js';
import { announce } from '../status.js';
import { ruleSummary } from '../rule-summary.js';
import type { View } from './view.js';
import { vulnerabilityEvidence } from './vulnerability-evidence.js';

type Rule = { name: string } & Record<string, unknown>;

interface Version {
  version: number;
  time: string;
  author: string;
  source: string;
  rollbackOf: number | null;
  diff: { added: string[]; removed: string[]; changed: string[]; reordered: boolean };
  summary: string;
  comment?: string | null;
}

/** The active rules, their history with diffs and rollback, and the evaluate and replay forms. */
export const policyView: View = async ({ main, me, signal }) => {
  const isAdmin = me.role === 'admin';
  const [active, list] = await Promise.all([
    getJson<{ version: number; policies: Rule[] }>('/policy', { signal }),
    getJson<{ versions: Version[] }>('/policy/versions', { signal }),
  ]);
  const versions = [...list.versions].sort((a, b) => b.version - a.version);
  const detail = h('div', { id: 'version-detail' });
  main.append(
    h('h1', {}, 'Policy'),
    h(
      'section',
      { 'aria-labelledby': 'active-title' },
      h('h2', { id: 'active-title' }, `Active rules (version ${active.version})`),
      h('ol', { class: 'rules' }, active.policies.map((r) => h(
        'li', {},
        h('h3', {}, r.name, ' ', h('span', { class: `badge mode` }, String(r.mode ?? ''))),
        h('div', { class: 'rule-pair' }, h('ul', { class: 'rule-summary', 'aria-label': `Rule ${r.name} in words` }, ruleSummary(r).map((line) => h('li', {}, line))), h('pre', { class: 'json' }, JSON.stringify(r, null, 2))),
      ))),
    ),
    h(
      'section',
      { 'aria-labelledby': 'versions-title' },
      h('h2', { id: 'versions-title' }, 'Versions'),
      isAdmin ? null : h('p', { class: 'muted' }, 'Rolling back needs an admin token.'),
      h(
        'table',
        { id: 'versions' },
        h('caption', { class: 'visually-hidden' }, 'Policy versions, newest first'),
        h('thead', {}, h('tr', {}, ['Version', 'Time', 'Author', 'Source', 'Change', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, versions.map((v) => h(
          'tr', { 'data-version': String(v.version) },
          h('th', { scope: 'row' }, String(v.version), v.version === active.version ? h('span', { class: 'badge allow' }, 'active') : null),
          h('td', {}, formatTime(v.time)),
          h('td', {}, v.author),
          h('td', {}, v.rollbackOf ? `rollback to ${v.rollbackOf}` : v.source),
          h('td', {}, v.summary, v.comment ? h('div', { class: 'muted' }, `“${v.comment}”`) : null),
          h(
            'td', { class: 'row-actions' },
            h('button', { type: 'button', class: 'secondary', onclick: () => void showVersion(detail, v, versions) }, `Show diff of version ${v.version}`),
            isAdmin && v.version !== active.version ? h('button', { type: 'button', class: 'danger', onclick: () => confirmRollback(detail, v.version, active.version) }, `Roll back to version ${v.version}`) : null,
          ),
        ))),
      ),
      detail,
    ),
    evaluateForm(),
    isAdmin ? replayForm(active.policies) : h('section', { 'aria-labelledby': 'replay-title' }, h('h2', { id: 'replay-title' }, 'Replay a draft policy'), h('p', { class: 'muted' }, 'Replaying a draft against past pulls needs an admin token.')),
  );
};

/** The rules a version changed: each added, removed or changed rule before and after. */
async function showVersion(detail: HTMLElement, v: Version, versions: Version[]): Promise<void> {
  replace(detail, h('p', { class: 'muted' }, 'Loading…'));
  try {
    const olderNumber = versions.filter((x) => x.version < v.version).map((x) => x.version).sort((a, b) => b - a)[0];
    const [after, before] = await Promise.all([
      getJson<Version & { policies: Rule[] }>(`/policy/versions/${v.version}`),
      olderNumber === undefined ? Promise.resolve(undefined) : getJson<Version & { policies: Rule[] }>(`/policy/versions/${olderNumber}`),
    ]);
    const byName = (rules: Rule[] | undefined, name: string) => rules?.find((r) => r.name === name);
    const block = (label: string, cls: string, rule: Rule | undefined): Child => (rule ? h('div', { class: `diff-side ${cls}` }, h('h4', {}, label), h('pre', { class: 'json' }, JSON.stringify(rule, null, 2))) : null);
    const entries: Child[] = [
      ...after.diff.added.map((n) => h('li', {}, h('h3', {}, `Added rule "${n}"`), block('Now', 'added', byName(after.policies, n)))),
      ...after.diff.removed.map((n) => h('li', {}, h('h3', {}, `Removed rule "${n}"`), block('Before', 'removed', byName(before?.policies, n)))),
      ...after.diff.changed.map((n) => h('li', {}, h('h3', {}, `Changed rule "${n}"`), h('div', { class: 'diff-pair' }, block('Before', 'removed', byName(before?.policies, n)), block('After', 'added', byName(after.policies, n))))),
    ];
    replace(
      detail,
      h(
        'section',
        { 'aria-labelledby': 'diff-title', class: 'card', tabindex: '-1', id: 'diff' },
        h('h3', { id: 'diff-title' }, `Version ${v.version}${before ? ` compared with version ${before.version}` : ' (the first version)'}`),
        h('p', {}, `${after.summary} — by ${after.author}, ${formatTime(after.time)}${after.diff.reordered ? '; the rule order changed' : ''}.`),
        entries.length ? h('ul', { class: 'diff' }, entries) : h('p', { class: 'muted' }, 'No rule was added, removed or changed.'),
        h('details', {}, h('summary', {}, `All rules of version ${v.version} (JSON)`), h('pre', { class: 'json' }, JSON.stringify(after.policies, null, 2))),
      ),
    );
    detail.querySelector<HTMLElement>('#diff')?.focus();
  } catch (err) {
    replace(detail, h('p', { class: 'error', role: 'alert' }, errorText(err)));
  }
}

/**
 * A rollback makes a new version with the old rules; it is asked for twice so a stray click does nothing, and
 * sent with If-Match on the version this page showed, so it never overrides a change made meanwhile.
 */
function confirmRollback(detail: HTMLElement, version: number, shownActive: number): void {
  const comment = h('input', { id: 'rollback-comment', type: 'text', maxlength: 500, autocomplete: 'off' });
  const confirmButton = h('button', { type: 'button', class: 'danger', onclick: () => void rollback() }, `Yes, roll back to version ${version}`);
  const result = h('p', { role: 'status' });
  const rollback = async () => {
    confirmButton.disabled = true;
    try {
      const why = comment.value.trim();
      const created = await postJson<{ version: number }>('/policy/rollback', { version, ...(why ? { comment: why } : {}) }, { 'If-Match': `"${shownActive}"` });
      announce(`Rolled back: version ${created.version} is active, with the rules of version ${version}.`);
      location.hash = '#/policy?rolledBack=' + created.version;
    } catch (err) {
      result.textContent = errorText(err);
      result.className = 'error';
      if (err instanceof ApiError && (err.status === 403 || err.status === 412)) confirmButton.remove();
      else confirmButton.disabled = false;
    }
  };
  replace(
    detail,
    h(
      'div',
      { class: 'card confirm', role: 'group', 'aria-labelledby': 'confirm-title' },
      h('h3', { id: 'confirm-title' }, `Roll back to version ${version}?`),
      h('p', {}, `The rules of version ${version} become a new active version at once, for every pull.`),
      field('Why (kept with the new version and in the audit log; optional)', comment),
      h('div', { class: 'actions' }, confirmButton, h('button', { type: 'button', class: 'secondary', onclick: () => replace(detail) }, 'Cancel')),
      result,
    ),
  );
  confirmButton.focus();
}

function evaluateForm(): HTMLElement {
  const image = h('input', { id: 'evaluate-image', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const out = h('div', { id: 'evaluate-result', 'aria-live': 'polite' });
  return h(
    'section',
    { 'aria-labelledby': 'evaluate-title' },
    h('h2', { id: 'evaluate-title' }, 'Evaluate an image'),
    h(
      'form',
      {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          replace(out, h('p', { class: 'muted' }, 'Evaluating…'));
          try {
            const r = await postJson<{ image: string; digest: string; decision: string; rule: string | null; mode: string | null; reasons: string[]; policyVersion: number; evidence: unknown }>('/policy/evaluate', { image: image.value.trim() });
            replace(
              out,
              h('p', {}, decisionBadge(r.decision), ` ${r.image} would be ${r.decision === 'deny' ? 'denied' : r.decision === 'warn' ? 'served with a warning' : 'allowed'} by rule ${r.rule ?? '(none)'} (policy version ${r.policyVersion}).`),
              h('p', { class: 'mono' }, r.digest),
              r.reasons.length ? h('ul', { class: 'reasons' }, r.reasons.map((x) => h('li', {}, x))) : null,
              vulnerabilityEvidence((r.evidence as { vulnerabilities?: unknown } | null)?.vulnerabilities),
              r.evidence ? h('details', {}, h('summary', {}, 'Evidence (JSON)'), h('pre', { class: 'json' }, JSON.stringify(r.evidence, null, 2))) : null,
            );
          } catch (err) {
            replace(out, h('p', { class: 'error', role: 'alert' }, errorText(err)));
          }
        },
      },
      field('Image', image, 'e.g. docker.io/library/nginx:1.27 — the manifest is fetched, nothing is served'),
      h('button', { type: 'submit' }, 'Evaluate'),
    ),
    out,
  );
}

interface ReplayImage { repository: string; digest: string | null; references: string[]; pulls: number; before: string; after: string; rule: string | null; reasons: string[] }
interface ReplayGroup { pulls: number; images: ReplayImage[] }

function replayForm(current: Rule[]): HTMLElement {
  const rules = h('textarea', { id: 'replay-policies', rows: 12, spellcheck: 'false' });
  rules.value = JSON.stringify(current, null, 2);
  const since = h('input', { id: 'replay-since', type: 'text', value: '7d' });
  const until = h('input', { id: 'replay-until', type: 'text' });
  const out = h('div', { id: 'replay-result', 'aria-live': 'polite' });
  const group = (title: string, g: ReplayGroup): Child =>
    g.images.length === 0
      ? null
      : h(
          'table', {},
          h('caption', {}, `${title}: ${g.pulls} pulls`),
          h('thead', {}, h('tr', {}, ['Image', 'Pulls', 'Before', 'After', 'Rule', 'Reason'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, g.images.map((i) => h('tr', {}, h('td', { class: 'mono' }, `${i.repository}${i.references.length ? `:${i.references.join(', ')}` : ''}`), h('td', {}, String(i.pulls)), h('td', {}, decisionBadge(i.before)), h('td', {}, decisionBadge(i.after)), h('td', {}, i.rule ?? ''), h('td', {}, i.reasons[0] ?? '')))),
        );
  return h(
    'section',
    { 'aria-labelledby': 'replay-title' },
    h('h2', { id: 'replay-title' }, 'Replay a draft policy'),
    h('p', {}, 'What past pulls would have got under a draft, with the evidence recorded then. Nothing is changed.'),
    h(
      'form',
      {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          let policies: unknown;
          try {
            policies = JSON.parse(rules.value);
          } catch (err) {
            replace(out, h('p', { class: 'error', role: 'alert' }, `The draft is not valid JSON: ${(err as Error).message}`));
            return;
          }
          replace(out, h('p', { class: 'muted' }, 'Replaying…'));
          try {
            const r = await postJson<{ since: string; until: string; pulls: number; unchanged: number; allowToDeny: ReplayGroup; denyToAllow: ReplayGroup; unknown: ReplayGroup }>('/policy/replay', {
              policies, since: since.value.trim() || undefined, until: until.value.trim() || undefined,
            });
            replace(
              out,
              h('p', {}, `${r.pulls} pulls from ${formatTime(r.since)} to ${formatTime(r.until)}: ${r.unchanged} unchanged, ${r.allowToDeny.pulls} would now be denied, ${r.denyToAllow.pulls} would now be served, ${r.unknown.pulls} cannot be judged.`),
              group('Would now be denied', r.allowToDeny),
              group('Would now be served', r.denyToAllow),
              group('Cannot be judged (no recorded evidence)', r.unknown),
            );
          } catch (err) {
            replace(out, h('p', { class: 'error', role: 'alert' }, errorText(err)));
          }
        },
      },
      field('Draft rules (JSON array)', rules),
      h('div', { class: 'grid' }, field('Since', since, 'ISO time or a duration back from now, e.g. 7d'), field('Until', until, 'empty means now')),
      h('button', { type: 'submit' }, 'Replay'),
    ),
    out,
  );
}
