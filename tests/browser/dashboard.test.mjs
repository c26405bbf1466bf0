#!/usr/bin/env node
// Browser test of the aggregator's dashboard: loads it in Debian's headless Chromium (driven by
// playwright-core) against a running aggregator holding known data, and checks that the tiles
// and charts show the expected values, read from the data attributes the dashboard puts on
// them (docs/dashboard.md), not from pixels.
//
//   node dashboard.test.mjs --url=http://127.0.0.1:PORT --expect=FILE.json
//        [--screenshot=PATH.png] [--filter KEY=VALUE]... [--chromium=PATH] [--timeout=MS]
//
// The expect file holds one scenario or {"scenarios": [...]}; each scenario has its own query
// string (range, filters), an optional filter picked in the page's menus, and expectations:
// see docs/dashboard.md. --filter KEY=VALUE adds KEY=VALUE to every scenario's query (for an
// expect file written for that filter). Every scenario also checks that the page logged no
// console error, sent no request off this machine, showed no error banner (unless expected),
// gave every chart a title and an aria-label, and does not scroll sideways.
//
// Exit status: 0 all checks passed; 1 a check failed (every mismatch is listed); 2 bad usage
// or the page could not be driven; 77 Chromium or playwright-core is missing (CTest's skip
// code; deploy/setup.d/50-dashboard-tests.sh installs both).

import fs from 'node:fs';
import path from 'node:path';

const USAGE = 'usage: node dashboard.test.mjs --url=http://127.0.0.1:PORT --expect=FILE.json ' +
  '[--screenshot=PATH.png] [--filter KEY=VALUE]... [--chromium=PATH] [--timeout=MS]';
const DEFAULT_TOLERANCE = 1e-9; // relative: the dashboard must show the API's numbers as they are
const DEFAULT_VIEWPORT = {width: 1280, height: 800};
// Without the background-networking flags Chromium opens connections of its own (updates,
// sync, safe browsing) that this machine's closed network refuses, and logs errors about them.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync'];

function fail(code, message) {
  console.error(`dashboard.test: ${message}`);
  process.exit(code);
}

function parseArgs(argv) {
  const opts = {filters: [], timeout: 30000,
    chromium: process.env.PHAROS_CHROMIUM || '/usr/bin/chromium'};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--([a-z]+)(?:=(.*))?$/s.exec(arg);
    if (!m) fail(2, `unexpected argument '${arg}'\n${USAGE}`);
    const [, key] = m;
    // Both --key=value and --key value.
    const value = m[2] !== undefined ? m[2] : argv[++i];
    if (value === undefined) fail(2, `--${key} needs a value\n${USAGE}`);
    if (key === 'filter') {
      if (!/^[a-z_]+=/.test(value)) fail(2, `--filter wants KEY=VALUE, got '${value}'`);
      opts.filters.push(value);
    } else if (['url', 'expect', 'screenshot', 'chromium'].includes(key)) {
      opts[key] = value;
    } else if (key === 'timeout') {
      opts.timeout = Number(value);
    } else {
      fail(2, `unknown option --${key}\n${USAGE}`);
    }
  }
  if (!opts.url || !opts.expect) fail(2, USAGE);
  return opts;
}

function loadScenarios(file, filters) {
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    fail(2, `cannot read the expect file ${file}: ${err.message}`);
  }
  const list = Array.isArray(doc.scenarios) ? doc.scenarios : [doc];
  return list.map((s, i) => {
    const query = new URLSearchParams(s.query || '');
    for (const f of filters) {
      const eq = f.indexOf('=');
      query.set(f.slice(0, eq), f.slice(eq + 1));
    }
    return {...s, name: s.name || `scenario ${i + 1}`, query,
      tolerance: s.tolerance ?? doc.tolerance ?? DEFAULT_TOLERANCE};
  });
}

// 127.0.0.0/8, localhost and [::1] only: the dashboard must load nothing from elsewhere.
function isLocal(url) {
  const u = new URL(url);
  if (['data:', 'blob:', 'about:'].includes(u.protocol)) return true;
  return u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(u.hostname);
}

function close(actual, expected, tolerance) {
  if (actual === expected) return true;
  return Math.abs(actual - expected) <= tolerance * Math.max(Math.abs(actual), Math.abs(expected));
}

// Everything the checks need, read from the page in one go.
function readPage() {
  const q = (sel, root = document) => [...root.querySelectorAll(sel)];
  const tiles = {};
  for (const tile of q('[data-metric]')) {
    tiles[tile.dataset.metric] = {value: tile.dataset.value,
      text: tile.querySelector('.tile-value')?.textContent ?? tile.textContent};
  }
  const charts = {};
  for (const svg of q('svg[data-chart]')) {
    const series = {};
    for (const g of q('[data-series]', svg)) {
      series[g.dataset.series] = q('[data-t]', g).map((p) => ({t: Number(p.dataset.t),
        value: Number(p.dataset.value)}));
    }
    charts[svg.dataset.chart] = {empty: svg.dataset.empty === 'true', series,
      title: svg.querySelector('title')?.textContent || '',
      label: svg.getAttribute('aria-label') || ''};
  }
  const dimensions = {};
  for (const select of q('select[id^="f-"]')) {
    dimensions[select.id.slice(2)] = [...select.options].map((o) => o.value)
      .filter((v) => v !== '' && v !== '-');
  }
  const banner = document.getElementById('banner');
  return {tiles, charts, dimensions,
    banner: banner && !banner.hidden ? banner.textContent : null,
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    search: location.search};
}

function checkTiles(expected, page, tolerance, bad) {
  for (const [metric, want] of Object.entries(expected || {})) {
    const spec = want !== null && typeof want === 'object' ? want : {value: want};
    const tile = page.tiles[metric];
    if (!tile) {
      bad(`tile ${metric}: not on the page (tiles: ${Object.keys(page.tiles).join(', ')})`);
      continue;
    }
    if ('value' in spec) {
      if (spec.value === null) {
        if (tile.value !== '') bad(`tile ${metric}: expected no value, shows ${tile.value}`);
      } else if (tile.value === '' || !close(Number(tile.value), spec.value, spec.tolerance ?? tolerance)) {
        bad(`tile ${metric}: expected ${spec.value}, shows ${tile.value === '' ? 'no value' : tile.value}`);
      }
    }
    if ('text' in spec && tile.text !== spec.text) {
      bad(`tile ${metric}: expected text '${spec.text}', shows '${tile.text}'`);
    }
  }
}

function checkCharts(expected, page, tolerance, bad) {
  for (const want of expected || []) {
    const chart = page.charts[want.chart];
    const where = `chart ${want.chart}${want.series ? ` series ${want.series}` : ''}`;
    if (!chart) {
      if (want.exists !== false) bad(`${where}: no such chart (charts: ${Object.keys(page.charts).join(', ')})`);
      continue;
    }
    if (want.exists === false) bad(`chart ${want.chart}: expected no such chart, found one`);
    if ('empty' in want && chart.empty !== want.empty) {
      bad(`chart ${want.chart}: expected ${want.empty ? '"no data"' : 'data'}, shows ${chart.empty ? '"no data"' : 'data'}`);
    }
    if (!want.series) continue;
    const points = chart.series[want.series];
    if (want.absent) {
      if (points) bad(`${where}: expected absent, has ${points.length} points`);
      continue;
    }
    if (!points) {
      bad(`${where}: no such series (series: ${Object.keys(chart.series).join(', ') || 'none'})`);
      continue;
    }
    if ('count' in want && points.length !== want.count) {
      bad(`${where}: expected ${want.count} points, has ${points.length}`);
    }
    for (const p of want.points || []) {
      const got = points.find((x) => x.t === p.t);
      const when = `${p.t} (${new Date(p.t).toISOString()})`;
      if (p.value === null) {
        if (got) bad(`${where}: expected no point at ${when}, has ${got.value}`);
      } else if (!got) {
        bad(`${where}: no point at ${when} (expected ${p.value})`);
      } else if (!close(got.value, p.value, p.tolerance ?? want.tolerance ?? tolerance)) {
        bad(`${where} at ${when}: expected ${p.value}, shows ${got.value}`);
      }
    }
  }
}

function checkPage(scenario, page, bad) {
  checkTiles(scenario.tiles, page, scenario.tolerance, bad);
  checkCharts(scenario.charts, page, scenario.tolerance, bad);
  for (const [dim, values] of Object.entries(scenario.dimensions || {})) {
    const got = page.dimensions[dim];
    if (!got || got.join('\n') !== [...values].sort().join('\n')) {
      bad(`filter menu ${dim}: expected [${values}], lists [${got || ''}]`);
    }
  }
  if (scenario.banner) {
    if (page.banner === null || !page.banner.includes(scenario.banner)) {
      bad(`banner: expected one containing '${scenario.banner}', ${page.banner === null ? 'none shown' : `shows '${page.banner}'`}`);
    }
  } else if (page.banner !== null) {
    bad(`banner: an error is shown: '${page.banner}'`);
  }
  for (const [id, chart] of Object.entries(page.charts)) {
    if (!chart.title || !chart.label) bad(`chart ${id}: missing its <title> or aria-label`);
  }
  if (page.overflow > 0) bad(`layout: the page scrolls sideways by ${page.overflow} px`);
}

// Hover over a point and check the tooltip's text: [{chart, t, contains: [..]}].
async function checkHovers(page, hovers, bad) {
  for (const h of hovers || []) {
    const where = `hover chart ${h.chart} at ${h.t}`;
    const card = page.locator(`.card[data-card="${h.chart}"]`);
    const point = card.locator(`[data-t="${h.t}"]`).first();
    if ((await point.count()) === 0) {
      bad(`${where}: no point to hover`);
      continue;
    }
    const box = await point.boundingBox();
    const plot = await card.locator('svg .hit').boundingBox();
    await page.mouse.move(box.x + box.width / 2, plot.y + plot.height / 2);
    const tip = card.locator('.tooltip');
    await tip.waitFor({state: 'visible', timeout: 2000}).catch(() => {});
    const text = (await tip.isVisible()) ? await tip.innerText() : null;
    if (text === null) {
      bad(`${where}: no tooltip shown`);
      continue;
    }
    for (const s of h.contains || []) {
      if (!text.includes(s)) bad(`${where}: tooltip lacks '${s}' (shows '${text.replace(/\n/g, ' | ')}')`);
    }
    await page.mouse.move(0, 0);
  }
}

function screenshotPath(base, index) {
  if (!base) return null;
  if (index === 0) return base;
  const ext = path.extname(base);
  return `${base.slice(0, base.length - ext.length)}-${index + 1}${ext}`;
}

async function runScenario(browser, opts, scenario, index) {
  const problems = [];
  const bad = (msg) => problems.push(msg);
  const context = await browser.newContext({viewport: scenario.viewport || DEFAULT_VIEWPORT});
  const page = await context.newPage();
  const consoleErrors = [];
  const offsite = new Set(); // both the route and the request event see each request
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));
  // Recorded and aborted: a request off this machine fails the test rather than hang on the
  // closed network.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    offsite.add(url);
    return route.abort();
  });
  page.on('request', (req) => {
    if (!isLocal(req.url())) offsite.add(req.url());
  });

  const url = new URL(opts.url);
  url.search = scenario.query.toString();
  const loads = () => page.evaluate(() => Number(document.body.dataset.loads || 0));
  try {
    await page.goto(url.toString(), {waitUntil: 'load', timeout: opts.timeout});
    await page.waitForFunction(() => Number(document.body.dataset.loads || 0) >= 1, null,
      {timeout: opts.timeout});
    // Pick filters in the page's own menus, as a person would; each choice reloads the data.
    for (const [dim, value] of Object.entries(scenario.select || {})) {
      const before = await loads();
      const picked = await page.selectOption(`#f-${dim}`, value, {timeout: 5000}).catch(() => []);
      if (!picked.includes(value)) {
        bad(`filter menu ${dim}: cannot pick '${value}'`);
        continue;
      }
      await page.waitForFunction((n) => Number(document.body.dataset.loads || 0) > n, before,
        {timeout: opts.timeout});
      const search = new URLSearchParams(await page.evaluate(() => location.search));
      if (search.get(dim) !== value) bad(`URL: picking ${dim}=${value} left ${search.get(dim)} in the URL`);
    }
    checkPage(scenario, await page.evaluate(readPage), bad);
    await checkHovers(page, scenario.hover, bad);
    const shot = screenshotPath(opts.screenshot, index);
    if (shot) {
      fs.mkdirSync(path.dirname(path.resolve(shot)), {recursive: true});
      await page.screenshot({path: shot, fullPage: true});
    }
  } catch (err) {
    bad(`could not drive the page at ${url}: ${err.message.split('\n')[0]}`);
  }

  // A scenario that expects an error banner expects the browser to log the failed request.
  const allowed = (scenario.allow_console || []).map((r) => new RegExp(r));
  if (scenario.banner) allowed.push(/Failed to load resource/);
  for (const text of consoleErrors) {
    if (!allowed.some((r) => r.test(text))) bad(`console error: ${text}`);
  }
  for (const u of offsite) bad(`request left this machine: ${u}`);
  await context.close();
  return problems;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const scenarios = loadScenarios(opts.expect, opts.filters);
  if (!fs.existsSync(opts.chromium)) fail(77, `skipped: no Chromium at ${opts.chromium}`);
  let chromium;
  try {
    ({chromium} = await import('playwright-core'));
  } catch (err) {
    fail(77, `skipped: playwright-core is not installed (npm ci in tests/browser): ${err.message}`);
  }
  let browser;
  try {
    browser = await chromium.launch({executablePath: opts.chromium, args: CHROMIUM_ARGS,
      timeout: opts.timeout});
  } catch (err) {
    fail(2, `cannot start Chromium (${opts.chromium}): ${err.message.split('\n')[0]}`);
  }

  let failed = 0;
  try {
    for (const [i, scenario] of scenarios.entries()) {
      const problems = await runScenario(browser, opts, scenario, i);
      const label = `${scenario.name} (?${decodeURIComponent(scenario.query.toString())})`;
      if (problems.length === 0) {
        console.log(`ok   ${label}`);
      } else {
        failed++;
        console.log(`FAIL ${label}`);
        for (const p of problems) console.log(`     - ${p}`);
      }
    }
  } finally {
    await browser.close();
  }
  if (opts.screenshot) console.log(`screenshot: ${opts.screenshot}`);
  console.log(`dashboard: ${scenarios.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => fail(2, err.stack || String(err)));
