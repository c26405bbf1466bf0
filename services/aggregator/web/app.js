// Pharos dashboard: reads the aggregator's JSON API (docs/api.md) and lays out tiles and charts.
//
// State lives in the page's own URL (range or from/to, filters, refresh) so a view can be
// shared, and so the browser test can pin a fixed past range. Drawing is in chart.js.
'use strict';

(() => {
  const {MINUTE, HOUR, DAY} = PharosChart;
  const RANGES = {'15m': 15 * MINUTE, '1h': HOUR, '6h': 6 * HOUR, '24h': DAY, '7d': 7 * DAY};
  const DEFAULT_RANGE = '1h';
  // The API's step names; the smallest giving at most MAX_POINTS points is used.
  const STEPS = [['1m', MINUTE], ['5m', 5 * MINUTE], ['15m', 15 * MINUTE], ['1h', HOUR],
    ['6h', 6 * HOUR], ['1d', DAY]];
  const MAX_POINTS = 300;
  const REFRESH_MS = 10000;
  const DIMENSIONS = ['app', 'environment', 'model'];
  const TILES = [
    {metric: 'requests', label: 'Requests', unit: 'count'},
    {metric: 'error_rate', label: 'Error rate', unit: 'ratio'},
    {metric: 'latency_p95_ms', label: 'Latency p95', unit: 'ms'},
    {metric: 'cost_usd', label: 'Cost', unit: 'usd'},
    {metric: 'invalid_rate', label: 'Invalid rate', unit: 'ratio'},
    {metric: 'feedback.positive_rate', label: 'Positive feedback', unit: 'ratio'},
  ];
  const ERROR_RED = '#d62728';

  const $ = (sel) => document.querySelector(sel);
  const state = {
    range: DEFAULT_RANGE, // a key of RANGES, or 'custom' with from/to below
    from: null,
    to: null,
    step: null, // a step forced by the URL; null picks one from the range
    app: '',
    environment: '',
    model: '',
    refresh: true,
  };
  let loadSeq = 0; // only the newest load may draw: older answers are dropped
  let controller = null;
  let refreshTimer = null;
  let last = null; // the last answers drawn, kept to redraw on resize

  // ---- URL <-> state -----------------------------------------------------------------------
  // Epoch ms or anything Date.parse reads (RFC 3339 from the API docs); NaN when neither.
  function parseTime(s) {
    if (/^\d+$/.test(s)) return Number(s);
    return Date.parse(s);
  }

  function isoTime(ms) {
    return new Date(ms).toISOString().replace('.000Z', 'Z');
  }

  function readURL() {
    const q = new URLSearchParams(location.search);
    const problems = [];
    if (q.has('from') || q.has('to')) {
      const from = parseTime(q.get('from') || '');
      const to = parseTime(q.get('to') || '');
      if (Number.isFinite(from) && Number.isFinite(to) && from < to) {
        Object.assign(state, {range: 'custom', from, to});
      } else {
        problems.push('the URL\'s from/to is not a valid range (RFC 3339 or epoch ms, from < to)');
      }
    } else if (q.has('range')) {
      if (q.get('range') in RANGES) state.range = q.get('range');
      else problems.push(`unknown range '${q.get('range')}' (one of ${Object.keys(RANGES).join(', ')})`);
    }
    // Passed through to the API as is: a bad step is the API's to reject, shown in the banner.
    if (q.get('step')) state.step = q.get('step');
    for (const dim of DIMENSIONS) state[dim] = q.get(dim) || '';
    if (q.has('refresh')) state.refresh = !['0', 'off', 'false'].includes(q.get('refresh'));
    return problems;
  }

  function writeURL() {
    const q = new URLSearchParams();
    if (state.range === 'custom') {
      q.set('from', isoTime(state.from));
      q.set('to', isoTime(state.to));
    } else if (state.range !== DEFAULT_RANGE) {
      q.set('range', state.range);
    }
    if (state.step) q.set('step', state.step);
    for (const dim of DIMENSIONS) if (state[dim]) q.set(dim, state[dim]);
    if (!state.refresh) q.set('refresh', '0');
    const search = q.toString();
    history.replaceState(null, '', search ? `?${search}` : location.pathname);
  }

  // The API's own default for a relative range: to = now rounded up to the minute.
  function currentWindow() {
    if (state.range === 'custom') return {from: state.from, to: state.to};
    const to = Math.ceil(Date.now() / MINUTE) * MINUTE;
    return {from: to - RANGES[state.range], to};
  }

  function chooseStep(span) {
    const fit = STEPS.find(([, ms]) => Math.ceil(span / ms) <= MAX_POINTS);
    return (fit || STEPS[STEPS.length - 1])[0];
  }

  // ---- API ---------------------------------------------------------------------------------
  // Relative paths so the dashboard also works behind a proxy that mounts it under a prefix.
  async function getJSON(path, params, signal) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null) q.set(k, v);
    let res;
    try {
      res = await fetch(`${path}?${q}`, {signal, headers: {Accept: 'application/json'}});
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new Error(`cannot reach the aggregator (${path}: ${err.message})`);
    }
    const body = await res.text();
    let json = null;
    try {
      json = JSON.parse(body);
    } catch (err) {
      // Reported below with the status: a proxy's HTML error page is not JSON.
    }
    if (!res.ok) {
      const why = json && json.error ? json.error : res.statusText || 'no reason given';
      throw new Error(`${path} answered ${res.status}: ${why}`);
    }
    if (json === null || typeof json !== 'object') throw new Error(`${path} answered with invalid JSON`);
    return json;
  }

  async function load() {
    const seq = ++loadSeq;
    if (controller) controller.abort();
    controller = new AbortController();
    const {signal} = controller;
    clearTimeout(refreshTimer);
    document.body.dataset.state = 'loading';

    const win = currentWindow();
    const step = state.step || chooseStep(win.to - win.from);
    const filters = Object.fromEntries(DIMENSIONS.map((d) => [d, state[d]]));
    const filtered = DIMENSIONS.some((d) => state[d]);
    try {
      const [summary, metrics, all] = await Promise.all([
        getJSON('api/v1/summary', {...win, ...filters}, signal),
        getJSON('api/v1/metrics', {...win, ...filters, step}, signal),
        // The filter menus list every value in the range, not only those the filters keep.
        filtered ? getJSON('api/v1/summary', {...win, metrics: 'requests'}, signal) : null,
      ]);
      if (seq !== loadSeq) return;
      last = {summary, metrics, dimensions: (all || summary).dimensions || {}};
      draw();
      hideBanner();
      $('#updated').textContent = `updated ${PharosChart.formatTime(Date.now())}`;
      $('#updated').dateTime = new Date().toISOString();
      document.body.dataset.state = 'ready';
    } catch (err) {
      if (seq !== loadSeq || err.name === 'AbortError') return;
      showBanner(err.message);
      document.body.dataset.state = 'error';
    } finally {
      if (seq === loadSeq) {
        // A counter the test waits on: it changes once per finished load.
        document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
        scheduleRefresh();
      }
    }
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    if (state.refresh) refreshTimer = setTimeout(load, REFRESH_MS);
  }

  function showBanner(message) {
    const banner = $('#banner');
    banner.textContent = `Could not load the data: ${message}`;
    banner.hidden = false;
  }

  function hideBanner() {
    $('#banner').hidden = true;
  }

  // ---- Controls ----------------------------------------------------------------------------
  // datetime-local inputs hold local time without a zone: "YYYY-MM-DDTHH:MM".
  function toLocalInput(ms) {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * MINUTE);
    return d.toISOString().slice(0, 16);
  }

  function syncControls() {
    $('#range').value = state.range;
    $('#custom').hidden = state.range !== 'custom';
    if (state.range === 'custom') {
      $('#from').value = toLocalInput(state.from);
      $('#to').value = toLocalInput(state.to);
    }
    $('#refresh').checked = state.refresh;
  }

  function fillSelect(dim, values) {
    const select = $(`#f-${dim}`);
    const wanted = [...new Set([...(values || []), ...(state[dim] && state[dim] !== '-' ? [state[dim]] : [])])]
      .sort();
    const have = [...select.options].slice(1, -1).map((o) => o.value);
    if (have.join('\n') !== wanted.join('\n')) {
      select.textContent = '';
      select.append(new Option('all', ''));
      for (const v of wanted) select.append(new Option(v, v));
      // The API's '-' matches records without the dimension.
      select.append(new Option('(not set)', '-'));
    }
    select.value = state[dim];
  }

  function onControlsChanged() {
    writeURL();
    syncControls();
    load();
  }

  function wireControls() {
    $('#range').addEventListener('change', (ev) => {
      const value = ev.target.value;
      state.step = null; // a step forced by the URL was meant for the range it came with
      if (value === 'custom') {
        // Start from the window on screen; the user then edits the inputs.
        Object.assign(state, currentWindow(), {range: 'custom'});
      } else {
        Object.assign(state, {range: value, from: null, to: null});
      }
      onControlsChanged();
    });
    for (const id of ['#from', '#to']) {
      $(id).addEventListener('change', () => {
        const from = Date.parse($('#from').value); // no zone: read as local time
        const to = Date.parse($('#to').value);
        if (!(from < to)) {
          showBanner('the custom range needs "from" before "to"');
          return;
        }
        Object.assign(state, {from, to});
        onControlsChanged();
      });
    }
    for (const dim of DIMENSIONS) {
      $(`#f-${dim}`).addEventListener('change', (ev) => {
        state[dim] = ev.target.value;
        onControlsChanged();
      });
    }
    $('#refresh').addEventListener('change', (ev) => {
      state.refresh = ev.target.checked;
      writeURL();
      if (state.refresh) load();
      else clearTimeout(refreshTimer);
    });
    let resizeTimer = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => last && draw(), 150);
    });
  }

  // ---- Tiles -------------------------------------------------------------------------------
  function drawTiles(totals) {
    const box = $('#tiles');
    box.textContent = '';
    for (const tile of TILES) {
      const v = totals[tile.metric];
      const div = document.createElement('div');
      div.className = 'tile';
      div.dataset.metric = tile.metric;
      div.dataset.value = typeof v === 'number' ? String(v) : '';
      div.innerHTML = '<span class="tile-label"></span><span class="tile-value"></span>';
      div.children[0].textContent = tile.label;
      div.children[1].textContent = PharosChart.formatValue(v, tile.unit, 'tile');
      box.appendChild(div);
    }
  }

  // ---- Chart specifications ----------------------------------------------------------------
  function metricKeys(points) {
    const keys = new Set();
    for (const p of points) for (const k of Object.keys(p)) if (k !== 't') keys.add(k);
    return keys;
  }

  function valuesOf(points, key) {
    return points.filter((p) => typeof p[key] === 'number').map((p) => ({t: p.t, value: p[key]}));
  }

  // The part after `prefix` of every key that starts with it, sorted.
  function suffixes(keys, prefix) {
    return [...keys].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length)).sort();
  }

  /** The sections and their charts for one metrics answer; see docs/dashboard.md for ids. */
  function buildSections(points, summary) {
    const keys = metricKeys(points);
    const s = (key, label, extra) => ({key, label, values: valuesOf(points, key), ...extra});
    const chart = (id, title, unit, kind, series) => ({id, title, unit, kind, series});
    const prefixed = (prefix, labelOf = (x) => x) =>
      suffixes(keys, prefix).map((x) => s(prefix + x, labelOf(x)));

    const sections = [];
    sections.push({title: 'Traffic', charts: [
      chart('volume', 'Volume', 'count', 'bars', [
        s('requests', 'requests'), s('errors', 'errors', {color: ERROR_RED})]),
      chart('error_rate', 'Error rate', 'ratio', 'line', [
        s('error_rate', 'error rate', {color: ERROR_RED})]),
      chart('latency', 'Latency percentiles', 'ms', 'line',
        ['p50', 'p90', 'p95', 'p99', 'max'].map((p) => s(`latency_${p}_ms`, p))),
    ]});
    sections.push({title: 'Tokens and cost', charts: [
      chart('tokens', 'Tokens', 'count', 'stack', [
        s('tokens_in', 'in'), s('tokens_out', 'out')]),
      chart('cost', 'Cost', 'usd', 'bars', [s('cost_usd', 'cost')]),
    ]});
    sections.push({title: 'Input quality', charts: [
      chart('invalid_rate', 'Invalid rate', 'ratio', 'line', [s('invalid_rate', 'invalid rate')]),
      chart('invalid_reasons', 'Invalid records by reason', 'count', 'stack', prefixed('invalid.')),
      chart('warnings', 'Quality warnings', 'count', 'stack', prefixed('warnings.')),
    ]});
    sections.push({title: 'Evaluators', note: 'no evaluator results in this range',
      charts: evaluatorCharts(keys, summary, s, chart, prefixed)});
    const feedback = [
      chart('feedback_count', 'Feedback', 'count', 'bars', [s('feedback.count', 'count')]),
      chart('feedback_rates', 'Feedback positive rate', 'ratio', 'line', [
        s('feedback.positive_rate', 'positive rate')]),
      chart('feedback_score', 'Feedback mean score', 'number', 'line', [
        s('feedback.mean_score', 'mean score')]),
    ];
    if (suffixes(keys, 'feedback.label.').length) {
      feedback.push(chart('feedback_labels', 'Feedback labels', 'count', 'stack',
        prefixed('feedback.label.')));
    }
    sections.push({title: 'Feedback', charts: feedback});
    sections.push({title: 'Business KPIs', note: 'no business KPIs in this range',
      charts: kpiCharts(keys, s, chart)});
    sections.push({title: 'Pipeline', charts: [
      chart('lag', 'Pipeline lag (ingest to evaluation)', 's', 'line',
        ['p50', 'p90', 'p99', 'max'].map((p) => s(`lag_${p}_s`, p))),
      chart('judge_cost', 'Judge spend', 'usd', 'bars', [s('judge_cost_usd', 'judge cost')]),
      chart('judge_tokens', 'Judge tokens', 'count', 'bars', [s('judge_tokens', 'judge tokens')]),
      chart('late_records', 'Late records', 'count', 'bars', [s('late_records', 'late records')]),
    ]});
    return sections;
  }

  const EVAL_STAT = /^eval\.(.+)\.(count|errors|skipped|mean_score|pass_rate)$/;
  const EVAL_LABEL = /^eval\.(.+?)\.label\./;

  // One chart per evaluator (pass rate and mean score), and one of its labels when it has any.
  function evaluatorCharts(keys, summary, s, chart, prefixed) {
    const names = new Set(summary.evaluators || []);
    for (const k of keys) {
      const m = EVAL_STAT.exec(k) || EVAL_LABEL.exec(k);
      if (m) names.add(m[1]);
    }
    const charts = [];
    for (const name of [...names].sort()) {
      const p = `eval.${name}.`;
      charts.push(chart(`eval.${name}`, `Evaluator ${name}`, 'number', 'line', [
        s(`${p}pass_rate`, 'pass rate', {unit: 'ratio'}), s(`${p}mean_score`, 'mean score')]));
      if (suffixes(keys, `${p}label.`).length) {
        charts.push(chart(`eval.${name}.labels`, `Evaluator ${name}: labels`, 'count', 'stack',
          prefixed(`${p}label.`)));
      }
    }
    return charts;
  }

  const KPI_STAT = /^kpi\.(.+)\.(count|mean|p50|p90|p95|p99|max|rate)$/;

  // A boolean KPI has a rate; a numeric one has a mean and percentiles.
  function kpiCharts(keys, s, chart) {
    const names = new Set();
    for (const k of keys) {
      const m = KPI_STAT.exec(k);
      if (m) names.add(m[1]);
    }
    return [...names].sort().map((name) => {
      const p = `kpi.${name}.`;
      if (keys.has(`${p}rate`)) return chart(`kpi.${name}`, `KPI ${name}`, 'ratio', 'line', [s(`${p}rate`, 'rate')]);
      return chart(`kpi.${name}`, `KPI ${name}`, 'number', 'line',
        ['mean', 'p50', 'p90', 'p95', 'p99', 'max'].map((x) => s(p + x, x)));
    });
  }

  // ---- Layout ------------------------------------------------------------------------------
  function makeCard(spec) {
    const card = document.createElement('section');
    card.className = 'card';
    card.dataset.card = spec.id;
    const h = document.createElement('h3');
    h.textContent = spec.title;
    const legend = document.createElement('ul');
    legend.className = 'legend';
    const plot = document.createElement('div');
    plot.className = 'plot';
    const tip = document.createElement('div');
    tip.className = 'tooltip';
    tip.hidden = true;
    tip.setAttribute('role', 'status');
    card.append(h, legend, plot, tip);
    return card;
  }

  function draw() {
    const {summary, metrics, dimensions} = last;
    for (const dim of DIMENSIONS) fillSelect(dim, dimensions[dim]);
    drawTiles(summary.totals || {});
    drawAlerts(summary.alerts || []);

    // Without group_by there is one series; its points are the chart data.
    const points = (metrics.series && metrics.series[0] && metrics.series[0].points) || [];
    const view = {from: metrics.from, to: metrics.to, step: metrics.step_ms};
    const main = $('#charts');
    main.textContent = '';
    for (const section of buildSections(points, summary)) {
      const box = document.createElement('section');
      box.className = 'group';
      const h = document.createElement('h2');
      h.textContent = section.title;
      const grid = document.createElement('div');
      grid.className = 'grid';
      box.append(h, grid);
      main.appendChild(box);
      if (section.charts.length === 0) {
        const p = document.createElement('p');
        p.className = 'note';
        p.textContent = section.note;
        grid.appendChild(p);
      }
      // Cards go into the page before drawing: the SVG takes the width the card gets.
      const cards = section.charts.map((spec) => [grid.appendChild(makeCard(spec)), spec]);
      for (const [card, spec] of cards) PharosChart.render(card, spec, view);
    }
    const s = metrics.step_ms;
    $('#stepinfo').textContent = `${PharosChart.formatTime(metrics.from)} – ` +
      `${PharosChart.formatTime(metrics.to)}, one point per ${s % HOUR === 0 ? s / HOUR + ' h' : s / MINUTE + ' min'}`;
  }

  // Alerts firing now; their shape is the alerter's, so show a name when there is one.
  function drawAlerts(alerts) {
    const box = $('#alerts');
    box.hidden = alerts.length === 0;
    box.textContent = alerts.length ? `${alerts.length} alert(s) firing: ` : '';
    box.append(alerts.map((a) => (typeof a === 'string' ? a : a.name || a.rule || JSON.stringify(a))).join('; '));
  }

  // ---- Start -------------------------------------------------------------------------------
  function start() {
    const problems = readURL();
    syncControls();
    wireControls();
    if (problems.length) {
      // Shown, then the default view is loaded: a bad link should not mean an empty page.
      showBanner(problems.join('; '));
      writeURL();
      load().then(() => {
        if (document.body.dataset.state === 'ready') showBanner(problems.join('; '));
      });
      return;
    }
    load();
  }

  start();
})();
