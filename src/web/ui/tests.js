// The tests page: scenarios the master runs (POST /api/v1/tests), their verdicts as they come
// (the "test" events), the last progress line of those that run, and their reports and files.
import { age, api, clearError, el, guarded, onEvent } from './api.js';

function fileLink(id, name, label) {
  return el('a', { href: `/api/v1/tests/${id}/files/${name}`, target: '_blank', rel: 'noopener' }, label || name);
}

function verdictCell(t) {
  const s = t.summary && Array.isArray(t.summary.points) ? t.summary.points : [];
  const assertions = s.reduce((n, p) => n + (p.assertions || 0), 0);
  const passed = s.reduce((n, p) => n + (p.passed || 0), 0);
  return el('td', {}, el('span', { class: `state ${t.state}` }, t.state),
    assertions ? el('span', { class: 'muted' }, ` ${passed} of ${assertions} assertions held`) : null,
    s.length > 1 ? el('span', { class: 'muted' }, ` · ${s.length} points`) : null);
}

function submitForm(refresh) {
  const form = el('form', { class: 'create', id: 'test-form' },
    el('label', { class: 'wide' }, 'Scenario (YAML: docs/usage.md, Tests as files)',
      el('input', { name: 'scenario', type: 'file', accept: '.yaml,.yml', required: true })),
    el('label', { class: 'wide' }, 'Application under test, when the scenario names it by app:',
      el('input', { name: 'aut', type: 'file' })),
    el('label', { class: 'wide' }, 'Overrides, one KEY=VALUE a line (as kuiga test --set)',
      el('textarea', { name: 'set', rows: 2, placeholder: 'run.count=100' })),
    el('div', { class: 'wide' }, el('button', { type: 'submit', class: 'primary' }, 'Run test')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    guarded(async () => {
      const f = new FormData(form);
      const scenario = f.get('scenario');
      if (!scenario || !scenario.name) throw new Error('choose the scenario file');
      const body = new FormData();
      body.append('scenario', await scenario.text());
      body.append('file_name', scenario.name);
      const sets = String(f.get('set') || '').split('\n').map((s) => s.trim()).filter(Boolean);
      if (sets.length) body.append('set', JSON.stringify(sets));
      const aut = f.get('aut');
      if (aut && aut.name) body.append('aut', aut, aut.name);
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      button.textContent = 'Uploading…';
      try {
        await api('POST', '/tests', body);
        clearError();
        form.reset();
      } finally {
        button.disabled = false;
        button.textContent = 'Run test';
        refresh();
      }
    });
  });
  return form;
}

export function testsPage(root) {
  const progress = new Map();  // test id -> its last progress line
  const tbody = el('tbody');
  const empty = el('div', { class: 'empty' }, 'No tests yet. Submit a scenario below to run one.');
  const row = (t) => {
    const running = t.state === 'running' || t.state === 'queued';
    return el('tr', { 'data-test': t.id },
      el('td', {}, `${t.id} `, el('strong', {}, t.name), el('div', { class: 'muted' }, t.owner)),
      verdictCell(t),
      el('td', { class: 'mono' }, running ? (progress.get(t.id) || '') : (t.error || '')),
      el('td', {}, age(t.created)),
      el('td', { class: 'actions' },
        running ? null : fileLink(t.id, 'report.html', 'Report'),
        running ? null : fileLink(t.id, 'junit.xml', 'JUnit'),
        running ? null : fileLink(t.id, 'results.json', 'results.json'),
        running
          ? el('button', {
            type: 'button', 'data-action': 'cancel',
            onclick: () => guarded(async () => { await api('POST', `/tests/${t.id}/cancel`); refresh(); }),
          }, 'Cancel')
          : el('button', {
            type: 'button', class: 'danger', 'data-action': 'delete',
            onclick: () => guarded(async () => {
              if (!confirm(`Forget test ${t.id} (${t.name}) and its files?`)) return;
              await api('DELETE', `/tests/${t.id}`);
              refresh();
            }),
          }, 'Delete')));
  };
  async function refresh() {
    const r = await guarded(() => api('GET', '/tests'));
    if (!r) return;
    empty.hidden = r.items.length > 0;
    tbody.replaceChildren(...r.items.map(row));
  }
  root.append(el('h1', {}, 'Tests'),
    el('div', { class: 'card' },
      el('table', { id: 'tests' },
        el('thead', {}, el('tr', {}, el('th', {}, 'Test'), el('th', {}, 'Verdict'), el('th', {}, 'Progress or error'),
          el('th', {}, 'Age'), el('th', {}, ''))),
        tbody),
      empty),
    el('div', { class: 'card' }, el('h2', {}, 'Run a scenario'), submitForm(refresh)));
  refresh();
  const off = onEvent((kind, data) => {
    if (kind === 'reconnect' || kind === 'overflow') return refresh();
    if (kind !== 'test') return undefined;
    if (data.line) progress.set(data.test, data.line);
    const cell = tbody.querySelector(`tr[data-test="${data.test}"] td.mono`);
    // A progress line updates its row; a change of state reloads the list.
    if (data.line && cell && !data.error) cell.textContent = data.line;
    else if (!data.line && !data.phase) refresh();
    return undefined;
  });
  return off;
}
