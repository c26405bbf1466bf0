// Pharos dashboard: SVG charts drawn by hand, and number formatting.
//
// No chart library: nothing may be loaded from the internet at run time, and a hand-drawn SVG
// lets every point carry the exact number from the API in data attributes (data-t, data-value)
// so the browser test reads values instead of scraping pixels. See docs/dashboard.md.
//
// A classic script (not an ES module) on purpose: it works whatever content type the server
// gives .js files. It defines one global, PharosChart, used by app.js.
'use strict';

const PharosChart = (() => {
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const MINUTE = 60000;
  const HOUR = 60 * MINUTE;
  const DAY = 24 * HOUR;
  const HEIGHT = 200;
  const MARGIN = {top: 10, right: 14, bottom: 24, left: 58};
  // Colour-blind-friendlier palette (Okabe-Ito order, black left out).
  const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00',
    '#7f7f7f', '#f0e442', '#332288', '#88ccee'];
  // Candidate spacings of the time axis ticks; the smallest that fits the width is used.
  const TIME_TICKS = [MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
    HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY];

  // ---- Formatting --------------------------------------------------------------------------
  // One locale everywhere so the tile text a test may check does not depend on the machine.
  const LOCALE = 'en-US';

  function num(v, maxDigits, minDigits = 0) {
    return v.toLocaleString(LOCALE, {maximumFractionDigits: maxDigits,
      minimumFractionDigits: minDigits});
  }

  // Short axis labels: 1.2k, 3.4M.
  function compact(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return num(v / 1e9, 1) + 'G';
    if (a >= 1e6) return num(v / 1e6, 1) + 'M';
    if (a >= 1e4) return num(v / 1e3, 1) + 'k';
    return num(v, a < 1 ? 3 : 2);
  }

  /**
   * Format a metric value for people. unit: count, ratio (shown as %), ms, s, usd, number.
   * mode: 'axis' (short), 'tile' (readable), 'exact' (tooltips: every digit that matters).
   */
  function formatValue(v, unit, mode = 'exact') {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
    const exact = mode === 'exact';
    switch (unit) {
      case 'count':
        return mode === 'axis' ? compact(v) : num(v, 6);
      case 'ratio':
        if (mode === 'axis') return num(v * 100, 1) + '%';
        return num(v * 100, exact ? 4 : 2) + '%';
      case 'ms':
        if (mode === 'axis') return v >= 1000 ? num(v / 1000, 2) + ' s' : num(v, 0) + ' ms';
        return num(v, exact ? 3 : 1) + ' ms';
      case 's':
        return mode === 'axis' ? compact(v) + ' s' : num(v, exact ? 3 : 2) + ' s';
      case 'usd':
        if (mode === 'axis') return '$' + (Math.abs(v) >= 1e4 ? compact(v) : num(v, v < 1 ? 4 : 2));
        if (exact) return '$' + num(v, 8);
        return '$' + num(v, Math.abs(v) < 1 ? 4 : 2, 2);
      default:
        return mode === 'axis' ? compact(v) : num(v, exact ? 6 : 3);
    }
  }

  function pad2(n) {
    return String(n).padStart(2, '0');
  }

  // Local time: people read the dashboard in their own zone; the API speaks epoch ms.
  function formatTime(t, withDate = true) {
    const d = new Date(t);
    const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
    if (!withDate) return hm;
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${hm}`;
  }

  // ---- Scales and ticks --------------------------------------------------------------------
  // Round numbers for the value axis: 1, 2 or 5 times a power of ten; whole numbers for
  // counts (half a request is not a thing).
  function niceTicks(min, max, count, whole) {
    if (max === min) max = min + 1;
    const raw = (max - min) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    if (whole && step < 1) step = 1;
    const lo = Math.floor(min / step) * step;
    const hi = Math.ceil(max / step) * step;
    const ticks = [];
    // Integer loop index: adding step repeatedly would drift (0.30000000000000004).
    for (let i = 0; lo + i * step <= hi + step / 2; i++) ticks.push(+(lo + i * step).toPrecision(12));
    return {min: lo, max: hi, ticks};
  }

  // Ticks on round local times (whole hours, midnights) rather than on the range's edges.
  function timeTicks(from, to, maxTicks) {
    const span = to - from;
    const every = TIME_TICKS.find((s) => span / s <= maxTicks) || TIME_TICKS[TIME_TICKS.length - 1];
    const offset = new Date(from).getTimezoneOffset() * MINUTE;
    let t = Math.ceil((from - offset) / every) * every + offset;
    const ticks = [];
    for (; t <= to; t += every) ticks.push(t);
    return {every, ticks};
  }

  function timeTickLabel(t, every, span) {
    const d = new Date(t);
    const midnight = d.getHours() === 0 && d.getMinutes() === 0;
    if (every >= DAY || (span > DAY && midnight)) return `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
    return formatTime(t, false);
  }

  // ---- SVG helpers -------------------------------------------------------------------------
  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, content, attrs) {
    const node = el('text', {x, y, ...attrs}, parent);
    node.textContent = content;
    return node;
  }

  // ---- The chart ---------------------------------------------------------------------------
  /**
   * Draw one chart into card (a .card element holding .legend, .plot and .tooltip).
   *
   * spec: {id, title, unit, kind, series: [{key, label, color?, unit?, values: [{t, value}]}]}
   *   kind: 'line'    one line per series; a gap longer than a step breaks the line
   *         'bars'    one bar per point, every series from zero, later ones drawn on top
   *                   (for subsets: errors over requests)
   *         'stack'   stacked bars (label counts, reasons)
   * view: {from, to, step} in ms, from the metrics answer.
   */
  function render(card, spec, view) {
    const plot = card.querySelector('.plot');
    const legend = card.querySelector('.legend');
    const width = Math.max(240, Math.floor(plot.clientWidth || 480));
    const series = spec.series.filter((s) => s.values.length > 0);
    series.forEach((s, i) => {
      s.color = s.color || PALETTE[i % PALETTE.length];
    });

    plot.textContent = '';
    legend.textContent = '';
    const svg = el('svg', {
      'data-chart': spec.id, 'data-kind': spec.kind, role: 'img',
      width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`,
      'aria-label': ariaLabel(spec, series),
    }, plot);
    el('title', {}, svg).textContent = spec.title;

    if (series.length === 0) {
      svg.setAttribute('data-empty', 'true');
      text(svg, width / 2, HEIGHT / 2, 'no data', {class: 'empty', 'text-anchor': 'middle'});
      return;
    }

    for (const s of series) {
      const li = document.createElement('li');
      li.innerHTML = '<span class="swatch"></span>';
      li.firstChild.style.background = s.color;
      li.append(s.label);
      li.dataset.series = s.key;
      legend.appendChild(li);
    }

    const x0 = MARGIN.left;
    const x1 = width - MARGIN.right;
    const y0 = HEIGHT - MARGIN.bottom;
    const y1 = MARGIN.top;
    // Points sit on multiples of the step, so a range that is not (the last hour from 10:07)
    // is widened to whole steps: the first and last bars stay inside the axes.
    const {step} = view;
    const from = Math.floor(view.from / step) * step;
    const to = Math.ceil(view.to / step) * step;
    const xs = (t) => x0 + ((t - from) / (to - from)) * (x1 - x0);

    const [lo, hi] = valueExtent(spec.kind, series);
    const yt = niceTicks(lo, hi, 4, spec.unit === 'count');
    const ys = (v) => y0 - ((v - yt.min) / (yt.max - yt.min)) * (y0 - y1);

    drawAxes(svg, {x0, x1, y0, y1, xs, ys, yt, from, to, width, unit: spec.unit});

    const body = el('g', {class: 'series-layer'}, svg);
    if (spec.kind === 'line') drawLines(body, series, xs, ys, step);
    else drawBars(body, series, xs, ys, step, spec.kind === 'stack', yt.min);

    attachTooltip(card, svg, spec, series, {x0, x1, y0, y1, xs, step});
  }

  function valueExtent(kind, series) {
    let lo = 0;
    let hi = 0;
    if (kind === 'stack') {
      const sums = new Map();
      for (const s of series) {
        for (const p of s.values) sums.set(p.t, (sums.get(p.t) || 0) + Math.max(0, p.value));
      }
      hi = Math.max(0, ...sums.values());
    } else {
      for (const s of series) {
        for (const p of s.values) {
          lo = Math.min(lo, p.value);
          hi = Math.max(hi, p.value);
        }
      }
    }
    return [lo, hi];
  }

  function drawAxes(svg, g) {
    const axes = el('g', {class: 'axes', 'aria-hidden': 'true'}, svg);
    for (const v of g.yt.ticks) {
      const y = g.ys(v);
      el('line', {x1: g.x0, x2: g.x1, y1: y, y2: y, class: v === 0 ? 'zero' : 'gridline'}, axes);
      text(axes, g.x0 - 6, y + 4, formatValue(v, g.unit, 'axis'), {'text-anchor': 'end'});
    }
    const maxTicks = Math.max(2, Math.floor((g.x1 - g.x0) / 64));
    const tt = timeTicks(g.from, g.to, maxTicks);
    for (const t of tt.ticks) {
      const x = g.xs(t);
      el('line', {x1: x, x2: x, y1: g.y0, y2: g.y0 + 4, class: 'tick'}, axes);
      // Labels at the very ends are anchored inwards so the SVG does not clip them.
      const anchor = x > g.x1 - 20 ? 'end' : 'middle';
      text(axes, x, g.y0 + 16, timeTickLabel(t, tt.every, g.to - g.from), {'text-anchor': anchor});
    }
    el('line', {x1: g.x0, x2: g.x1, y1: g.y0, y2: g.y0, class: 'axis'}, axes);
  }

  // Points sit in the middle of their interval [t, t + step) so lines line up with bars.
  function drawLines(body, series, xs, ys, step) {
    for (const s of series) {
      const g = el('g', {'data-series': s.key, class: 'series line'}, body);
      let d = '';
      let prev = null;
      for (const p of s.values) {
        const cmd = prev !== null && p.t - prev <= step ? 'L' : 'M';
        d += `${cmd}${xs(p.t + step / 2).toFixed(1)},${ys(p.value).toFixed(1)}`;
        prev = p.t;
      }
      el('path', {d, fill: 'none', stroke: s.color, 'stroke-width': 1.8}, g);
      // Every point gets a circle (the test reads them), but on a dense line only the ones no
      // segment touches are shown: a lone point would otherwise be invisible.
      const dense = s.values.length > 40;
      s.values.forEach((p, i) => {
        const joined = (i > 0 && p.t - s.values[i - 1].t <= step) ||
          (i + 1 < s.values.length && s.values[i + 1].t - p.t <= step);
        el('circle', {cx: xs(p.t + step / 2).toFixed(1), cy: ys(p.value).toFixed(1), r: 2.2,
          fill: s.color, 'fill-opacity': dense && joined ? 0 : 1,
          'data-t': p.t, 'data-value': p.value}, g);
      });
    }
  }

  function drawBars(body, series, xs, ys, step, stacked, base) {
    const below = new Map(); // t -> top of the stack so far
    const zero = Math.max(base, 0);
    for (const s of series) {
      const g = el('g', {'data-series': s.key, class: 'series bars'}, body);
      for (const p of s.values) {
        const left = xs(p.t);
        const w = Math.max(1, (xs(p.t + step) - left) * 0.8);
        const start = stacked ? below.get(p.t) || zero : zero;
        const end = start + p.value;
        if (stacked) below.set(p.t, end);
        const top = ys(Math.max(start, end));
        const h = Math.max(p.value === 0 ? 0 : 1, Math.abs(ys(start) - ys(end)));
        el('rect', {x: (left + (xs(p.t + step) - left - w) / 2).toFixed(1), y: top.toFixed(1),
          width: w.toFixed(1), height: h.toFixed(1), fill: s.color,
          'data-t': p.t, 'data-value': p.value}, g);
      }
    }
  }

  function ariaLabel(spec, series) {
    if (series.length === 0) return `${spec.title}: no data`;
    const latest = series.map((s) => {
      const p = s.values[s.values.length - 1];
      return `${s.label} ${formatValue(p.value, s.unit || spec.unit, 'tile')}`;
    });
    return `${spec.title}: ${series.length} series; latest values: ${latest.join(', ')}`;
  }

  // ---- Tooltip -----------------------------------------------------------------------------
  // The whole plot area listens, and the nearest interval is shown with every series' exact
  // value, so thin lines and one-pixel bars are as easy to read as fat ones.
  function attachTooltip(card, svg, spec, series, g) {
    const tip = card.querySelector('.tooltip');
    const times = [...new Set(series.flatMap((s) => s.values.map((p) => p.t)))].sort((a, b) => a - b);
    const byKey = series.map((s) => new Map(s.values.map((p) => [p.t, p.value])));
    const guide = el('line', {y1: g.y1, y2: g.y0, class: 'guide', visibility: 'hidden'}, svg);
    const hit = el('rect', {x: g.x0, y: g.y1, width: g.x1 - g.x0, height: g.y0 - g.y1,
      fill: 'transparent', class: 'hit'}, svg);

    function show(ev) {
      const box = svg.getBoundingClientRect();
      const x = ev.clientX - box.left;
      let best = times[0];
      for (const t of times) {
        if (Math.abs(g.xs(t + g.step / 2) - x) < Math.abs(g.xs(best + g.step / 2) - x)) best = t;
      }
      const gx = g.xs(best + g.step / 2);
      guide.setAttribute('x1', gx);
      guide.setAttribute('x2', gx);
      guide.setAttribute('visibility', 'visible');

      tip.textContent = '';
      const head = document.createElement('div');
      head.className = 'tip-time';
      head.textContent = formatTime(best) + (g.step >= MINUTE ? ` (+${stepLabel(g.step)})` : '');
      tip.appendChild(head);
      let total = 0;
      series.forEach((s, i) => {
        const v = byKey[i].get(best);
        if (v === undefined) return;
        total += v;
        const row = document.createElement('div');
        row.innerHTML = '<span class="swatch"></span><span class="tip-label"></span><b></b>';
        row.children[0].style.background = s.color;
        row.children[1].textContent = s.label;
        row.children[2].textContent = formatValue(v, s.unit || spec.unit, 'exact');
        tip.appendChild(row);
      });
      if (spec.kind === 'stack' && series.length > 1) {
        const row = document.createElement('div');
        row.innerHTML = '<span class="tip-label">total</span><b></b>';
        row.children[1].textContent = formatValue(total, spec.unit, 'exact');
        tip.appendChild(row);
      }
      tip.hidden = false;
      // Keep the tooltip inside the card: flip to the left of the cursor near the right edge.
      const cardBox = card.getBoundingClientRect();
      const left = ev.clientX - cardBox.left;
      const flip = left + tip.offsetWidth + 16 > cardBox.width;
      tip.style.left = `${flip ? Math.max(0, left - tip.offsetWidth - 12) : left + 12}px`;
      tip.style.top = `${ev.clientY - cardBox.top + 12}px`;
    }
    function hide() {
      tip.hidden = true;
      guide.setAttribute('visibility', 'hidden');
    }
    hit.addEventListener('pointermove', show);
    hit.addEventListener('pointerdown', show);
    hit.addEventListener('pointerleave', hide);
  }

  function stepLabel(ms) {
    if (ms % DAY === 0) return `${ms / DAY} d`;
    if (ms % HOUR === 0) return `${ms / HOUR} h`;
    if (ms % MINUTE === 0) return `${ms / MINUTE} min`;
    return `${ms} ms`;
  }

  return {render, formatValue, formatTime, PALETTE, MINUTE, HOUR, DAY};
})();
