// The login page: a token in, a session cookie out. Shown whenever the master answers 401.
import { el, logIn, showError, clearError } from './api.js';

export function loginPage(root, done) {
  const input = el('input', {
    id: 'token', type: 'password', name: 'token', autocomplete: 'current-password',
    placeholder: 'kgt_…', required: true, size: 48,
  });
  const button = el('button', { class: 'primary', type: 'submit', id: 'login' }, 'Log in');
  const form = el('form', {
    class: 'login',
    onsubmit: async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      try {
        await logIn(input.value.trim());
        clearError();
        done();
      } catch (e) {
        showError(e);
      } finally {
        button.disabled = false;
      }
    },
  },
  el('label', {}, 'API token', input),
  button);
  root.append(el('div', { class: 'card login-card' },
    el('h1', {}, 'Log in to Kuiga Box'),
    el('p', { class: 'muted' },
      'Give an API token: the one a new master wrote to DATA/kuiga.conf, or one made with ',
      el('code', {}, 'kuiga token create'), '. It stays in this tab\'s session cookie only.'),
    form));
  input.focus();
  return () => {};
}
