// The report of `kuiga test` (report.html) opens in headless Debian chromium (playwright-core):
// no script error, every chart it announces drawn (pixels on each canvas), and the verdict
// shown. Saves a screenshot of each report beside it.
// usage: node report_test.mjs WEB_DIR REPORT.html [VERDICT] ...   (pairs: file, its verdict)
import { createRequire } from 'node:module';
import path from 'node:path';

const [webDir, ...pairs] = process.argv.slice(2);
const require = createRequire(path.resolve(webDir, 'package.json'));
const { chromium } = require('playwright-core');

async function check(browser, file, verdict) {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto('file://' + path.resolve(file));
  await page.locator('#report[data-drawn=yes]').waitFor({ timeout: 30000 });
  const announced = Number(await page.locator('#report').getAttribute('data-charts'));
  const drawn = await page.evaluate(() => [...document.querySelectorAll('canvas.chart')].map((c) => {
    const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
    return painted;
  }));
  if (errors.length) throw new Error(`${file}: script errors: ${errors.join('; ')}`);
  if (announced < 1 || drawn.length !== announced)
    throw new Error(`${file}: ${drawn.length} canvases for ${announced} charts`);
  if (drawn.some((n) => n < 500)) throw new Error(`${file}: a chart is blank: ${drawn}`);
  const h1 = await page.locator('h1').textContent();
  if (!h1.includes(verdict)) throw new Error(`${file}: the heading says '${h1}', not ${verdict}`);
  const shot = file.replace(/\.html$/, '.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`report_test: ${file}: ${announced} charts drawn, ${verdict}; screenshot ${shot}`);
  await page.close();
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  for (let i = 0; i < pairs.length; i += 2) await check(browser, pairs[i], pairs[i + 1]);
} finally {
  await browser.close();
}
