import { ApiError, errorText } from './api.js';
import { h, replace, type Child } from './dom.js';

/** What GET /exceptions lists (the API's ExceptionView). */
export interface ExceptionItem {
  id: number;
  match: string;
  repository: string;
  digest: string | null;
  until: string;
  reason: string;
  author: string;
  time: string;
  coverDenyRule: boolean;
  revokedAt: string | null;
  revokedBy: string | null;
  state: 'active' | 'expired' | 'revoked';
}

export type RevokedSigner = { key: string } | { keyless: { issuer: string; subject: string } } | { logIndex: number } | { notation: { fingerprint: string } };

/** What GET /trust/revocations lists (the API's RevocationView). */
export interface RevocationItem {
  id: number;
  signer: RevokedSigner;
  reason: string;
  author: string;
  time: string;
  liftedAt: string | null;
  liftedBy: string | null;
  active: boolean;
}

export function describeSigner(s: RevokedSigner): string {
  if ('key' in s) return `key "${s.key}"`;
  if ('keyless' in s) return `${s.keyless.subject} (issuer ${s.keyless.issuer})`;
  if ('notation' in s) return `Notation certificate sha256 ${s.notation.fingerprint}`;
  return `transparency-log entry ${s.logIndex}`;
}

/** "in 3 h 59 min" / "2 d ago": how far a time is from now, to the minute. */
export function fromNow(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  if (Number.isNaN(ms)) return '';
  let minutes = Math.round(Math.abs(ms) / 60_000);
  const days = Math.floor(minutes / 1440);
  minutes -= days * 1440;
  const hours = Math.floor(minutes / 60);
  minutes -= hours * 60;
  const span = [days ? `${days} d` : '', hours ? `${hours} h` : '', !days && minutes ? `${minutes} min` : ''].filter(Boolean).join(' ') || 'less than a minute';
  return ms >= 0 ? `in ${span}` : `${span} ago`;
}

/**
 * A change asked for twice: the card names what happens, the danger button does it. A refusal (403, 404: the
 * item changed meanwhile) is shown in the API's words and the button goes, since asking again cannot help.
 */
export function confirmCard(opts: {
  title: string;
  body: Child;
  confirmLabel: string;
  act: () => Promise<void>;
  onCancel: () => void;
}): HTMLElement {
  const result = h('p', { role: 'status' });
  const button = h('button', { type: 'button', class: 'danger' }, opts.confirmLabel);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await opts.act();
    } catch (err) {
      replace(result, errorText(err));
      result.className = 'error';
      if (err instanceof ApiError && (err.status === 403 || err.status === 404)) button.remove();
      else button.disabled = false;
    }
  });
  const card = h(
    'div',
    { class: 'card confirm', role: 'group', 'aria-labelledby': 'confirm-title', tabindex: '-1' },
    h('h3', { id: 'confirm-title' }, opts.title),
    opts.body,
    h('div', { class: 'actions' }, button, h('button', { type: 'button', class: 'secondary', onclick: opts.onCancel }, 'Cancel')),
    result,
  );
  queueMicrotask(() => button.focus());
  return card;
}

/** The API's warnings (strings or `{path, message}`), as one notice. */
export function warningsNotice(warnings: unknown): HTMLElement | null {
  if (!Array.isArray(warnings) || warnings.length === 0) return null;
  const text = (w: unknown) => (typeof w === 'string' ? w : typeof w === 'object' && w !== null ? [(w as { path?: string }).path, (w as { message?: string }).message].filter(Boolean).join(' ') : String(w));
  return h('div', { class: 'notice', role: 'alert' }, h('strong', {}, 'Warnings from the server:'), h('ul', {}, warnings.map((w) => h('li', {}, text(w)))));
}
