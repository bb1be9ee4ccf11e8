// The workers page: capacity, usage and health of each worker, refreshed every 2 s.
import { api, el, guarded } from './api.js';

export function workersPage(root) {
  const tbody = el('tbody');
  const empty = el('div', { class: 'empty' }, 'No worker has registered yet.');
  root.append(el('h1', {}, 'Workers'), el('div', { class: 'card' },
    el('table', { id: 'workers' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Worker'), el('th', {}, 'Health'), el('th', {}, 'Address'),
        el('th', { class: 'num' }, 'Instances'), el('th', { class: 'num' }, 'Capacity'), el('th', {}, 'Usage'),
        el('th', { class: 'num' }, 'Heartbeat'), el('th', {}, 'Labels'))),
      tbody),
    empty));
  async function refresh() {
    const ws = await guarded(() => api('GET', '/workers'));
    if (!ws) return;
    empty.hidden = ws.length > 0;
    tbody.replaceChildren(...ws.map((w) => {
      const used = w.capacity ? Math.min(100, (100 * w.load) / w.capacity) : 0;
      return el('tr', { 'data-worker': w.name },
        el('td', {}, w.name),
        el('td', {}, el('span', { class: `state ${w.online ? 'running' : 'failed'}` }, w.health),
          w.online ? null : el('div', { class: 'muted' }, `last seen ${w.last_seen || 'never'}`),
          w.zep_unplaceable_datagrams
            ? el('div', { class: 'muted' }, `${w.zep_unplaceable_datagrams.toLocaleString()} ZEP datagrams from no run's device`)
            : null),
        el('td', { class: 'mono' }, w.address),
        el('td', { class: 'num' }, w.load.toLocaleString()),
        el('td', { class: 'num' }, w.capacity.toLocaleString()),
        el('td', {}, el('div', { class: 'bar usage', title: `${used.toFixed(0)}% used` },
          el('div', { style: `width:${used}%;background:${used > 90 ? '#e53935' : '#43a047'}` })),
        `${used.toFixed(0)}% · ${w.free.toLocaleString()} free`),
        el('td', { class: 'num' }, w.heartbeat_age_ms === null ? '—' : `${w.heartbeat_age_ms} ms ago`),
        el('td', { class: 'mono' }, Object.entries(w.labels || {}).map(([k, v]) => `${k}=${v}`).join(' ')));
    }));
  }
  refresh();
  const t = setInterval(refresh, 2000);
  return () => clearInterval(t);
}
