// The report of `kuiga test` (report.html): one self-contained file, drawn from the JSON it
// carries (<script id="kuiga-report">) with Kuiga Web's own charts (charts.js) and styles. A
// test: its verdicts, instance states and radio counters over time, the jitter box plot and the
// worst devices with their log tails. A sweep: a row per point, each measured value against
// the swept field, and a jitter box per point (the report's Figure 5.1).
import { jitterBoxPlot, lineChart, radioSeries, radioValue } from './charts.js';

const stateColours = {
  pending: '#90a4ae', booting: '#fbc02d', running: '#2e7d32', stopped: '#546e7a',
  terminated: '#1565c0', failed: '#c62828', lost: '#6d4c41',
};
const palette = ['#1565c0', '#2e7d32', '#c62828', '#6a1b9a', '#ef6c00', '#00838f', '#4e342e'];

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function verdictBadge(v) {
  const colour = { passed: '#2e7d32', failed: '#c62828', error: '#6d4c41' }[v] || '#546e7a';
  return el('span', { class: 'state', style: `background:${colour};color:#fff` }, v);
}

function card(title, ...body) {
  return el('section', { class: 'card' }, el('h2', {}, title), ...body);
}

let charts = 0;
function chartBox(height = 260) {
  charts += 1;
  return el('div', { style: `position:relative;height:${height}px` }, el('canvas', { class: 'chart' }));
}

function assertionsTable(results) {
  const rows = results.assertions.map((a) => el('tr', {},
    el('td', {}, verdictBadge(a.verdict)), el('td', {}, a.assertion), el('td', {}, a.measured),
    el('td', { class: 'muted' }, a.at)));
  if (results.error) rows.push(el('tr', {}, el('td', {}, verdictBadge('error')), el('td', { colspan: 3 }, results.error)));
  return el('table', {}, el('tr', {}, el('th', {}, 'verdict'), el('th', {}, 'assertion'),
    el('th', {}, 'measured'), el('th', {}, 'where')), ...rows);
}

function boxOf(label, s) {
  return { label, min: s.min, p25: s.p25, p50: s.p50, p75: s.p75, max: s.max, mean: s.mean };
}

function testPoint(root, point) {
  const r = point.results;
  root.append(card('Assertions', assertionsTable(r)));
  const t = point.samples.map((s) => s.t.toFixed(1));
  if (point.samples.length) {
    const states = Object.keys(point.samples[0].counts || {})
      .filter((k) => point.samples.some((s) => (s.counts[k] || 0) > 0));
    const box = chartBox();
    root.append(card('Instance states over time', box));
    lineChart(box.firstChild, t, states.map((k) => ({
      label: k, colour: stateColours[k] || '#000', data: point.samples.map((s) => s.counts[k] || 0),
    })), 'instances', 'seconds after the start');
    const radio = point.samples.filter((s) => s.radio);
    if (radio.length) {
      const used = radioSeries.filter(([key]) => radio.some((s) => radioValue(s.radio, key) > 0));
      const rbox = chartBox();
      root.append(card('Radio counters over time', rbox));
      lineChart(rbox.firstChild, radio.map((s) => s.t.toFixed(1)),
        (used.length ? used : radioSeries.slice(0, 1)).map(([key, label, colour]) => ({
          label, colour, data: radio.map((s) => radioValue(s.radio, key)),
        })), 'frames (total)', 'seconds after the start');
    }
  }
  const j = point.jitter;
  if (j && j.run && j.run.samples > 0) {
    const worst = (j.instances || []).slice().sort((a, b) => b.p99 - a.p99).slice(0, 10);
    const jbox = chartBox(300);
    root.append(card('Deadline jitter (ms): the run and its 10 worst devices', jbox));
    jitterBoxPlot(jbox.firstChild, [boxOf('run', j.run), ...worst.map((d) => boxOf(`dev ${d.index}`, d))]);
  }
  const tails = Object.entries(point.tails || {});
  if (tails.length) {
    root.append(card('Worst devices and the end of their logs',
      ...tails.map(([index, text]) => el('div', {}, el('h3', {}, `device ${index}`), el('pre', {}, text)))));
  }
  const servers = (point.results && point.results.servers) || [];
  if (servers.length) {
    root.append(card('Base-station servers and the end of their output',
      ...servers.map((s) => el('div', {}, el('h3', {}, s.command), el('pre', {}, s.tail || '(no output)')))));
  }
}

function sweep(root, data) {
  const s = data.results;
  const field = s.sweep.field;
  const values = s.sweep.values;
  const head = el('tr', {}, el('th', {}, field), el('th', {}, 'verdict'),
    ...s.points[0].assertions.map((a) => el('th', {}, a.assertion)));
  const rows = s.points.map((p, i) => el('tr', {}, el('td', {}, values[i]), el('td', {}, verdictBadge(p.verdict)),
    ...p.assertions.map((a) => el('td', {}, a.measured)), p.error ? el('td', {}, p.error) : ''));
  root.append(card('Points', el('table', {}, head, ...rows)));
  const titles = s.points[0].assertions.map((a) => a.assertion);
  titles.forEach((title, k) => {
    const box = chartBox(220);
    root.append(card(`${title} against ${field}`, box));
    lineChart(box.firstChild, values, [{
      label: title, colour: palette[k % palette.length],
      data: data.points.map((p) => p.values[k]),
    }], 'measured', field);
  });
  const boxes = data.points.map((p, i) => (p.jitter && p.jitter.run && p.jitter.run.samples > 0
    ? boxOf(values[i], p.jitter.run) : null)).filter(Boolean);
  if (boxes.length) {
    const jbox = chartBox(300);
    root.append(card(`Deadline jitter (ms) against ${field}`, jbox));
    jitterBoxPlot(jbox.firstChild, boxes);
  }
}

function main() {
  const data = JSON.parse(document.getElementById('kuiga-report').textContent);
  const root = document.getElementById('report');
  const r = data.results;
  document.title = `${r.scenario || r.file}: ${r.verdict}`;
  root.append(el('h1', {}, `${r.scenario || r.file} `, verdictBadge(r.verdict)),
    el('p', { class: 'muted' }, `${r.file}`, data.kind === 'sweep' ? '' : `, run ${r.run}, ${Number(r.seconds).toFixed(1)} s`));
  if (data.kind === 'sweep') sweep(root, data);
  else testPoint(root, data.points[0]);
  root.append(card('Scenario', el('pre', {}, data.scenario)));
  root.dataset.charts = String(charts);
  root.dataset.drawn = 'yes';
}

main();
