// The token form shown when the API answers 401. The token lives in sessionStorage (gone with the tab).
import { h } from './dom.js';

/** Show a modal asking for a bearer token; resolves with the token the user typed. */
export function askToken(message = null) {
  return new Promise((resolve) => {
    const input = h('input', {
      type: 'password', name: 'token', id: 'token-input', autocomplete: 'off', required: true,
      placeholder: 'mxo_…', spellcheck: false,
    });
    const form = h('form', { class: 'modal', id: 'token-form' },
      h('h2', {}, 'This server needs a token'),
      h('p', { class: 'muted' }, 'Create one with ', h('code', {}, 'mixopt token create'),
        '. It is kept for this browser tab only (sessionStorage) and sent as ', h('code', {}, 'Authorization: Bearer'), '.'),
      message ? h('p', { class: 'error-text' }, message) : null,
      h('label', { for: 'token-input' }, 'Token'),
      input,
      h('div', { class: 'modal-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
    const overlay = h('div', { class: 'overlay' }, form);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      overlay.remove();
      resolve(value);
    });
    document.body.append(overlay);
    input.focus();
  });
}
