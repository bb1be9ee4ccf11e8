// The runs list and the create form.
import {
  age, allowed, api, clearError, el, guarded, instanceStates, onEvent, showError, stateColours,
} from './api.js';

export function countsBar(counts, total) {
  const bar = el('div', { class: 'bar', title: 'instances by state' });
  for (const s of instanceStates) {
    const n = counts[s] || 0;
    if (!n || !total) continue;
    bar.append(el('div', { style: `width:${(100 * n) / total}%;background:${stateColours[s]}` }));
  }
  return bar;
}

export function countsText(counts) {
  return instanceStates
    .filter((s) => counts[s])
    .map((s) => `${counts[s]} ${s.replace('_', ' ')}`)
    .join(', ');
}

// Start, stop and delete, enabled by the run's state; `after` runs when one succeeded.
export function runActions(run, after) {
  const act = (action, method, path) =>
    el('button', {
      type: 'button',
      class: action === 'delete' ? 'danger' : action === 'start' ? 'primary' : '',
      'data-action': action,
      disabled: !allowed(run.state, action),
      onclick: (ev) =>
        guarded(async () => {
          ev.target.disabled = true;
          if (action === 'delete' && !confirm(`Delete run ${run.id} (${run.name}) and its ${run.count} instances?`))
            return;
          await api(method, path);
          clearError();
          if (after) after(action);
        }).finally(() => {
          ev.target.disabled = !allowed(run.state, action);
        }),
    }, action[0].toUpperCase() + action.slice(1));
  return el('div', { class: 'actions' },
    act('start', 'POST', `/runs/${run.id}/start`),
    act('stop', 'POST', `/runs/${run.id}/stop`),
    act('delete', 'DELETE', `/runs/${run.id}`));
}

// Runs to start as soon as they are ready (the form's "start when ready").
export const startWhenReady = new Set();

function createForm(refresh) {
  const num = (name, label, attrs = {}) =>
    el('label', {}, label, el('input', { name, type: 'number', ...attrs }));
  const form = el('form', { class: 'create', id: 'create-form' },
    el('label', { class: 'wide' }, 'Application under test (a Linux executable or a RIOT native ELF)',
      el('input', { name: 'aut', type: 'file', required: true })),
    el('label', {}, 'Name', el('input', { name: 'name', placeholder: 'run name', maxlength: 200 })),
    num('count', 'Devices (1 to 50,000)', { min: 1, max: 50000, value: 10, required: true }),
    el('label', {}, 'Profile', el('select', { name: 'profile' },
      el('option', { value: 'linux' }, 'linux'), el('option', { value: 'riot-native' }, 'riot-native'))),
    el('label', {}, 'Network', el('select', { name: 'net' },
      el('option', { value: '' }, 'profile default'), el('option', { value: 'veth' }, 'veth'),
      el('option', { value: 'tap' }, 'tap'), el('option', { value: 'none' }, 'none'))),
    el('label', {}, 'Isolation', el('select', { name: 'isolation' },
      el('option', { value: 'instance' }, 'each device alone'),
      el('option', { value: 'group' }, 'groups of devices (net none or veth, told apart by {port})'))),
    num('group_size', 'Devices per group (1 to 5,000)', { min: 1, max: 5000, value: 1000 }),
    el('label', { class: 'wide' }, 'Arguments ({index}, {run}, {ipv4}, {tap}, {start_ms}, {period_ms}, … are filled in per device)',
      el('input', { name: 'args', placeholder: 'e.g. {start_ms} {period_ms}' })),
    num('period_ms', 'Period in ms (for jitter; 0 = none)', { min: 0, value: 0 }),
    num('memory_mb', 'Memory limit MiB (0 = none)', { min: 0, value: 0 }),
    num('cpu_milli', 'CPU limit in millicores (0 = none)', { min: 0, value: 0 }),
    num('pids', 'Process limit (empty = default)', { min: 1 }),
    el('label', {}, 'If a worker is lost', el('select', { name: 'policy' },
      el('option', { value: 'dirty' }, 'mark the run dirty'),
      el('option', { value: 'reschedule' }, 'reschedule its devices'))),
    el('label', { class: 'wide' }, 'Radio to a base station (optional JSON, e.g. {"uplink": "bs-ns", "ues": 4})',
      el('textarea', { name: 'radio', rows: 2 })),
    el('label', {}, el('span', {}, el('input', { name: 'start', type: 'checkbox', checked: true }), ' start when ready')),
    el('div', { class: 'wide' }, el('button', { type: 'submit', class: 'primary' }, 'Create run')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    guarded(async () => {
      const f = new FormData(form);
      const file = f.get('aut');
      if (!file || !file.name) throw new Error('choose the application (AUT) to upload');
      const count = Number(f.get('count'));
      if (!Number.isInteger(count) || count < 1 || count > 50000)
        throw new Error('the number of devices must be a whole number from 1 to 50,000');
      const spec = { count, profile: f.get('profile'), policy: f.get('policy') };
      if (f.get('name')) spec.name = f.get('name');
      if (f.get('net')) spec.net = f.get('net');
      if (f.get('isolation') === 'group') {
        const size = Number(f.get('group_size'));
        if (!Number.isInteger(size) || size < 1 || size > 5000)
          throw new Error('the devices per group must be a whole number from 1 to 5,000');
        spec.isolation = 'group';
        spec.group_size = size;
      }
      if (f.get('args')) spec.args = f.get('args');
      if (Number(f.get('period_ms')) > 0) spec.period_ms = Number(f.get('period_ms'));
      const limits = {};
      for (const k of ['memory_mb', 'cpu_milli', 'pids'])
        if (f.get(k) !== '' && Number(f.get(k)) > 0) limits[k] = Number(f.get(k));
      if (Object.keys(limits).length) spec.limits = limits;
      if (f.get('radio').trim()) {
        try {
          spec.radio = JSON.parse(f.get('radio'));
        } catch (e) {
          throw new Error(`the radio settings are not valid JSON (${e.message})`);
        }
      }
      const body = new FormData();
      body.append('spec', JSON.stringify(spec));
      body.append('aut', file, file.name);
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      button.textContent = 'Uploading…';
      try {
        const run = await api('POST', '/runs', body);
        clearError();
        if (f.get('start')) {
          startWhenReady.add(run.id);
          // A small run may be ready before this answer arrived, its event already gone by.
          const now = await api('GET', `/runs/${run.id}`);
          if (now.state === 'ready' && startWhenReady.delete(run.id))
            await api('POST', `/runs/${run.id}/start`);
        }
        location.hash = `#/runs/${run.id}`;
      } finally {
        button.disabled = false;
        button.textContent = 'Create run';
        refresh();
      }
    });
  });
  return form;
}

export function runsPage(root) {
  const rows = new Map();
  // Runs seen deleted: a list fetched before the deletion and answered after its event must not
  // bring them back (a run id is never used again).
  const gone = new Set();
  const tbody = el('tbody');
  const table = el('table', { id: 'runs' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Run'), el('th', {}, 'State'), el('th', { class: 'num' }, 'Devices'),
      el('th', {}, 'Instances'), el('th', {}, 'Age'), el('th', {}, ''))),
    tbody);
  const empty = el('div', { class: 'empty' }, 'No runs yet. Upload an application below to create one.');
  const render = (run) => {
    const tr = el('tr', { 'data-run': run.id },
      el('td', {}, el('a', { href: `#/runs/${run.id}` }, `${run.id} · ${run.name}`)),
      el('td', {}, el('span', { class: `state ${run.state}` }, run.state),
        run.reason ? el('div', { class: 'muted' }, run.reason) : null),
      el('td', { class: 'num' }, run.count.toLocaleString()),
      el('td', {}, countsBar(run.counts, run.count), el('div', { class: 'muted' }, countsText(run.counts))),
      el('td', { title: run.created }, age(run.created)),
      el('td', {}, runActions(run, refresh)));
    const old = rows.get(run.id);
    if (run.state === 'deleted' || gone.has(run.id)) {
      gone.add(run.id);
      if (old) old.remove();
      rows.delete(run.id);
    } else if (old) {
      old.replaceWith(tr);
      rows.set(run.id, tr);
    } else {
      tbody.prepend(tr);
      rows.set(run.id, tr);
    }
    empty.hidden = rows.size > 0;
  };
  async function refresh() {
    const page = await guarded(() => api('GET', '/runs?limit=1000'));
    if (!page) return;
    tbody.replaceChildren();
    rows.clear();
    for (const r of page.items.sort((a, b) => a.id - b.id)) render(r);
    empty.hidden = rows.size > 0;
  }
  root.append(
    el('h1', {}, 'Test runs'),
    el('div', { class: 'card' }, table, empty),
    el('div', { class: 'card' }, el('h2', {}, 'New run'), createForm(refresh)));
  refresh();
  const off = onEvent((kind, data) => {
    if (kind === 'run') render(data);
    else if (kind === 'reconnect' || kind === 'overflow') refresh();
  });
  const tick = setInterval(() => {
    for (const tr of rows.values()) {
      const td = tr.children[4];
      td.textContent = age(td.title);
    }
  }, 5000);
  return () => {
    off();
    clearInterval(tick);
  };
}

// Starts runs the create form asked to start once they are ready (from any page).
onEvent((kind, data) => {
  if (kind !== 'run' || !startWhenReady.has(data.id)) return;
  if (data.state === 'ready') {
    startWhenReady.delete(data.id);
    guarded(() => api('POST', `/runs/${data.id}/start`));
  } else if (data.state !== 'pending') {
    startWhenReady.delete(data.id);
  }
});

export { showError };
