// Walks through Kuiga Web in headless Debian chromium (playwright-core, no downloaded browser):
// a refused create shows the master's reason (bad radio settings, groups of tap devices);
// upload the sample AUT as a 50-device run that starts when ready; the counts reach 50 running;
// open an instance from the grid and see its log; send a console line; the jitter box plot, the
// radio counters and the logs download; stop and delete the run; the workers page; the tests
// page runs an uploaded scenario (its devices in groups) to its verdict and opens its report.
// Before all that: the page without a session is the login page, a wrong token is refused
// there, and the admin's token logs in; at the end, a user's session sees neither the admin's
// runs nor the metrics, and logging out shows the login page again. Saves screenshots of the
// run page as artefacts.
// usage: KUIGA_TOKEN=admin-token node ui_test.mjs URL AUT WORKDIR WEB_DIR WORKER_NAME
// (KUIGA_USER_TOKEN: a user's token)
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const [url, aut, dir, webDir, workerName] = process.argv.slice(2);
const token = process.env.KUIGA_TOKEN;
const userToken = process.env.KUIGA_USER_TOKEN;
const auth = { headers: { Authorization: `Bearer ${token}` } };
const require = createRequire(path.resolve(webDir, 'package.json'));
const { chromium } = require('playwright-core');

const step = (s) => console.log(`ui_test: ${s}`);
let browser;
const pageErrors = [];

async function main() {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('dialog', (d) => d.accept());

  step('without a session, the page is the login page');
  await page.goto(url + '/');
  await page.getByRole('heading', { name: 'Log in to Kuiga Box' }).waitFor();
  if (await page.locator('#page h1', { hasText: 'Test runs' }).count())
    throw new Error('the runs page shows without a session');
  if ((await fetch(`${url}/api/v1/runs`)).status !== 401) throw new Error('the API answers without a token');
  step('a wrong token is refused with the reason');
  await page.locator('#token').fill('kgt_not-a-token');
  await page.locator('#login').click();
  await page.locator('#error-text', { hasText: 'Not logged in' }).waitFor();
  await page.locator('#error-close').click();
  step('the admin token logs in');
  await page.locator('#token').fill(token);
  await page.locator('#login').click();

  step('the runs page, empty');
  await page.getByRole('heading', { name: 'Test runs' }).waitFor();
  await page.locator('#user', { hasText: 'admin (admin)' }).waitFor();
  const cookies = await context.cookies();
  const sessionCookie = cookies.find((c) => c.name === 'kuiga_session');
  if (!sessionCookie || !sessionCookie.httpOnly || sessionCookie.sameSite !== 'Strict')
    throw new Error(`the session cookie is not HttpOnly and SameSite=Strict: ${JSON.stringify(cookies)}`);
  // The cookie alone cannot change anything: a change needs the session's CSRF token.
  const forged = await page.evaluate(async () => (await fetch('/api/v1/runs/1/stop', { method: 'POST' })).status);
  if (forged !== 403) throw new Error(`a change without the CSRF token answered ${forged}`);
  await page.locator('.empty', { hasText: 'No runs yet' }).waitFor();
  await page.locator('#live.on').waitFor();

  step('a create the master refuses shows its reason in plain words');
  const form = page.locator('#create-form');
  await form.locator('input[name=aut]').setInputFiles(aut);
  await form.locator('input[name=count]').fill('50');
  await form.locator('textarea[name=radio]').fill('{"ues": 0}');
  await form.getByRole('button', { name: 'Create run' }).click();
  const banner = page.locator('#error');
  await banner.waitFor({ state: 'visible' });
  const said = await page.locator('#error-text').textContent();
  if (!said.startsWith('The master refused the request:') || !said.includes('ues'))
    throw new Error(`the error banner says: ${said}`);
  await page.locator('#error-close').click();
  await banner.waitFor({ state: 'hidden' });
  step('invalid JSON is caught before upload');
  await form.locator('textarea[name=radio]').fill('{nope');
  await form.getByRole('button', { name: 'Create run' }).click();
  await banner.waitFor({ state: 'visible' });
  if (!(await page.locator('#error-text').textContent()).includes('not valid JSON'))
    throw new Error('no plain error for bad radio JSON');
  await page.locator('#error-close').click();
  step('groups of tap devices are refused with the reason');
  await form.locator('textarea[name=radio]').fill('');
  await form.locator('select[name=net]').selectOption('tap');
  await form.locator('select[name=isolation]').selectOption('group');
  await form.locator('input[name=group_size]').fill('25');
  await form.getByRole('button', { name: 'Create run' }).click();
  await banner.waitFor({ state: 'visible' });
  const refusedGroup = await page.locator('#error-text').textContent();
  if (!refusedGroup.includes('"group" cannot run tap devices'))
    throw new Error(`the error banner says: ${refusedGroup}`);
  await page.locator('#error-close').click();
  await form.locator('select[name=net]').selectOption('');
  await form.locator('select[name=isolation]').selectOption('instance');
  if ((await page.locator('#runs tbody tr').count()) !== 0) throw new Error('a refused create made a run');

  step('upload the sample AUT: 50 devices, start when ready');
  await form.locator('textarea[name=radio]').fill('');
  await form.locator('input[name=name]').fill('web-test');
  await form.locator('input[name=args]').fill('{start_ms} {period_ms}');
  await form.locator('input[name=period_ms]').fill('100');
  await form.getByRole('button', { name: 'Create run' }).click();
  await page.waitForURL(/#\/runs\/\d+$/);
  const runId = Number(page.url().match(/#\/runs\/(\d+)$/)[1]);
  step(`run ${runId}: waiting for 50 running`);
  await page.locator('#counts [data-state=running] b', { hasText: /^50$/ }).waitFor({ timeout: 120000 });
  await page.locator('#run-state', { hasText: 'running' }).waitFor();
  const api = await (await fetch(`${url}/api/v1/runs/${runId}`, auth)).json();
  if (api.counts.running !== 50) throw new Error(`the API says ${api.counts.running} running`);

  step('open instance 7 from the grid and see its log');
  const box = await page.locator('#grid').boundingBox();
  const geo = await page.locator('#grid').evaluate((c) => ({ w: c.clientWidth, h: c.clientHeight }));
  // The grid's layout (grid.js): square cells, as many per row as fit.
  const size = Math.max(3, Math.min(24, Math.floor(Math.sqrt((geo.w * 520) / 50))));
  const cols = Math.floor(geo.w / size);
  await page.mouse.click(box.x + (7 % cols) * size + size / 2, box.y + Math.floor(7 / cols) * size + size / 2);
  await page.locator('#instance-detail h2', { hasText: 'dev-0007' }).waitFor();
  await page.locator('#instance-detail .state', { hasText: 'running' }).waitFor();
  await page.waitForFunction(() => (document.querySelector('#instance-log')?.textContent || '').split('\n').length > 3);
  const line = (await page.locator('#instance-log').textContent()).split('\n')[0];
  if (!/^\d{4}-\d\d-\d\dT/.test(line)) throw new Error(`the log line has no receive time: ${line}`);

  step('send a console line');
  await page.locator('#console-line').fill('hello from the browser');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.waitForFunction(() => document.querySelector('#console-line').value === '');
  if (await banner.isVisible()) throw new Error(`console: ${await page.locator('#error-text').textContent()}`);
  step('send a console line to every instance');
  await page.locator('#console-all').check();
  await page.locator('#console-line').fill('hello everyone');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.waitForFunction(() => document.querySelector('#console-line').value === '');
  if (await banner.isVisible()) throw new Error(`console: ${await page.locator('#error-text').textContent()}`);

  step('jitter box plot and radio counters');
  await page.getByRole('button', { name: 'Measure jitter' }).click();
  await page.locator('.card', { hasText: 'Deadline jitter' }).locator('.muted', { hasText: 'wakeups: median' }).waitFor();
  await page.locator('#radio-chart canvas').waitFor();
  await page.locator('td[data-key=sent_frames]').waitFor();

  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, 'run-page.png'), fullPage: true });
  step(`screenshot: ${path.join(dir, 'run-page.png')}`);

  step('download every log as tar.gz');
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-logs').click()]);
  const file = path.join(dir, 'logs.tar.gz');
  await download.saveAs(file);
  const bytes = fs.readFileSync(file);
  if (bytes.length < 100 || bytes[0] !== 0x1f || bytes[1] !== 0x8b)
    throw new Error(`the logs download is not gzip (${bytes.length} bytes)`);

  step('stop the run');
  await page.getByRole('button', { name: 'Stop' }).click();
  await page.locator('#run-state', { hasText: 'stopped' }).waitFor({ timeout: 120000 });
  await page.locator('#counts [data-state=terminated] b', { hasText: /^50$/ }).waitFor();
  await page.getByRole('button', { name: 'Start' }).isDisabled().then((d) => {
    if (!d) throw new Error('Start is enabled on a stopped run');
  });
  await page.screenshot({ path: path.join(dir, 'run-page-stopped.png'), fullPage: true });

  step('delete it');
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL(/#\/$/);
  await page.locator('.empty', { hasText: 'No runs yet' }).waitFor();
  // Delete is accepted at once (202) and done in the background: the API says so soon.
  let after;
  for (let i = 0; i < 300; ++i) {
    after = await (await fetch(`${url}/api/v1/runs/${runId}`, auth)).json();
    if (after.state === 'deleted') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (after.state !== 'deleted') throw new Error(`the run is ${after.state}, not deleted`);

  step('the workers page');
  await page.getByRole('link', { name: 'Workers' }).click();
  const row = page.locator(`#workers tr[data-worker="${workerName}"]`);
  await row.waitFor();
  if (!(await row.textContent()).includes('healthy')) throw new Error('the worker is not shown healthy');

  step('the tests page: a scenario and its AUT uploaded, run to its verdict, its report opened');
  await page.getByRole('link', { name: 'Tests' }).click();
  await page.locator('.empty', { hasText: 'No tests yet' }).waitFor();
  const scenarioFile = path.join(dir, 'web-smoke.yaml');
  fs.writeFileSync(scenarioFile, [
    'name: web smoke', 'app: periodic', 'run:', '  count: 3', '  net: none', '  isolation: group',
    '  group_size: 2', '  args: "{start_ms} {period_ms}"',
    '  period_ms: 100', 'duration: 2s', 'assert:', '  - no_failed: true',
    "  - log_count: '^[0-9.]+ '", '    per: device', '    at_least: 5', ''].join('\n'));
  await page.locator('#test-form input[name=scenario]').setInputFiles(scenarioFile);
  await page.locator('#test-form input[name=aut]').setInputFiles(aut);
  await page.locator('#test-form textarea[name=set]').fill('run.count=4');
  await page.locator('#test-form button[type=submit]').click();
  const testRow = page.locator('#tests tbody tr', { hasText: 'web smoke' });
  // Its verdict arrives by the event stream: no reload.
  await testRow.locator('.state.passed').waitFor();
  if (!(await testRow.textContent()).includes('2 of 2 assertions held'))
    throw new Error(`the test's row: ${await testRow.textContent()}`);
  const reportHref = await testRow.getByRole('link', { name: 'Report' }).getAttribute('href');
  const report = await context.newPage();
  report.on('pageerror', (e) => pageErrors.push(`report: ${e.message}`));
  await report.goto(url + reportHref);
  await report.locator('h1', { hasText: 'passed' }).waitFor();
  await report.locator('canvas').first().waitFor();
  await report.screenshot({ path: path.join(dir, 'test-report.png'), fullPage: true });
  await report.close();
  const tests = await (await fetch(`${url}/api/v1/tests`, auth)).json();
  const submitted = await (await fetch(`${url}/api/v1/tests/${tests.items[0].id}/files/results.json`, auth)).json();
  if (submitted.spec.count !== 4) throw new Error(`the override did not reach the test: ${JSON.stringify(submitted.spec)}`);
  await testRow.locator('button[data-action=delete]').click();
  await page.locator('.empty', { hasText: 'No tests yet' }).waitFor();

  step("a user's session sees none of the admin's runs, and no metrics");
  const image = (await (await fetch(`${url}/api/v1/runs/${runId}`, auth)).json()).spec.image;
  const kept = await (await fetch(`${url}/api/v1/runs`, {
    method: 'POST',
    headers: { ...auth.headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ image, count: 1, name: 'admins-own' }),
  })).json();
  await page.getByRole('link', { name: 'Runs' }).click();
  await page.locator('#runs tbody tr', { hasText: 'admins-own' }).waitFor();
  await page.locator('#logout').click();
  await page.getByRole('heading', { name: 'Log in to Kuiga Box' }).waitFor();
  await page.locator('#token').fill(userToken);
  await page.locator('#login').click();
  await page.locator('.empty', { hasText: 'No runs yet' }).waitFor();
  await page.locator('#user', { hasText: '(user)' }).waitFor();
  if (await page.locator('#metrics-link').isVisible()) throw new Error('a user sees the metrics link');
  const theirs = await page.evaluate(async (id) => (await fetch(`/api/v1/runs/${id}`)).status, kept.id);
  if (theirs !== 404) throw new Error(`a user reading the admin's run got ${theirs}, not 404`);
  await fetch(`${url}/api/v1/runs/${kept.id}`, { method: 'DELETE', ...auth });

  if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join('; ')}`);
  step('passed');
}

main()
  .then(() => browser.close())
  .catch(async (e) => {
    console.error(`ui_test: FAIL: ${e.message}`);
    if (pageErrors.length) console.error(`page errors: ${pageErrors.join('; ')}`);
    if (browser) await browser.close();
    process.exit(1);
  });
