// Kuiga Web under a large run, in headless Debian chromium (playwright-core). Figures:
//  create_s / start_s / stop_s      API: request to all N ready / running / terminated
//  page_lag_*_s                     how much later the page's counts showed the same
//  apply_changes                    event batches applied to the grid: count, total and max ms
//  grid_draw_ms                     one full repaint of the N-cell grid (mean and max)
//  load_ms                          a fresh load of the run page to the whole grid drawn
//  long_tasks / long_task_ms        main-thread tasks over 50 ms while the run moved
//  js_heap_mb                       the page's JavaScript heap at the end
// usage: node grid_bench.mjs URL N AUT WEB_DIR
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const [url, nArg, aut, webDir] = process.argv.slice(2);
const N = Number(nArg);
const { chromium } = createRequire(path.resolve(webDir, 'package.json'))('playwright-core');
const api = async (method, p, body) => {
  const r = await fetch(`${url}/api/v1${p}`, { method, body });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${p}: ${j.message}`);
  return j;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn, what, timeoutS = 900) {
  const t0 = Date.now();
  for (;;) {
    if (await fn()) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > timeoutS * 1000) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--enable-precise-memory-info'],
});
const out = { devices: N };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${url}/`);
  await page.locator('#live.on').waitFor();
  const pageCount = (state) => page.evaluate((s) => {
    const b = document.querySelector(`#counts [data-state=${s}] b`);
    return b ? Number(b.textContent.replace(/[^0-9]/g, '')) : 0;
  }, state);

  const form = new FormData();
  form.append('spec', JSON.stringify({ count: N, net: 'none', args: '{start_ms} 1000', period_ms: 1000, name: 'web-bench' }));
  form.append('aut', new Blob([fs.readFileSync(aut)]), 'periodic');
  const t0 = Date.now();
  const run = await api('POST', '/runs', form);
  await page.goto(`${url}/#/runs/${run.id}`);
  await page.evaluate(() => {
    window.__long = [];
    new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration)))
      .observe({ type: 'longtask' });
  });
  // Each phase: when the API says all N are there, and when the page shows it.
  async function phase(name, state, runState) {
    const start = Date.now();
    let apiAt = 0;
    let pageAt = 0;
    await until(async () => {
      if (!apiAt) {
        const r = await api('GET', `/runs/${run.id}`);
        if (r.state === runState && r.counts[state] === N) apiAt = Date.now();
      }
      if (!pageAt && (await pageCount(state)) === N) pageAt = Date.now();
      return apiAt && pageAt;
    }, `${name}: ${N} ${state}`);
    out[`${name}_s`] = (apiAt - start) / 1000;
    out[`page_lag_${name}_s`] = Math.max(0, (pageAt - apiAt) / 1000);
  }
  // A created instance waits in "booting" (its init is up, the AUT not yet started).
  await phase('create', 'booting', 'ready');
  out.create_s = (Date.now() - t0) / 1000; // from the create request, not from the page load
  await api('POST', `/runs/${run.id}/start`);
  await phase('start', 'running', 'running');
  await api('POST', `/runs/${run.id}/stop`);
  await phase('stop', 'terminated', 'stopped');

  const m = await page.evaluate(() => {
    const batches = performance.getEntriesByName('kuiga-apply-changes');
    const draws = performance.getEntriesByName('kuiga-grid-draw');
    return {
      apply_changes: {
        batches: batches.length,
        changes: batches.reduce((a, e) => a + (e.detail || 0), 0),
        total_ms: batches.reduce((a, e) => a + e.duration, 0),
        max_ms: Math.max(0, ...batches.map((e) => e.duration)),
      },
      long_tasks: window.__long.length,
      long_task_ms: window.__long.reduce((a, d) => a + d, 0),
      js_heap_mb: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
      draws: draws.map((e) => e.duration),
    };
  });
  // A fresh load of the page of a run with N instances.
  await page.goto(`${url}/`);
  const l0 = Date.now();
  await page.goto(`${url}/#/runs/${run.id}`);
  await page.waitForFunction(() => performance.getEntriesByName('kuiga-grid-loaded').length > 0, null, { timeout: 120000 });
  out.load_ms = Date.now() - l0;
  const draws = m.draws.concat(await page.evaluate(() =>
    performance.getEntriesByName('kuiga-grid-draw').map((e) => e.duration)));
  out.grid_draw_ms = { mean: draws.reduce((a, d) => a + d, 0) / draws.length, max: Math.max(...draws), draws: draws.length };
  Object.assign(out, { apply_changes: m.apply_changes, long_tasks: m.long_tasks, long_task_ms: m.long_task_ms, js_heap_mb: m.js_heap_mb });
  await page.screenshot({ path: path.join('build', `web-bench-${N}.png`) });
  if (errors.length) out.page_errors = errors;
  await api('DELETE', `/runs/${run.id}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out, null, 1));
