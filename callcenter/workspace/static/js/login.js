import { t, initLanguage } from './i18n.js';
import { api, ApiError, explain } from './api.js';

/** Where to go after login: a same-origin path from ?next=, else "/". */
export function safeNext(raw) {
  if (typeof raw !== 'string' || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return '/';
  try {
    const url = new URL(raw, location.origin);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : '/';
  } catch {
    return '/';
  }
}

initLanguage();
const form = document.getElementById('login-form');
const error = document.getElementById('login-error');
const submit = form.querySelector('[data-testid="login-submit"]');

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = document.getElementById('login-name').value.trim();
  const password = document.getElementById('login-password').value;
  if (!name || !password) {
    error.textContent = t('login.missing');
    return;
  }
  error.textContent = '';
  submit.disabled = true;
  try {
    await api('POST', '/api/login', { name, password }, { quiet: true, noLogin: true });
    location.assign(safeNext(new URLSearchParams(location.search).get('next')));
  } catch (err) {
    if (err instanceof ApiError && err.status === 429) {
      const after = parseInt(err.response.headers.get('Retry-After') || '', 10);
      error.textContent = t('login.tooMany', { seconds: Number.isFinite(after) ? after : '?' });
    } else if (err instanceof ApiError && err.status === 401) {
      error.textContent = t('login.bad');
    } else {
      error.textContent = explain(err);
    }
    document.getElementById('login-password').select();
  } finally {
    submit.disabled = false;
  }
});
