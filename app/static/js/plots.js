// Plotly figures of the dashboard. plotly.js (served from the installed plotly Python package) is loaded
// the first time a figure is drawn, so views without plots (projects, runs, import) open fast.
import { num } from './dom.js';
import { domainColor, domainLabel } from './palette.js';

const PLOTLY_SRC = '/static/vendor/plotly.min.js';
let plotlyPromise = null;

/** Load plotly.js once; resolves with the Plotly global. */
export function ensurePlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  plotlyPromise ||= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = PLOTLY_SRC;
    script.onload = () => resolve(window.Plotly);
    script.onerror = () => {
      plotlyPromise = null;
      reject(new Error(`could not load ${PLOTLY_SRC}`));
    };
    document.head.append(script);
  });
  return plotlyPromise;
}

export const ACCENT = '#4f46e5';
export const BEST = '#e11d48';
export const MUTED = '#94a3b8';

const SERIES = ['#4f46e5', '#0d9488', '#d97706', '#db2777', '#65a30d', '#0284c7', '#9333ea', '#dc2626'];

/** The colour of series number `i` where series are not domains (mixers, proposed runs). */
export function seriesColor(i) {
  return SERIES[i % SERIES.length];
}

const FONT = { family: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif', size: 12, color: '#1f2937' };

export function baseLayout(extra = {}) {
  return {
    font: FONT,
    paper_bgcolor: '#fff',
    plot_bgcolor: '#fff',
    margin: { l: 56, r: 16, t: 28, b: 44 },
    hovermode: 'closest',
    hoverlabel: { font: { family: FONT.family, size: 12 } },
    legend: { orientation: 'h', x: 0, y: 1.12, font: { size: 11 } },
    ...extra,
  };
}

export function axis(title, extra = {}) {
  return { title: { text: title, font: { size: 11 } }, gridcolor: '#eef0f3', zerolinecolor: '#d5d9e0', automargin: true, ...extra };
}

/**
 * The one plotly config of every figure: no plotly logo, no cloud export (plotly.js's "Share chart…" button would
 * upload the figure's data to plotly.js's default `plotlyServerURL`, cloud.plotly.com: both are switched off), no lasso/select
 * tools; figures follow their container's width. The toolbar (modebar) sits in a strip above the figure
 * (css/app.css: .plot), so it never covers a legend or a subplot title.
 */
export const CONFIG = Object.freeze({
  displaylogo: false,
  responsive: true,
  showSendToCloud: false,
  plotlyServerURL: '',
  modeBarButtonsToRemove: ['lasso2d', 'select2d', 'autoScale2d', 'sendChartToCloud', 'sendDataToCloud'],
  toImageButtonOptions: { format: 'png', scale: 2 },
});

/**
 * Scatters with more points than this are binned (a heatmap of counts or of the mean objective per cell) or thinned,
 * never drawn as one SVG marker per point. WebGL traces (scattergl) are not used: browsers on software rendering
 * (virtual machines, remote desktops, headless CI) get plotly's "WebGL is not supported" box instead of a chart.
 */
export const MANY_POINTS = 2000;

/** The weight grid bins its panels above this many markers in all (runs x domains): 39 x 900 SVG markers take seconds. */
export const MANY_MARKERS = 10000;

/** Whether objectiveVsWeights draws `n` runs over `d` domains as densities. */
export function binnedGrid(n, d) {
  return n * d > MANY_MARKERS;
}

// Figures keep their container's width when it changes without a window resize (a grid column reflows, a
// panel opens): one ResizeObserver for every drawn figure, coalesced to one resize per figure and frame.
const resizing = new Set();
let resizeFrame = 0;
const sizeObserver = typeof ResizeObserver === 'undefined' ? null : new ResizeObserver((entries) => {
  for (const e of entries) {
    const el = e.target;
    if (el._mixoptWidth === Math.round(e.contentRect.width)) continue;
    el._mixoptWidth = Math.round(e.contentRect.width);
    resizing.add(el);
  }
  if (resizing.size && !resizeFrame) {
    resizeFrame = requestAnimationFrame(() => {
      resizeFrame = 0;
      for (const el of resizing) if (el.isConnected && el._fullLayout && window.Plotly) window.Plotly.Plots.resize(el);
      resizing.clear();
    });
  }
});

/**
 * Draw (or redraw in place) a figure into `el`. The element's CSS height is the figure's height, so plotly's
 * autosize (on resize) keeps it instead of shrinking the figure to the element's min-height.
 */
export async function draw(el, data, layout) {
  const Plotly = await ensurePlotly();
  const height = layout.height || 450;
  el.style.height = `${height}px`;
  const out = await Plotly.react(el, data, { ...layout, height }, CONFIG);
  if (sizeObserver && !el._mixoptObserved) {
    el._mixoptObserved = true;
    el._mixoptWidth = Math.round(el.clientWidth);
    sizeObserver.observe(el);
  }
  return out;
}

/**
 * Draws figures one per task, those on screen first, so a view with many charts never holds the main thread
 * for all of them at once. `add(el, fn)` queues `fn` (which draws into `el`; a later add for the same element
 * replaces it); `done()` resolves when the queue is empty; `cancel()` drops what is left (when a view unmounts).
 */
export function drawQueue() {
  const jobs = new Map();
  const visible = new Set();
  const observer = typeof IntersectionObserver === 'undefined' ? null : new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (e.isIntersecting) visible.add(e.target);
      else visible.delete(e.target);
    }
  }, { rootMargin: '100px' });
  let timer = null;
  let running = false;
  let stopped = false;
  let idle = [];
  const settle = () => {
    if (jobs.size || running) return;
    for (const resolve of idle) resolve();
    idle = [];
  };
  const schedule = () => {
    if (!timer && !running && !stopped && jobs.size) timer = setTimeout(pump, 0);
  };
  async function pump() {
    timer = null;
    const els = [...jobs.keys()];
    const el = els.find((x) => visible.has(x)) || els[0];
    if (!el || stopped) return;
    const job = jobs.get(el);
    jobs.delete(el);
    running = true;
    const start = performance.now();
    try {
      await job();
      // A user-timing entry per chart ("draw #plot-weights"), for profiles and the dashboard_scale benchmark.
      performance.measure(`draw #${el.id || 'plot'}`, { start });
    } catch (err) {
      console.error(err);
    } finally {
      running = false;
    }
    schedule();
    settle();
  }
  return {
    add(el, fn) {
      if (stopped) return;
      if (observer) observer.observe(el);
      jobs.set(el, fn);
      schedule();
    },
    done() {
      return new Promise((resolve) => {
        idle.push(resolve);
        settle();
      });
    },
    cancel() {
      stopped = true;
      clearTimeout(timer);
      if (observer) observer.disconnect();
      jobs.clear();
    },
  };
}

export function purge(root) {
  if (!window.Plotly) return;
  for (const el of root.querySelectorAll('.js-plotly-plot')) {
    if (sizeObserver) sizeObserver.unobserve(el);
    el._mixoptObserved = false;
    window.Plotly.purge(el);
  }
}

/** Mean of y in `bins` quantile bins of x: a trend line that reads through the scatter. */
function binnedTrend(xs, ys, bins = 10) {
  // Typed arrays and a plain loop: this runs once per domain panel, 39 x 10,000 points at scale.
  const n = xs.length;
  const xv = Float64Array.from(xs);
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i += 1) idx[i] = i;
  idx.sort((a, b) => xv[a] - xv[b] || a - b);
  const size = Math.max(Math.floor(n / bins), 1);
  const tx = [];
  const ty = [];
  for (let start = 0; start < n; start += size) {
    const end = Math.min(start + size, n);
    if (end - start < size / 2) break;
    let sx = 0;
    let sy = 0;
    for (let k = start; k < end; k += 1) {
      sx += xv[idx[k]];
      sy += ys[idx[k]];
    }
    tx.push(sx / (end - start));
    ty.push(sy / (end - start));
  }
  return { x: tx, y: ty };
}

/** Where the "0" bucket sits on a log weight axis: a decade below the smallest positive weight. */
export function zeroPosition(xs) {
  const pos = xs.filter((x) => x > 0);
  const lo = pos.length ? Math.min(...pos) : 1e-3;
  return 10 ** (Math.floor(Math.log10(lo)) - 1);
}

/**
 * Counts of points in a grid of bins: `xs`, `ys` (n) in bin space, `xEdges` (nx + 1), `yEdges` (ny + 1) evenly
 * spaced. Returns z (ny rows of nx counts) with null for empty bins (drawn transparent).
 */
function binCounts(xs, ys, xEdges, yEdges) {
  const nx = xEdges.length - 1;
  const ny = yEdges.length - 1;
  const z = Array.from({ length: ny }, () => new Array(nx).fill(null));
  const dx = (xEdges[nx] - xEdges[0]) / nx || 1;
  const dy = (yEdges[ny] - yEdges[0]) / ny || 1;
  for (let k = 0; k < xs.length; k += 1) {
    const i = Math.min(nx - 1, Math.max(0, Math.floor((xs[k] - xEdges[0]) / dx)));
    const j = Math.min(ny - 1, Math.max(0, Math.floor((ys[k] - yEdges[0]) / dy)));
    z[j][i] = (z[j][i] || 0) + 1;
  }
  return z;
}

/** `bins + 1` evenly spaced edges from `lo` to `hi` (a small span around lo when they are equal). */
function edges(lo, hi, bins) {
  const span = hi > lo ? hi - lo : Math.abs(lo) * 0.01 || 1;
  return Array.from({ length: bins + 1 }, (_, i) => lo + (span * i) / bins);
}

/**
 * One panel's runs as a density: counts of runs in 24 weight bins (log-spaced with `logx`, the "0" bucket a column
 * of its own at `zero`) x the shared objective bins `yEdges`, in the domain's colour.
 */
function densityTrace(d, raw, ys, yEdges, logx, zero, suffix, first) {
  const pos = raw.filter((x) => x > 0);
  let xEdges;
  let z;
  if (logx) {
    const lo = pos.length ? Math.log10(Math.min(...pos)) : Math.log10(zero) + 1;
    const hi = pos.length ? Math.log10(Math.max(...pos)) : lo;
    const inner = edges(lo, hi, 24);
    // The "0" bucket: one column around `zero`, then an empty column up to the smallest positive weight.
    xEdges = [Math.log10(zero) - 0.25, Math.log10(zero) + 0.25, ...inner];
    const posIdx = raw.map((_, k) => k).filter((k) => raw[k] > 0);
    const zeroIdx = raw.map((_, k) => k).filter((k) => !(raw[k] > 0));
    const zPos = binCounts(posIdx.map((k) => Math.log10(raw[k])), posIdx.map((k) => ys[k]), inner, yEdges);
    const zZero = binCounts(zeroIdx.map(() => 0), zeroIdx.map((k) => ys[k]), [-1, 1], yEdges);
    z = zPos.map((row, j) => [zZero[j][0], null, ...row]);
  } else {
    xEdges = edges(0, Math.max(...raw, 0), 24);
    z = binCounts(raw, ys, xEdges, yEdges);
  }
  return {
    type: 'heatmap', x: logx ? xEdges.map((e) => 10 ** e) : xEdges, y: yEdges, z, xaxis: `x${suffix}`, yaxis: `y${suffix}`,
    name: 'runs (density)', legendgroup: 'runs', showlegend: first, showscale: false, zmin: 0,
    colorscale: [[0, '#f1f5f9'], [1, domainColor(d)]], hoverongaps: false,
    hovertemplate: `%{z} runs<br>${domainLabel(d)} ≈ %{x:.3g}<br>objective ≈ %{y:.4f}<extra></extra>`,
  };
}

/**
 * Objective against each domain's weight, one small panel per domain, shared y axis.
 * `points`: [{run, value}]; `best`: the best point or null. With `logx`, runs where the domain's weight is 0
 * are drawn in a separate "0" bucket left of the log axis (with their own mean), not dropped. Above MANY_MARKERS
 * markers in all (binnedGrid) each panel shows the runs' density (a heatmap of counts in weight x objective bins) instead of one
 * marker per run: 39 panels of 10,000 SVG markers froze the page for tens of seconds.
 */
export function objectiveVsWeights(el, domains, points, best, yTitle, { columns = 4, logx = false, rowHeight = 200 } = {}) {
  const n = domains.length;
  const cols = Math.min(columns, n);
  const rows = Math.ceil(n / cols);
  const data = [];
  const layout = baseLayout({
    grid: { rows, columns: cols, pattern: 'independent', xgap: cols > 2 ? 0.06 : 0.12, ygap: 0.3 },
    height: 40 + rows * rowHeight,
    showlegend: false,
    margin: { l: 60, r: 12, t: 28, b: 30 },
    annotations: [],
    shapes: [],
  });
  const label = (r) => r.external_id || `#${r.id}`;
  const dense = binnedGrid(points.length, domains.length);
  const allYs = points.map((p) => p.value);
  const yEdges = dense ? edges(Math.min(...allYs), Math.max(...allYs), 24) : null;
  domains.forEach((d, i) => {
    const suffix = i === 0 ? '' : String(i + 1);
    const raw = points.map((p) => p.run.weights[d] ?? 0);
    const ys = allYs;
    const zero = logx ? zeroPosition(raw) : 0;
    const xs = logx ? raw.map((x) => (x > 0 ? x : zero)) : raw;
    if (dense) data.push(densityTrace(d, raw, ys, yEdges, logx, zero, suffix, i === 0));
    else {
      data.push({
        type: 'scatter', mode: 'markers', x: xs, y: ys, xaxis: `x${suffix}`, yaxis: `y${suffix}`,
        name: 'runs', legendgroup: 'runs', showlegend: i === 0,
        marker: { size: 4, color: domainColor(d), opacity: 0.5 },
        text: points.map((p) => label(p.run)),
        customdata: raw,
        hovertemplate: `%{text}<br>${domainLabel(d)}: %{customdata:.4g}<br>objective: %{y:.4f}<extra></extra>`,
      });
    }
    const positive = raw.map((x, k) => k).filter((k) => !logx || raw[k] > 0);
    const trend = binnedTrend(positive.map((k) => (logx ? Math.log10(raw[k]) : raw[k])), positive.map((k) => ys[k]));
    data.push({
      type: 'scatter', mode: 'lines', x: logx ? trend.x.map((x) => 10 ** x) : trend.x, y: trend.y,
      xaxis: `x${suffix}`, yaxis: `y${suffix}`, name: 'binned mean', legendgroup: 'trend', showlegend: i === 0,
      line: { color: '#111827', width: 1.5 }, hoverinfo: 'skip',
    });
    const zeros = raw.map((x, k) => k).filter((k) => raw[k] <= 0);
    if (logx && zeros.length) {
      const mean = zeros.reduce((a, k) => a + ys[k], 0) / zeros.length;
      data.push({
        type: 'scatter', mode: 'markers', x: [zero], y: [mean], xaxis: `x${suffix}`, yaxis: `y${suffix}`,
        name: 'mean at weight 0', legendgroup: 'trend', showlegend: false,
        marker: { symbol: 'line-ew-open', size: 16, color: '#111827', line: { width: 2, color: '#111827' } },
        hovertemplate: `${zeros.length} runs without ${domainLabel(d)}<br>mean objective: %{y:.4f}<extra></extra>`,
      });
      layout.shapes.push({
        type: 'line', xref: `x${suffix}`, yref: `y${suffix} domain`, x0: zero * 10 ** 0.5, x1: zero * 10 ** 0.5, y0: 0, y1: 1,
        line: { color: '#cbd5e1', width: 1, dash: 'dot' },
      });
    }
    if (best) {
      const bw = best.run.weights[d] ?? 0;
      data.push({
        type: 'scatter', mode: 'markers', x: [logx && bw <= 0 ? zero : bw], y: [best.value],
        xaxis: `x${suffix}`, yaxis: `y${suffix}`, name: 'best run', legendgroup: 'best', showlegend: i === 0,
        marker: { size: 11, color: BEST, symbol: 'star', line: { color: '#fff', width: 1 } },
        customdata: [bw],
        hovertemplate: `best ${label(best.run)}<br>${domainLabel(d)}: %{customdata:.4g}<br>objective: %{y:.4f}<extra></extra>`,
      });
    }
    // No automargin on the grid's axes: with dozens of subplots each automargin pass redraws the whole figure.
    let xaxis = axis('', { type: 'linear', tickfont: { size: 10 }, automargin: false });
    if (logx) {
      const lo = Math.log10(zero);
      const ticks = [];
      for (let e = Math.ceil(lo) + 1; e <= 0; e += 1) ticks.push(10 ** e);
      const every = Math.max(1, Math.ceil(ticks.length / 4));
      const shown = ticks.filter((_, k) => (ticks.length - 1 - k) % every === 0);
      xaxis = axis('', {
        type: 'log', range: [lo - 0.35, 0.05], tickfont: { size: 10 }, automargin: false,
        tickvals: [zero, ...shown], ticktext: ['0', ...shown.map((t) => num(t, 1))],
      });
    }
    layout[`xaxis${suffix}`] = xaxis;
    layout[`yaxis${suffix}`] = axis(i % cols === 0 ? yTitle : '', { matches: i === 0 ? undefined : 'y', tickfont: { size: 10 }, automargin: false });
    layout.annotations.push({
      text: `<b>${domainLabel(d)}</b>`, xref: `x${suffix} domain`, yref: `y${suffix} domain`, x: 0.5, y: 1.02,
      xanchor: 'center', yanchor: 'bottom', showarrow: false, font: { size: 11 },
    });
  });
  return draw(el, data, layout);
}

/** The corners of a step line: the points at `idx` (where it changes) and the last point. */
function stepPoints(xs, ys, idx) {
  const keep = idx.at(-1) === xs.length - 1 ? idx : [...idx, xs.length - 1];
  return { x: keep.map((i) => xs[i]), y: keep.map((i) => ys[i]) };
}

/**
 * Best objective so far against run count (`mode = 'runs'`) or cumulative cost (`mode = 'cost'`), one line per
 * fidelity (a value at one scale is never the best of another): `points` [{run, value}] in completion order,
 * `label(fidelity)` names a line. Every run is a dot in its fidelity's colour; the x axis counts all runs.
 */
export function bestSoFar(el, points, sgn, mode, yTitle, { label = (fid) => JSON.stringify(fid), key = (fid) => JSON.stringify(fid) } = {}) {
  let xs;
  let pts = points;
  if (mode === 'cost') {
    pts = points.filter((p) => typeof p.run.cost === 'number');
    let total = 0;
    xs = pts.map((p) => (total += p.run.cost));
  } else {
    xs = pts.map((_, i) => i + 1);
  }
  const groups = new Map();
  pts.forEach((p, i) => {
    const k = key(p.run.fidelity);
    if (!groups.has(k)) groups.set(k, { fidelity: p.run.fidelity, idx: [] });
    groups.get(k).idx.push(i);
  });
  const last = xs.length ? xs[xs.length - 1] : null;
  const data = [];
  [...groups.values()].forEach((g, n) => {
    const color = seriesColor(n);
    const name = label(g.fidelity);
    let best = Infinity;
    const improved = [];
    const gx = g.idx.map((i) => xs[i]);
    const bestY = g.idx.map((i, j) => {
      if (sgn * pts[i].value < best) improved.push(j);
      best = Math.min(best, sgn * pts[i].value);
      return best * sgn;
    });
    // Many runs: every k-th run's marker, plus every run that set a new best (the line stays exact).
    const every = Math.max(1, Math.ceil(g.idx.length / MANY_POINTS));
    const shown = every === 1 ? g.idx.map((_, j) => j)
      : [...new Set([...g.idx.map((_, j) => j).filter((j) => j % every === 0), ...improved])].sort((a, b) => a - b);
    data.push({
      type: 'scatter', mode: 'markers', x: shown.map((j) => gx[j]), y: shown.map((j) => pts[g.idx[j]].value),
      name: every === 1 ? `runs at ${name}` : `runs at ${name} (1 in ${every} shown)`,
      text: shown.map((j) => pts[g.idx[j]].run.external_id || `#${pts[g.idx[j]].run.id}`),
      legendgroup: name, showlegend: false, marker: { size: 4, color, opacity: 0.35 },
      hovertemplate: `%{text} at ${name}<br>%{y:.4f}<extra></extra>`,
    });
    // A step line needs only the runs where the best changed (exact, and short at 10,000 runs); it runs on to
    // the last x so that a fidelity whose runs stopped still shows its best.
    const line = every === 1 ? { x: gx, y: bestY } : stepPoints(gx, bestY, improved);
    if (last !== null && line.x[line.x.length - 1] !== last) {
      line.x = [...line.x, last];
      line.y = [...line.y, line.y[line.y.length - 1]];
    }
    data.push({
      type: 'scatter', mode: 'lines', ...line,
      name: `best at ${name}`, legendgroup: name, line: { color, width: 2.5, shape: 'hv' },
      meta: { fidelity: g.fidelity },
      hovertemplate: `best at ${name}: %{y:.4f}<extra></extra>`,
    });
  });
  const layout = baseLayout({
    height: 320,
    xaxis: axis(mode === 'cost' ? 'cumulative cost (all fidelities)' : 'runs completed (all fidelities)'),
    yaxis: axis(yTitle),
    showlegend: true,
  });
  return draw(el, data, layout);
}

/** Horizontal grouped bars: one group per domain, one bar per series [{name, weights, color}]. */
export function mixtureBars(el, domains, series, { log = false } = {}) {
  const ys = [...domains].reverse();
  const data = series.map((s) => ({
    type: 'bar', orientation: 'h', name: s.name, y: ys.map(domainLabel), x: ys.map((d) => s.weights[d] ?? 0),
    marker: { color: s.color }, hovertemplate: `${s.name}<br>%{y}: %{x:.4f}<extra></extra>`,
  }));
  const layout = baseLayout({
    barmode: 'group', bargap: 0.25, bargroupgap: 0.05,
    height: 90 + domains.length * (12 + 9 * series.length),
    margin: { l: 10, r: 16, t: 36, b: 40 },
    xaxis: axis('weight', log ? { type: 'log' } : { rangemode: 'tozero' }),
    yaxis: axis('', { automargin: true, tickfont: { size: 11 } }),
    legend: { orientation: 'h', x: 0, y: 1.0, yanchor: 'bottom', font: { size: 11 } },
  });
  return draw(el, data, layout);
}

/** Cross-validated predicted against actual, one colour per mixer, with the y = x line. */
export function predictedVsActual(el, results, idLabel, colors = null) {
  const all = results.flatMap((r) => r.actual.concat(r.predicted.filter((v) => v !== null)));
  const pad = 0.04 * (Math.max(...all) - Math.min(...all) || 1);
  const lo = Math.min(...all) - pad;
  const hi = Math.max(...all) + pad;
  const data = results.map((r, i) => ({
    type: 'scatter', mode: 'markers', name: r.mixer, x: r.actual, y: r.predicted,
    text: r.run_ids.map(idLabel), marker: { size: 5, color: colors ? colors[i] : seriesColor(i), opacity: 0.6 },
    hovertemplate: `${r.mixer} %{text}<br>actual %{x:.4f}<br>predicted %{y:.4f}<extra></extra>`,
  }));
  data.push({
    type: 'scatter', mode: 'lines', x: [lo, hi], y: [lo, hi], name: 'y = x', hoverinfo: 'skip',
    line: { color: '#64748b', dash: 'dash', width: 1 },
  });
  const layout = baseLayout({
    height: 440, xaxis: axis('actual (held-out fold)', { range: [lo, hi] }), yaxis: axis('predicted', { range: [lo, hi] }),
  });
  return draw(el, data, layout);
}

/** Spearman (higher is better) and regret of the top pick (lower is better), one bar per mixer. */
export function mixerScores(el, results, colors = null) {
  const names = results.map((r) => r.mixer);
  colors ||= results.map((_, i) => seriesColor(i));
  const width = results.length < 3 ? 0.35 : undefined;
  const data = [
    {
      type: 'bar', x: names, y: results.map((r) => r.spearman), marker: { color: colors }, name: 'Spearman', width,
      text: results.map((r) => num(r.spearman, 3)), textposition: 'outside', cliponaxis: false,
      hovertemplate: '%{x}<br>Spearman %{y:.4f}<extra></extra>',
    },
    {
      type: 'bar', x: names, y: results.map((r) => r.regret), marker: { color: colors }, name: 'regret', width,
      xaxis: 'x2', yaxis: 'y2', text: results.map((r) => num(r.regret, 3)), textposition: 'outside', cliponaxis: false,
      hovertemplate: '%{x}<br>regret %{y:.4g}<extra></extra>',
    },
  ];
  const layout = baseLayout({
    height: 320, showlegend: false,
    grid: { rows: 1, columns: 2, pattern: 'independent', xgap: 0.18 },
    xaxis: axis(''), yaxis: axis('Spearman ρ (↑ better)', { range: [Math.min(0, ...results.map((r) => r.spearman ?? 0)), 1.08] }),
    xaxis2: axis(''), yaxis2: axis('regret of top pick (↓ better)', { rangemode: 'tozero' }),
  });
  return draw(el, data, layout);
}

/** Points [{x, y, value}] as a heatmap of the mean value per cell (nx x ny cells), counts in the hover. */
function meanGrid(pts, valueTitle, minimize, colorbar, nx = 60, ny = 40) {
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const xEdges = edges(Math.min(...xs), Math.max(...xs), nx);
  const yEdges = edges(Math.min(...ys), Math.max(...ys), ny);
  const sum = Array.from({ length: ny }, () => new Array(nx).fill(0));
  const count = binCounts(xs, ys, xEdges, yEdges);
  const dx = (xEdges[nx] - xEdges[0]) / nx;
  const dy = (yEdges[ny] - yEdges[0]) / ny;
  pts.forEach((p) => {
    const i = Math.min(nx - 1, Math.max(0, Math.floor((p.x - xEdges[0]) / dx)));
    const j = Math.min(ny - 1, Math.max(0, Math.floor((p.y - yEdges[0]) / dy)));
    sum[j][i] += p.value;
  });
  const z = sum.map((row, j) => row.map((v, i) => (count[j][i] ? v / count[j][i] : null)));
  return {
    type: 'heatmap', name: `completed runs (mean per cell, ${pts.length})`, x: xEdges, y: yEdges, z,
    text: count.map((row) => row.map((c) => c || 0)), colorscale: 'Viridis', reversescale: minimize, colorbar,
    hoverongaps: false, showlegend: true,
    hovertemplate: `%{text} runs<br>mean ${valueTitle}: %{z:.4f}<extra></extra>`,
  };
}

/**
 * The mixture map. `pts`: completed runs [{x, y, value, text}] (ternary: {a, b, c}); `marks`: [{name, x, y
 * | a, b, c, text, symbol, color, size}] drawn on top (pending proposals, the best run, the recommendation).
 * `axes`: {x, y} titles (PCA) or {a, b, c} (ternary). Colour is the objective, the best end bright.
 */
export function mixtureMap(el, pts, marks, axes, { ternary = false, minimize = true, valueTitle = 'objective' } = {}) {
  const coords = (list) => (ternary ? { a: list.map((p) => p.a), b: list.map((p) => p.b), c: list.map((p) => p.c) } : { x: list.map((p) => p.x), y: list.map((p) => p.y) });
  const type = ternary ? 'scatterternary' : 'scatter';
  const colorbar = { title: { text: valueTitle, side: 'right', font: { size: 11 } }, thickness: 12, len: 0.8 };
  const data = [];
  if (!ternary && pts.length > MANY_POINTS) {
    // Many runs: the mean objective in each cell of a 60 x 40 grid over the map (the marks on top stay points).
    data.push(meanGrid(pts, valueTitle, minimize, colorbar));
  } else {
    data.push({
      type, mode: 'markers', name: 'completed runs', ...coords(pts), text: pts.map((p) => p.text),
      marker: { size: 6, color: pts.map((p) => p.value), colorscale: 'Viridis', reversescale: minimize, opacity: 0.8, colorbar },
      hovertemplate: `%{text}<br>${valueTitle}: %{marker.color:.4f}<extra></extra>`,
    });
  }
  for (const m of marks) {
    if (!m.points.length) continue;
    data.push({
      type: ternary ? 'scatterternary' : 'scatter', mode: 'markers', name: m.name, ...coords(m.points), text: m.points.map((p) => p.text),
      marker: { symbol: m.symbol, size: m.size || 12, color: m.color, line: { color: m.line || '#fff', width: m.lineWidth ?? 1.5 } },
      hovertemplate: `${m.name}<br>%{text}<extra></extra>`,
    });
  }
  const layout = baseLayout({
    height: 460,
    legend: { orientation: 'h', x: 0, y: -0.12, font: { size: 11 } },
    margin: { l: 56, r: 16, t: 16, b: 40 },
  });
  if (ternary) {
    layout.ternary = {
      sum: 1, aaxis: { title: { text: axes.a }, min: 0 }, baxis: { title: { text: axes.b }, min: 0 }, caxis: { title: { text: axes.c }, min: 0 },
    };
    layout.margin = { l: 40, r: 40, t: 40, b: 40 };
  } else {
    layout.xaxis = axis(axes.x, { zeroline: false });
    layout.yaxis = axis(axes.y, { zeroline: false });
  }
  return draw(el, data, layout);
}

/** Trajectories overlaid: one line per run [{name, color, points: [{step, <metric>: value}]}] for `metric`. */
export function trajectories(el, series, metric) {
  const data = series.map((s) => {
    const pts = s.points.filter((p) => typeof p[metric] === 'number').sort((a, b) => a.step - b.step);
    return {
      type: 'scatter', mode: 'lines+markers', name: s.name, x: pts.map((p) => p.step), y: pts.map((p) => p[metric]),
      line: { color: s.color, width: 1.8 }, marker: { size: 4, color: s.color },
      hovertemplate: `${s.name}<br>step %{x}: %{y:.4f}<extra></extra>`,
    };
  });
  const layout = baseLayout({ height: 320, xaxis: axis('step'), yaxis: axis(metric.split('/').pop()), legend: { orientation: 'h', x: 0, y: 1.12 } });
  return draw(el, data, layout);
}
