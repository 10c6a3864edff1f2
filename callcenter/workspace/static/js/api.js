// fetch wrapper: JSON both ways, the session cookie, X-CSRF-Token on writes, errors in the status line.
import { t } from './i18n.js';

let csrf = '';
let statusTimer = 0;
export const setCsrf = (token) => { csrf = token || ''; };

export class ApiError extends Error {
  constructor(status, body, response) {
    super((body && body.message) || `HTTP ${status}`);
    Object.assign(this, { status, body: body || {}, id: (body && body.error_id) || '', response });
  }
}

/** A line for the user: the error's id in their language when we know it, else the server's message. */
export function explain(err) {
  if (!(err instanceof ApiError)) return t('error.network');
  return t(`error.${err.id}`, null, '') || `${t('error.generic')} ${err.status}: ${err.message}`;
}

export function status(text, kind = 'info') {
  const el = document.querySelector('[data-testid="status"]');
  if (!el) return;
  el.textContent = text;
  el.dataset.kind = kind;
  clearTimeout(statusTimer);
  if (kind !== 'error') statusTimer = setTimeout(() => { el.textContent = ''; }, 8000);
}

export function toLogin() {
  location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
}

/**
 * api('PATCH', '/api/tickets/3', {...}) → the JSON answer. Throws ApiError (shown in the status
 * line unless opts.quiet). A 401 goes to the login page unless opts.noLogin.
 */
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(path, { method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    if (!opts.quiet) status(t('error.network'), 'error');
    throw e;
  }
  const data = (res.headers.get('Content-Type') || '').includes('json') ? await res.json().catch(() => null) : null;
  if (res.ok) return data;
  const err = new ApiError(res.status, data, res);
  if (res.status === 401 && !opts.noLogin) toLogin();
  else if (!opts.quiet) status(explain(err), 'error');
  throw err;
}

/** The session (name, role, agent, csrf_token); 401 goes to the login page. */
export async function session() {
  const s = await api('GET', '/api/session');
  setCsrf(s.csrf_token);
  return s;
}

export async function logout() {
  try { await api('POST', '/api/logout', {}, { quiet: true, noLogin: true }); } catch { /* gone anyway */ }
  location.assign('/login');
}
