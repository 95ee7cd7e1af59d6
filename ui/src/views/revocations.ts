import { deleteJson, getJson } from '../api.js';
import { formatTime, h, replace } from '../dom.js';
import { announce } from '../status.js';
import { confirmCard, describeSigner, type RevocationItem } from '../trust.js';
import { revokeForm } from './revoke-form.js';
import type { View } from './view.js';

/**
 * Revoked signers: every revocation, lifted ones included; admins revoke (after a preview of what the signer
 * vouched for) and lift. An auditor sees no write control; the API is what refuses, and its words are shown.
 */
export const revocationsView: View = async ({ main, me, signal }) => {
  const isAdmin = me.role === 'admin';
  const list = h('div', { id: 'revocation-list' });
  const detail = h('div', { id: 'revocation-detail' });
  const flash = h('div', { id: 'revocation-result', 'aria-live': 'polite' });
  const refresh = async () => {
    const { revocations } = await getJson<{ revocations: RevocationItem[] }>('/trust/revocations', { signal });
    replace(list, revocationTable(revocations, isAdmin, (r) => confirmLift(r)));
  };
  const confirmLift = (r: RevocationItem) => {
    replace(detail, confirmCard({
      title: `Lift revocation ${r.id}?`,
      body: h('p', {}, `Signatures and attestations by ${describeSigner(r.signer)} count again at once, for every pull.`),
      confirmLabel: `Yes, lift revocation ${r.id}`,
      onCancel: () => replace(detail),
      act: async () => {
        await deleteJson(`/trust/revocations/${r.id}`);
        replace(detail);
        replace(flash, h('p', { class: 'ok' }, `Revocation ${r.id} of ${describeSigner(r.signer)} is lifted.`));
        announce(`Revocation ${r.id} is lifted.`);
        await refresh();
      },
    }));
  };
  main.append(
    h('h1', {}, 'Revocations'),
    h('p', {}, 'A revoked signer\'s signatures and attestations no longer count, for every image, cached or not, from the moment the revocation is made. An image also signed by another trusted signer is still served.'),
    flash,
    h('section', { 'aria-labelledby': 'revocations-title' }, h('h2', { id: 'revocations-title' }, 'All revocations'), list, detail),
    isAdmin
      ? revokeForm(signal, async (report) => {
          replace(flash, report);
          await refresh();
        })
      : h('section', { 'aria-labelledby': 'revoke-title' }, h('h2', { id: 'revoke-title' }, 'Revoke a signer'), h('p', { class: 'muted' }, 'Revoking a signer and lifting a revocation need an admin token.')),
  );
  await refresh();
};

function revocationTable(revocations: RevocationItem[], isAdmin: boolean, lift: (r: RevocationItem) => void): HTMLElement {
  if (revocations.length === 0) return h('p', { class: 'muted' }, 'No signer has been revoked.');
  const columns = ['ID', 'Signer', 'State', 'Reason', 'Revoked by', ...(isAdmin ? ['Actions'] : [])];
  return h(
    'table',
    { id: 'revocations' },
    h('caption', { class: 'visually-hidden' }, 'Revocations, newest first'),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, revocations.map((r) => h(
      'tr', { 'data-id': String(r.id), 'data-state': r.active ? 'active' : 'lifted' },
      h('th', { scope: 'row' }, String(r.id)),
      h('td', { class: 'mono' }, describeSigner(r.signer)),
      h('td', {}, r.active ? h('span', { class: 'badge deny' }, 'in force') : [h('span', { class: 'badge mode' }, 'lifted'), h('div', { class: 'muted' }, `by ${r.liftedBy ?? '?'}, ${formatTime(r.liftedAt)}`)]),
      h('td', { class: 'reason' }, r.reason),
      h('td', {}, r.author, h('div', { class: 'muted' }, formatTime(r.time))),
      isAdmin ? h('td', { class: 'nowrap' }, r.active ? h('button', { type: 'button', class: 'secondary', onclick: () => lift(r) }, `Lift revocation ${r.id}`) : null) : null,
    ))),
  );
}
