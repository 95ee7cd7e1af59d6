import { deleteJson, errorText, getJson, postJson } from '../api.js';
import { field, formatTime, h, replace } from '../dom.js';
import { announce } from '../status.js';
import { confirmCard, fromNow, warningsNotice, type ExceptionItem } from '../trust.js';
import type { View } from './view.js';

const STATE_BADGE: Record<ExceptionItem['state'], string> = { active: 'warn', expired: 'mode', revoked: 'deny' };

/**
 * Exceptions: every one with its state and expiry; admins create and revoke them. The API decides who may;
 * an auditor sees no write control, and a refusal that happens anyway is shown in the API's words.
 */
export const exceptionsView: View = async ({ main, me, signal }) => {
  const isAdmin = me.role === 'admin';
  const list = h('div', { id: 'exception-list' });
  const detail = h('div', { id: 'exception-detail' });
  const flash = h('div', { id: 'exception-result', 'aria-live': 'polite' });
  const refresh = async () => {
    const { exceptions } = await getJson<{ exceptions: ExceptionItem[] }>('/exceptions', { signal });
    replace(list, exceptionTable(exceptions, isAdmin, (e) => confirmRevoke(e)));
  };
  const confirmRevoke = (e: ExceptionItem) => {
    replace(detail, confirmCard({
      title: `Revoke exception ${e.id}?`,
      body: h('p', {}, `Pulls of ${e.match} are judged by the policy alone again at once, before ${formatTime(e.until)}.`),
      confirmLabel: `Yes, revoke exception ${e.id}`,
      onCancel: () => replace(detail),
      act: async () => {
        await deleteJson(`/exceptions/${e.id}`);
        replace(detail);
        replace(flash, h('p', { class: 'ok' }, `Exception ${e.id} for ${e.match} is revoked.`));
        announce(`Exception ${e.id} is revoked.`);
        await refresh();
      },
    }));
  };
  main.append(
    h('h1', {}, 'Exceptions'),
    h('p', {}, 'An exception serves the pulls of one repository (or one digest in it) that the policy would deny, until it expires or is revoked. Every such pull is audited as allowed, with the failed checks kept in its reasons.'),
    flash,
    h('section', { 'aria-labelledby': 'exceptions-title' }, h('h2', { id: 'exceptions-title' }, 'All exceptions'), list, detail),
    isAdmin
      ? createForm(async (message) => {
          replace(flash, message);
          await refresh();
        })
      : h('section', { 'aria-labelledby': 'create-title' }, h('h2', { id: 'create-title' }, 'Create an exception'), h('p', { class: 'muted' }, 'Creating and revoking exceptions needs an admin token.')),
  );
  await refresh();
};

function exceptionTable(exceptions: ExceptionItem[], isAdmin: boolean, revoke: (e: ExceptionItem) => void): HTMLElement {
  if (exceptions.length === 0) return h('p', { class: 'muted' }, 'No exception has been made.');
  const columns = ['ID', 'Image', 'State', 'Expires', 'Reason', 'Made by', ...(isAdmin ? ['Actions'] : [])];
  return h(
    'table',
    { id: 'exceptions' },
    h('caption', { class: 'visually-hidden' }, 'Exceptions, newest first'),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, exceptions.map((e) => h(
      'tr', { 'data-id': String(e.id), 'data-state': e.state },
      h('th', { scope: 'row' }, String(e.id)),
      h('td', { class: 'mono' }, e.match, e.coverDenyRule ? h('div', { class: 'muted' }, 'also covers deny rules') : null),
      h('td', {}, h('span', { class: `badge ${STATE_BADGE[e.state]}` }, e.state), e.revokedAt ? h('div', { class: 'muted' }, `by ${e.revokedBy ?? '?'}, ${formatTime(e.revokedAt)}`) : null),
      h('td', {}, h('time', { datetime: e.until }, formatTime(e.until)), e.state === 'revoked' ? null : h('div', { class: 'muted' }, e.state === 'active' ? fromNow(e.until) : `ended ${fromNow(e.until)}`)),
      h('td', { class: 'reason' }, e.reason),
      h('td', {}, e.author, h('div', { class: 'muted' }, formatTime(e.time))),
      isAdmin ? h('td', { class: 'nowrap' }, e.state === 'active' ? h('button', { type: 'button', class: 'danger', onclick: () => revoke(e) }, `Revoke exception ${e.id}`) : null) : null,
    ))),
  );
}

/** POST /exceptions with the documented fields only; the API checks them and its words are shown. */
function createForm(done: (message: HTMLElement) => Promise<void>): HTMLElement {
  const match = h('input', { id: 'exception-match', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const until = h('input', { id: 'exception-until', type: 'text', required: true, value: '4h', autocomplete: 'off' });
  const reason = h('input', { id: 'exception-reason', type: 'text', required: true, maxlength: 1024, autocomplete: 'off' });
  const cover = h('input', { id: 'exception-cover', type: 'checkbox' });
  const out = h('div', { id: 'exception-create-result', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Create exception');
  return h(
    'section',
    { 'aria-labelledby': 'create-title' },
    h('h2', { id: 'create-title' }, 'Create an exception'),
    h(
      'form',
      {
        class: 'card',
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          submit.disabled = true;
          replace(out);
          try {
            const body = { match: match.value.trim(), until: until.value.trim(), reason: reason.value.trim(), ...(cover.checked ? { coverDenyRule: true } : {}) };
            const created = await postJson<ExceptionItem & { warnings?: unknown }>('/exceptions', body);
            announce(`Exception ${created.id} is active until ${formatTime(created.until)}.`);
            match.value = '';
            reason.value = '';
            cover.checked = false;
            await done(h('div', {}, h('p', { class: 'ok' }, `Exception ${created.id} for ${created.match ?? body.match} is active until ${formatTime(created.until)}.`), warningsNotice(created.warnings)));
          } catch (err) {
            replace(out, h('p', { class: 'error', role: 'alert' }, errorText(err)));
          } finally {
            submit.disabled = false;
          }
        },
      },
      field('Image', match, 'an upstream and one repository, e.g. docker.io/acme/app, or one digest in it: docker.io/acme/app@sha256:…'),
      h('div', { class: 'grid' }, field('Until', until, 'a duration from now (30m, 4h, 2d) or an ISO time; at most 30 days'), field('Reason', reason, 'kept with the exception and in the audit log, e.g. INC-1234 hotfix')),
      h('div', { class: 'field inline' }, cover, h('label', { for: 'exception-cover' }, 'Also cover a deny rule, or a name no rule matches')),
      h('div', { class: 'actions' }, submit),
      out,
    ),
  );
}
