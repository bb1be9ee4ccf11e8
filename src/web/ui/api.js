// Talking to the master: every API error becomes a sentence a person can act on.

export class ApiError extends Error {}
// The session ended (or never began): the page shows the login form.
export class LoginNeeded extends ApiError {}

// Who is logged in, with the session's CSRF token, which every call that changes something
// carries (the session cookie itself is HttpOnly: scripts never see it).
export const session = { token: null, user: null, role: null, csrf: null };
let onLoginNeeded = () => {};
export function whenLoginNeeded(fn) {
  onLoginNeeded = fn;
}

const prefix = {
  400: 'The master refused the request',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Not possible now',
  413: 'Too large',
  500: 'The master failed',
  502: 'A worker could not be reached',
};

function sentence(status, body, text) {
  const msg = body && typeof body.message === 'string' ? body.message : (text || '').slice(0, 300);
  const head = prefix[status] || `The master answered ${status}`;
  return msg ? `${head}: ${msg}` : `${head}.`;
}

// method, path under /api/v1, and a JSON value or a FormData body.
export async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (method !== 'GET' && session.csrf) opts.headers['X-CSRF-Token'] = session.csrf;
  if (body instanceof FormData) {
    opts.body = body;
  } else if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch('/api/v1' + path, opts);
  } catch (e) {
    throw new ApiError(`Cannot reach the Kuiga master (${e.message}). Is it running?`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.status === 401) {
    onLoginNeeded();
    throw new LoginNeeded(sentence(res.status, data, text));
  }
  if (!res.ok) throw new ApiError(sentence(res.status, data, text));
  return data === null ? text : data;
}

// Logs in with a token: the master answers with a session cookie and the CSRF token.
export async function logIn(token) {
  let res;
  try {
    res = await fetch('/api/v1/session', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
    });
  } catch (e) {
    throw new ApiError(`Cannot reach the Kuiga master (${e.message}). Is it running?`);
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const msg = data && data.message ? data.message : `the master answered ${res.status}`;
    throw new ApiError(`Not logged in: ${msg}`);
  }
  Object.assign(session, data);
  return data;
}

// Who the session is, or null when there is none.
export async function currentSession() {
  try {
    Object.assign(session, await api('GET', '/session'));
    return session;
  } catch (e) {
    if (e instanceof LoginNeeded) return null;
    throw e;
  }
}

export async function logOut() {
  await api('DELETE', '/session');
  Object.assign(session, { token: null, user: null, role: null, csrf: null });
}

// Shows an error in the banner at the top until dismissed.
export function showError(e) {
  const box = document.getElementById('error');
  document.getElementById('error-text').textContent =
    e instanceof ApiError ? e.message : `Something went wrong: ${e && e.message ? e.message : e}`;
  box.hidden = false;
}

export function clearError() {
  document.getElementById('error').hidden = true;
}

// Runs `fn` and shows what it throws (a lapsed session shows the login form instead).
export async function guarded(fn) {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof LoginNeeded)) showError(e);
    return undefined;
  }
}

// One EventSource to /api/v1/events for the whole page; pages subscribe to its events.
const listeners = new Set();
export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

let events = null;
export function disconnectEvents() {
  if (events) events.close();
  events = null;
}

export function connectEvents() {
  disconnectEvents();
  const live = document.getElementById('live');
  const es = new EventSource('/api/v1/events');
  events = es;
  const dispatch = (kind) => (ev) => {
    let data = {};
    try {
      data = JSON.parse(ev.data);
    } catch {
      return;
    }
    for (const fn of listeners) fn(kind, data);
  };
  es.addEventListener('run', dispatch('run'));
  es.addEventListener('instances', dispatch('instances'));
  es.addEventListener('test', dispatch('test'));
  es.addEventListener('overflow', dispatch('overflow'));
  es.onopen = () => {
    live.textContent = 'live';
    live.className = 'live on';
    for (const fn of listeners) fn('reconnect', {});
  };
  es.onerror = () => {
    live.textContent = 'reconnecting…';
    live.className = 'live off';
  };
}

// Small helpers shared by the pages.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function age(iso) {
  if (!iso) return '';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

// What a user may do to a run in each state (the master's own rules, src/master/run_spec.cpp).
export function allowed(state, action) {
  if (action === 'start') return state === 'ready';
  if (action === 'stop') return state === 'running';
  if (action === 'delete') return state !== 'pending' && state !== 'deleted';
  return false;
}

export const instanceStates = [
  'pending', 'prolog', 'booting', 'running', 'shutting_down', 'terminated', 'failed', 'lost',
  'deleted',
];

export const stateColours = {
  pending: '#b0bec5',
  prolog: '#9575cd',
  booting: '#42a5f5',
  running: '#43a047',
  shutting_down: '#ffb300',
  terminated: '#546e7a',
  failed: '#e53935',
  lost: '#8d6e63',
  deleted: '#eeeeee',
};
