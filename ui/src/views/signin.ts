import { h } from '../dom.js';
import { token } from '../api.js';

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
}
