import { errorText, getJson, postJson } from '../api.js';
import { field, h, replace } from '../dom.js';
import type { AuditEvent } from '../events.js';
import { impactReport, previewTable, servedOn, type RevocationImpact } from '../impact.js';
import { announce } from '../status.js';
import { confirmCard, describeSigner, type RevocationItem, type RevokedSigner } from '../trust.js';

const PREVIEW_LIMIT = 1000;

/**
 * Revoking is asked for twice. First the preview: the images served on this signer's signatures, from the
 * audit log (read-only). Then the revocation itself, whose answer judges each of them again: the report.
 */
export function revokeForm(signal: AbortSignal, done: (report: HTMLElement) => Promise<void>): HTMLElement {
  const kind = h('select', { id: 'revoke-kind' }, h('option', { value: 'keyless' }, 'Keyless identity (issuer and subject)'), h('option', { value: 'key' }, 'Key (a name in trust.keys)'), h('option', { value: 'logIndex' }, 'One transparency-log entry'), h('option', { value: 'notation' }, 'Notation certificate (SHA-256 fingerprint)'));
  const issuer = h('input', { id: 'revoke-issuer', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const subject = h('input', { id: 'revoke-subject', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const key = h('input', { id: 'revoke-key', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const logIndex = h('input', { id: 'revoke-log-index', type: 'number', min: 0, step: 1 });
  const fingerprint = h('input', { id: 'revoke-fingerprint', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const reason = h('input', { id: 'revoke-reason', type: 'text', required: true, maxlength: 1024, autocomplete: 'off' });
  const keylessFields = h('div', {}, field('Issuer', issuer, 'exact, e.g. https://token.actions.githubusercontent.com'), field('Subject', subject, 'exact, e.g. the workflow URI of the certificate'));
  const keyField = field('Key name', key, 'as in trust.keys');
  const logField = field('Log index', logIndex);
  const notationField = field('Certificate fingerprint', fingerprint, 'SHA-256 of the signing certificate, as openssl x509 -fingerprint -sha256 prints it (colons and case do not matter)');
  const preview = h('div', { id: 'revoke-preview', 'aria-live': 'polite' });
  const showFields = () => {
    keylessFields.hidden = kind.value !== 'keyless';
    keyField.hidden = kind.value !== 'key';
    logField.hidden = kind.value !== 'logIndex';
    notationField.hidden = kind.value !== 'notation';
  };
  kind.addEventListener('change', () => {
    showFields();
    replace(preview);
  });
  showFields();

  const signer = (): RevokedSigner => {
    if (kind.value === 'key') return { key: key.value.trim() };
    if (kind.value === 'logIndex') return { logIndex: Number(logIndex.value) };
    if (kind.value === 'notation') return { notation: { fingerprint: fingerprintHex(fingerprint.value) } };
    return { keyless: { issuer: issuer.value.trim(), subject: subject.value.trim() } };
  };

  const showPreview = async () => {
    const s = signer();
    const why = reason.value.trim();
    if ('notation' in s && !/^[0-9a-f]{64}$/.test(s.notation.fingerprint)) {
      replace(preview, h('p', { class: 'error', role: 'alert' }, 'The certificate fingerprint must be its SHA-256: 64 hex digits, with or without colons.'));
      return;
    }
    replace(preview, h('p', { class: 'muted' }, 'Looking up what this signer vouched for…'));
    let previewBody: HTMLElement;
    try {
      previewBody = await previewOf(s, signal);
    } catch (err) {
      replace(preview, h('p', { class: 'error', role: 'alert' }, errorText(err)));
      return;
    }
    replace(preview, confirmCard({
      title: `Revoke ${describeSigner(s)}?`,
      body: h('div', {}, previewBody, h('p', {}, 'From the moment it is made, no signature or attestation by this signer counts, for every image. Each image above is judged again; the report follows.')),
      confirmLabel: 'Yes, revoke this signer',
      onCancel: () => replace(preview),
      act: async () => {
        const created = await postJson<RevocationItem & { impact: RevocationImpact }>('/trust/revocations', { ...s, reason: why });
        announce(`Revocation ${created.id} of ${describeSigner(created.signer)} is in force.`);
        replace(preview);
        reason.value = '';
        await done(impactReport(created));
      },
    }));
  };

  return h(
    'section',
    { 'aria-labelledby': 'revoke-title' },
    h('h2', { id: 'revoke-title' }, 'Revoke a signer'),
    h(
      'form',
      {
        class: 'card',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          void showPreview();
        },
      },
      field('Signer', kind),
      keylessFields,
      keyField,
      logField,
      notationField,
      field('Reason', reason, 'kept with the revocation, in the audit log and in the reason of every pull it denies, e.g. key leaked'),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Preview impact')),
    ),
    preview,
  );
}

/** The served pulls whose evidence names the signer (the audit log's signer filter), grouped by image. */
async function previewOf(s: RevokedSigner, signal: AbortSignal): Promise<HTMLElement> {
  if ('logIndex' in s) return h('p', { class: 'muted' }, 'The audit log cannot be searched by log index; the report after revoking lists the images this entry vouched for.');
  const params = new URLSearchParams({ kind: 'pull.manifest', order: 'desc', limit: String(PREVIEW_LIMIT) });
  if ('key' in s) params.set('signer', s.key);
  else if ('notation' in s) params.set('signer', s.notation.fingerprint);
  else {
    params.set('signer', s.keyless.subject);
    params.set('issuer', s.keyless.issuer);
  }
  const res = await getJson<{ events: AuditEvent[] }>(`/audit/events?${params}`, { signal });
  const served = servedOn(res.events);
  const more = res.events.length >= PREVIEW_LIMIT;
  return h(
    'div',
    { id: 'preview-summary' },
    h('p', {}, served.length === 0
      ? 'No image was served on this signer\'s signatures or attestations: nothing served so far is denied by this revocation.'
      : `${served.length} image(s) were served on this signer's signatures or attestations${more ? ` (in the newest ${PREVIEW_LIMIT} pulls)` : ''}. Those no other trusted signer vouches for will be denied.`),
    served.length ? previewTable(served) : null,
  );
}

/** The fingerprint as the API and the audit log hold it: lower-case hex, from openssl's `SHA256 Fingerprint=AB:CD:…`. */
function fingerprintHex(text: string): string {
  return text.trim().replace(/^sha-?256\s*fingerprint\s*=\s*/i, '').replace(/[:\s]/g, '').toLowerCase();
}
