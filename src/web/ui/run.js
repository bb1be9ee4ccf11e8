// A run's page: live counts, the instance grid, one instance's detail (history, log tail,
// console), downloads, the jitter box plot and the radio counters over time.
import {
  age, api, el, guarded, instanceStates, onEvent, stateColours,
} from './api.js';
import { countsBar, runActions } from './runs.js';
import { InstanceGrid } from './grid.js';
import { jitterBoxPlot, RadioChart, radioSeries, radioValue } from './charts.js';

const devName = (i) => `dev-${String(i).padStart(4, '0')}`;

export function runPage(root, id) {
  let run = null;
  let grid = null;
  let picked = -1;
  let logAbort = null;
  let jitterChart = null;
  let radioChart = null;
  const timers = [];

  const title = el('h1');
  const actions = el('div');
  const status = el('div', { class: 'muted' });
  const countsBox = el('div', { class: 'counts', id: 'counts' });
  const bar = el('div');
  const canvas = el('canvas', { id: 'grid' });
  const tip = el('div', { id: 'grid-tip', hidden: true });
  const panel = el('div', { class: 'card', id: 'instance', style: 'width:440px' },
    el('div', { class: 'muted' }, 'Click a cell to open that instance.'));
  const downloads = el('div', { class: 'downloads' },
    el('a', { href: `/api/v1/runs/${id}/logs?format=tar.gz`, download: `run-${id}-logs.tar.gz`, id: 'dl-logs' }, 'All logs (tar.gz)'),
    el('a', { href: `/api/v1/runs/${id}/logs`, target: '_blank' }, 'Merged log (text)'),
    el('a', { href: `/api/v1/runs/${id}/pcap`, download: `run-${id}.pcapng` }, 'Capture (pcapng)'),
    el('a', { href: `/api/v1/runs/${id}/radio/leases`, target: '_blank' }, 'UE lease log'));
  const jitterCanvas = el('canvas');
  const jitterNote = el('div', { class: 'muted' });
  const jitterButton = el('button', { type: 'button', onclick: () => loadJitter() }, 'Measure jitter');
  const radioCanvas = el('canvas');
  const radioTable = el('table', { class: 'mono' });
  const radioNote = el('div', { class: 'muted' });

  root.append(
    el('div', { class: 'row' }, el('div', { class: 'grow' }, title, status), actions),
    el('div', { class: 'card' }, countsBox, bar),
    el('div', { class: 'row' },
      el('div', { class: 'card grow' }, el('h2', {}, 'Instances'),
        el('div', { id: 'grid-wrap' }, canvas, tip)),
      panel),
    el('div', { class: 'card' }, el('h2', {}, 'Downloads'), downloads),
    el('div', { class: 'row' },
      el('div', { class: 'card grow' }, el('h2', {}, 'Deadline jitter'), jitterNote,
        el('div', { class: 'chart', id: 'jitter-chart' }, jitterCanvas), jitterButton),
      el('div', { class: 'card grow' }, el('h2', {}, 'Radio'), radioNote,
        el('div', { class: 'chart', id: 'radio-chart' }, radioCanvas), radioTable)));

  function showRun(v) {
    run = v;
    title.replaceChildren(`Run ${v.id} · ${v.name} `, el('span', { class: `state ${v.state}`, id: 'run-state' }, v.state));
    const isolation = v.spec && v.spec.isolation === 'group'
      ? ` in groups of ${v.spec.group_size.toLocaleString()}` : '';
    status.textContent = `${v.count.toLocaleString()} devices${isolation} · created ${age(v.created)} ago` +
      (v.reason ? ` · ${v.reason}` : '');
    actions.replaceChildren(runActions(v, (a) => {
      if (a === 'delete') location.hash = '#/';
    }));
    if (!grid) {
      grid = new InstanceGrid(canvas, tip, v.count, pick);
      loadInstances();
    }
    if (v.state === 'deleted') status.textContent += ' · deleted';
  }

  // Counts come from the grid's own states, so they move with every event, not only with
  // the run's transitions.
  let countsQueued = false;
  function showCounts() {
    if (countsQueued || !grid) return;
    countsQueued = true;
    requestAnimationFrame(() => {
      countsQueued = false;
      const counts = {};
      for (let i = 0; i < grid.count; ++i) {
        const s = instanceStates[grid.states[i]];
        counts[s] = (counts[s] || 0) + 1;
      }
      countsBox.replaceChildren(...instanceStates.filter((s) => counts[s]).map((s) =>
        el('span', { 'data-state': s }, el('span', { class: 'swatch', style: `background:${stateColours[s]}` }),
          `${s.replace('_', ' ')} `, el('b', {}, counts[s].toLocaleString()))));
      bar.replaceChildren(countsBar(counts, grid.count));
    });
  }

  async function loadInstances() {
    for (let offset = 0; offset < run.count; offset += 10000) {
      const page = await guarded(() => api('GET', `/runs/${id}/instances?offset=${offset}&limit=10000`));
      if (!page) return;
      grid.load(page.items);
    }
    showCounts();
    performance.mark('kuiga-grid-loaded');
  }

  // The instance's state, addresses and history; refreshed when its state changes.
  const detail = el('div', { id: 'instance-detail' });
  async function showDetail(i) {
    const inst = await guarded(() => api('GET', `/runs/${id}/instances/${i}`));
    if (!inst || picked !== i) return null;
    detail.replaceChildren(
      el('h2', {}, `${inst.name} `, el('span', { class: `state ${inst.state}` }, inst.state)),
      el('div', { class: 'mono' }, `${inst.hostname} · ${inst.ipv4} · ${inst.ipv6} · ${inst.mac}`),
      el('div', { class: 'muted' }, `worker ${inst.worker || '—'}`, inst.reason ? ` · ${inst.reason}` : ''),
      el('table', { class: 'history' }, el('tbody', {}, inst.history.map((h) =>
        el('tr', {}, el('td', { class: 'mono' }, h.time.replace('T', ' ').replace('Z', '')),
          el('td', {}, h.state), el('td', { class: 'muted' }, h.reason || ''))))));
    return inst;
  }

  async function pick(i) {
    picked = i;
    grid.select(i);
    if (logAbort) logAbort.abort();
    const inst = await showDetail(i);
    if (!inst) return;
    const log = el('pre', { class: 'log', id: 'instance-log' });
    const input = el('input', { placeholder: 'a line for its stdin', id: 'console-line', maxlength: 4096 });
    const toAll = el('input', { type: 'checkbox', id: 'console-all' });
    const send = el('form', { class: 'console' }, input,
      el('label', { class: 'muted', title: 'every running instance, 100 a second' }, toAll, ' all'),
      el('button', { type: 'submit' }, 'Send'));
    send.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const line = input.value;
      guarded(async () => {
        if (toAll.checked) await api('POST', `/runs/${id}/console`, { line });
        else await api('POST', `/runs/${id}/instances/${i}/console`, { line });
        input.value = '';
      });
    });
    panel.replaceChildren(
      detail,
      log,
      send,
      el('div', { class: 'downloads' },
        el('a', { href: `/api/v1/runs/${id}/instances/${i}/logs`, download: `${inst.hostname}.log` }, 'Log'),
        el('a', { href: `/api/v1/runs/${id}/pcap?instance=${i}`, download: `${inst.hostname}.pcapng` }, 'Capture')));
    followLog(i, log);
  }

  // The log tail: the instance's log followed as it grows, the last 256 KiB kept on screen.
  async function followLog(i, pre) {
    const ctl = new AbortController();
    logAbort = ctl;
    try {
      const res = await fetch(`/api/v1/runs/${id}/instances/${i}/logs?follow=1`, { signal: ctl.signal });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        pre.textContent = `(no log: ${body.message || res.status})`;
        return;
      }
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        let text = pre.textContent + dec.decode(value, { stream: true });
        if (text.length > 262144) text = text.slice(text.length - 262144);
        pre.textContent = text;
        if (stick) pre.scrollTop = pre.scrollHeight;
      }
    } catch (e) {
      if (e.name !== 'AbortError') pre.textContent += `\n(log stream ended: ${e.message})`;
    }
  }

  async function loadJitter() {
    jitterButton.disabled = true;
    jitterNote.textContent = 'measuring…';
    try {
      const j = await api('GET', `/runs/${id}/jitter`);
      if (!j.run.samples) {
        jitterNote.textContent = 'No wakeups logged yet.';
        return;
      }
      const worst = [...j.instances].filter((s) => s.samples)
        .sort((a, b) => b.p99 - a.p99).slice(0, 10);
      const boxes = [{ label: `all ${j.instances.length} devices`, ...j.run },
        ...worst.map((s) => ({ label: devName(s.index), ...s }))];
      if (jitterChart) jitterChart.destroy();
      jitterChart = jitterBoxPlot(jitterCanvas, boxes);
      jitterNote.textContent = `${j.run.samples.toLocaleString()} wakeups: median ${j.run.p50.toFixed(2)} ms, ` +
        `p99 ${j.run.p99.toFixed(2)} ms, max ${j.run.max.toFixed(2)} ms; then the 10 devices with the highest p99. ` +
        'Whiskers: minimum and maximum.';
    } catch (e) {
      jitterNote.textContent = e.message;
    } finally {
      jitterButton.disabled = false;
    }
  }

  async function pollRadio() {
    if (!run || run.state === 'deleted') return;
    let r;
    try {
      r = await api('GET', `/runs/${id}/radio`);
    } catch (e) {
      radioNote.textContent = e.message;
      return;
    }
    if (!r.devices.length && !r.cells.length) {
      radioNote.textContent = 'No device of this run is on a radio network.';
      return;
    }
    radioNote.textContent = r.zep
      ? `ZEP radio (IEEE 802.15.4): ${r.zep.sent.toLocaleString()} frames on the air, ` +
        `${r.zep.received.toLocaleString()} copies delivered, ${(r.zep.acks || 0).toLocaleString()} acknowledged, ` +
        `${(r.zep.retransmissions || 0).toLocaleString()} retransmitted, ${r.zep.lost_on_links.toLocaleString()} lost on links` +
        (r.zep.malformed ? `, ${r.zep.malformed.toLocaleString()} datagrams that were not ZEP v2 data` : '')
      : r.cells.length
      ? r.cells.map((c) => `${c.worker}: ${c.leases}/${c.ues} UEs leased, queue ${c.queue_depth}, airtime ${c.airtime_ms.toFixed(0)} ms`).join(' · ')
      : 'Captured on the radio network (no base station in this run).';
    if (!radioChart) radioChart = new RadioChart(radioCanvas);
    radioChart.add(r);
    radioTable.replaceChildren(el('tbody', {}, radioSeries.map(([key, label]) =>
      el('tr', {}, el('td', {}, label), el('td', { class: 'num', 'data-key': key }, radioValue(r, key).toLocaleString())))));
  }

  const off = onEvent((kind, data) => {
    if (kind === 'run' && data.id === id) {
      showRun(data);
    } else if (kind === 'instances' && data.run === id && grid) {
      const t0 = performance.now();
      // A big batch (thousands of instances starting at once) is one repaint, not thousands.
      if (data.changes && data.changes.length > 1000) grid.load(data.changes);
      else if (data.changes) for (const c of data.changes) grid.set(c.index, c.state);
      else loadInstances(); // a worker was lost: reload every state
      performance.measure('kuiga-apply-changes',
        { start: t0, end: performance.now(), detail: data.changes ? data.changes.length : 0 });
      if (picked >= 0 && data.changes && data.changes.some((c) => c.index === picked)) showDetail(picked);
      showCounts();
    } else if (kind === 'reconnect' || kind === 'overflow') {
      if (grid) loadInstances();
    }
  });

  guarded(async () => {
    showRun(await api('GET', `/runs/${id}`));
    if (run.spec.period_ms > 0) {
      jitterNote.textContent = 'From the wakeup lines the devices log.';
      if (run.state === 'running' || run.state === 'stopped') loadJitter();
    } else {
      jitterNote.textContent = 'This run has no period_ms, so there are no deadlines to measure.';
      jitterButton.disabled = true;
    }
    pollRadio();
    timers.push(setInterval(pollRadio, 2000));
  });

  return () => {
    off();
    timers.forEach(clearInterval);
    if (logAbort) logAbort.abort();
    if (grid) grid.destroy();
    if (jitterChart) jitterChart.destroy();
    if (radioChart) radioChart.destroy();
  };
}
