// Plotly figures of the dashboard. plotly.js (served from the installed plotly Python package) is loaded
// the first time a figure is drawn, so views without plots (projects, runs, import) open fast.
import { num } from './dom.js';

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

const PALETTE = [
  '#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac',
  '#1f77b4', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#aec7e8',
];
export const ACCENT = '#4f46e5';
export const BEST = '#e11d48';
export const MUTED = '#94a3b8';

const SERIES = ['#4f46e5', '#0d9488', '#d97706', '#db2777', '#65a30d', '#0284c7', '#9333ea', '#dc2626'];

/** The colour of domain number `i` (the same in every view). */
export function color(i) {
  return PALETTE[i % PALETTE.length];
}

/** The colour of series number `i` where series are not domains (mixers, proposed runs). */
export function seriesColor(i) {
  return SERIES[i % SERIES.length];
}

const FONT = { family: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif', size: 12, color: '#1f2937' };

function baseLayout(extra = {}) {
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

function axis(title, extra = {}) {
  return { title: { text: title, font: { size: 11 } }, gridcolor: '#eef0f3', zerolinecolor: '#d5d9e0', automargin: true, ...extra };
}

const CONFIG = {
  displaylogo: false,
  responsive: true,
  modeBarButtonsToRemove: ['lasso2d', 'select2d', 'autoScale2d'],
  toImageButtonOptions: { format: 'png', scale: 2 },
};

/** Draw (or redraw in place) a figure into `el`. */
export async function draw(el, data, layout) {
  const Plotly = await ensurePlotly();
  return Plotly.react(el, data, layout, CONFIG);
}

export function purge(root) {
  if (!window.Plotly) return;
  for (const el of root.querySelectorAll('.js-plotly-plot')) window.Plotly.purge(el);
}

/** Mean of y in `bins` quantile bins of x: a trend line that reads through the scatter. */
function binnedTrend(xs, ys, bins = 10) {
  const idx = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
  const size = Math.max(Math.floor(idx.length / bins), 1);
  const tx = [];
  const ty = [];
  for (let start = 0; start < idx.length; start += size) {
    const chunk = idx.slice(start, start + size);
    if (chunk.length < size / 2) break;
    tx.push(chunk.reduce((s, i) => s + xs[i], 0) / chunk.length);
    ty.push(chunk.reduce((s, i) => s + ys[i], 0) / chunk.length);
  }
  return { x: tx, y: ty };
}

/**
 * Objective against each domain's weight, one small panel per domain, shared y axis.
 * `points`: [{run, value}]; `best`: the best run or null.
 */
export function objectiveVsWeights(el, domains, points, best, yTitle, { columns = 4, logx = false } = {}) {
  const n = domains.length;
  const cols = Math.min(columns, n);
  const rows = Math.ceil(n / cols);
  const data = [];
  const layout = baseLayout({
    grid: { rows, columns: cols, pattern: 'independent', xgap: 0.06, ygap: 0.22 },
    height: 40 + rows * 200,
    showlegend: false,
    margin: { l: 60, r: 12, t: 28, b: 30 },
    annotations: [],
  });
  const label = (r) => r.external_id || `#${r.id}`;
  domains.forEach((d, i) => {
    const suffix = i === 0 ? '' : String(i + 1);
    const xs = points.map((p) => p.run.weights[d] ?? 0);
    const ys = points.map((p) => p.value);
    data.push({
      type: 'scatter', mode: 'markers', x: xs, y: ys, xaxis: `x${suffix}`, yaxis: `y${suffix}`,
      name: 'runs', legendgroup: 'runs', showlegend: i === 0,
      marker: { size: 4, color: color(i), opacity: 0.5 },
      text: points.map((p) => label(p.run)),
      hovertemplate: `%{text}<br>${d}: %{x:.4f}<br>objective: %{y:.4f}<extra></extra>`,
    });
    const trend = binnedTrend(logx ? xs.map((x) => Math.log10(Math.max(x, 1e-6))) : xs, ys);
    data.push({
      type: 'scatter', mode: 'lines', x: logx ? trend.x.map((x) => 10 ** x) : trend.x, y: trend.y,
      xaxis: `x${suffix}`, yaxis: `y${suffix}`, name: 'binned mean', legendgroup: 'trend', showlegend: i === 0,
      line: { color: '#111827', width: 1.5 }, hoverinfo: 'skip',
    });
    if (best) {
      data.push({
        type: 'scatter', mode: 'markers', x: [best.run.weights[d] ?? 0], y: [best.value],
        xaxis: `x${suffix}`, yaxis: `y${suffix}`, name: 'best run', legendgroup: 'best', showlegend: i === 0,
        marker: { size: 11, color: BEST, symbol: 'star', line: { color: '#fff', width: 1 } },
        hovertemplate: `best ${label(best.run)}<br>${d}: %{x:.4f}<br>objective: %{y:.4f}<extra></extra>`,
      });
    }
    layout[`xaxis${suffix}`] = axis('', { type: logx ? 'log' : 'linear', tickfont: { size: 10 } });
    layout[`yaxis${suffix}`] = axis(i % cols === 0 ? yTitle : '', { matches: i === 0 ? undefined : 'y', tickfont: { size: 10 } });
    layout.annotations.push({
      text: `<b>${d}</b>`, xref: `x${suffix} domain`, yref: `y${suffix} domain`, x: 0.5, y: 1.02,
      xanchor: 'center', yanchor: 'bottom', showarrow: false, font: { size: 11 },
    });
  });
  return draw(el, data, layout);
}

/** Best objective so far against run count (`x = 'runs'`) or cumulative cost (`x = 'cost'`). */
export function bestSoFar(el, points, sgn, mode, yTitle) {
  let xs;
  let pts = points;
  if (mode === 'cost') {
    pts = points.filter((p) => typeof p.run.cost === 'number');
    let total = 0;
    xs = pts.map((p) => (total += p.run.cost));
  } else {
    xs = pts.map((_, i) => i + 1);
  }
  let best = Infinity;
  const bestY = pts.map((p) => (best = Math.min(best, sgn * p.value)) * sgn);
  const text = pts.map((p) => p.run.external_id || `#${p.run.id}`);
  const data = [
    {
      type: 'scatter', mode: 'markers', x: xs, y: pts.map((p) => p.value), name: 'each run', text,
      marker: { size: 4, color: MUTED, opacity: 0.6 },
      hovertemplate: '%{text}<br>%{y:.4f}<extra></extra>',
    },
    {
      type: 'scatter', mode: 'lines', x: xs, y: bestY, name: 'best so far', line: { color: ACCENT, width: 2.5, shape: 'hv' },
      hovertemplate: 'best so far: %{y:.4f}<extra></extra>',
    },
  ];
  const layout = baseLayout({
    height: 320,
    xaxis: axis(mode === 'cost' ? 'cumulative cost' : 'runs completed'),
    yaxis: axis(yTitle),
  });
  return draw(el, data, layout);
}

/** Horizontal grouped bars: one group per domain, one bar per series [{name, weights, color}]. */
export function mixtureBars(el, domains, series, { log = false } = {}) {
  const ys = [...domains].reverse();
  const data = series.map((s) => ({
    type: 'bar', orientation: 'h', name: s.name, y: ys, x: ys.map((d) => s.weights[d] ?? 0),
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
export function predictedVsActual(el, results, idLabel) {
  const all = results.flatMap((r) => r.actual.concat(r.predicted.filter((v) => v !== null)));
  const pad = 0.04 * (Math.max(...all) - Math.min(...all) || 1);
  const lo = Math.min(...all) - pad;
  const hi = Math.max(...all) + pad;
  const data = results.map((r, i) => ({
    type: 'scatter', mode: 'markers', name: r.mixer, x: r.actual, y: r.predicted,
    text: r.run_ids.map(idLabel), marker: { size: 5, color: seriesColor(i), opacity: 0.6 },
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
export function mixerScores(el, results) {
  const names = results.map((r) => r.mixer);
  const colors = results.map((_, i) => seriesColor(i));
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

/** Session: the directive's weights over steps, stacked (each holds until the next directive). */
export function sessionWeights(el, domains, history) {
  const steps = history.map((e) => e.step);
  const last = history.at(-1);
  if (last && last.directive.until_step > last.step) steps.push(last.directive.until_step);
  const w = (d) => {
    const ys = history.map((e) => e.directive.weights[d] ?? 0);
    if (steps.length > ys.length) ys.push(ys.at(-1));
    return ys;
  };
  const data = domains.map((d, i) => ({
    type: 'scatter', mode: 'lines', name: d, x: steps, y: w(d), stackgroup: 'w',
    line: { shape: 'hv', width: 0.5, color: color(i) }, hovertemplate: `${d}: %{y:.3f}<extra></extra>`,
  }));
  const layout = baseLayout({
    height: 360, hovermode: 'x unified', xaxis: axis('step'), yaxis: axis('weight', { range: [0, 1] }),
    legend: { orientation: 'v', x: 1.02, y: 1, font: { size: 10 } }, margin: { l: 56, r: 8, t: 16, b: 44 },
  });
  return draw(el, data, layout);
}

/** Session: each domain's reported validation loss over steps. */
export function sessionLosses(el, domains, history) {
  const reports = history.filter((e) => e.losses);
  const data = domains.map((d, i) => ({
    type: 'scatter', mode: 'lines+markers', name: d, x: reports.map((e) => e.step), y: reports.map((e) => e.losses[d] ?? null),
    line: { color: color(i), width: 1.5 }, marker: { size: 4 }, hovertemplate: `${d}: %{y:.4f}<extra></extra>`,
  }));
  const layout = baseLayout({
    height: 360, hovermode: 'x unified', xaxis: axis('step'), yaxis: axis('validation loss'),
    legend: { orientation: 'v', x: 1.02, y: 1, font: { size: 10 } }, margin: { l: 56, r: 8, t: 16, b: 44 },
  });
  return draw(el, data, layout);
}
