import { h } from '../dom.js';
import { ssoProvider, token } from '../api.js';

/** The token form. The token is kept for this tab only; the API then says who it is. */
export function signInView(main: HTMLElement, message: string, done: () => Promise<void>): void {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const form = h(
    'form',
    {
      class: 'signin',
      'aria-labelledby': 'signin-title',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const value = input.value.trim();
        if (!value) return;
        token.set(value);
        input.value = '';
        void done();
      },
    },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    h('p', {}, 'Use an admin or auditor API token. It stays in this browser tab only and is sent to the API as a bearer token.'),
    message ? h('p', { class: 'notice', role: 'alert' }, message) : null,
    h('div', { class: 'field' }, h('label', { for: 'token' }, 'API token'), input),
    h('button', { type: 'submit' }, 'Sign in'),
  );
  main.append(form);
  input.focus();
  void offerSso(form);
}

/** While single sign-on is unavailable, the sign-in page asks again this often, so the button comes when the provider does. */
const RETRY_MS = 5_000;

/** "Sign in with <provider>" beside the token form when single sign-on is configured, or why it cannot be used now. */
async function offerSso(form: HTMLElement): Promise<void> {
  const slot = h('div', { class: 'sso-block' });
  for (;;) {
    const provider = await ssoProvider();
    if (!provider || !form.isConnected) return;
    const block = provider.available
      ? h('p', { class: 'sso' }, h('a', { class: 'button', href: provider.loginUrl }, `Sign in with ${provider.name}`))
      : h('p', { class: 'sso notice', role: 'status' }, `Sign-in with ${provider.name} is unavailable: ${provider.reason ?? 'the provider cannot be reached'}. Token sign-in still works.`);
    slot.replaceChildren(h('p', {}, 'Or use your organisation\'s account:'), block);
    if (!slot.isConnected) form.append(slot);
    if (provider.available) return;
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}
