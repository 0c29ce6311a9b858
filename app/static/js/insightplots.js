// Figures of the insight panels (what drives the objective) and of the mixer comparison's spread over folds.
// Drawn through plots.js's draw, so they share its plotly loading and toolbar settings.
import { num } from './dom.js';
import { domainLabel } from './palette.js';
import { ACCENT, draw, ensurePlotly, seriesColor } from './plots.js';

const FONT = { family: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif', size: 12, color: '#1f2937' };

function layout(extra = {}) {
  return {
    font: FONT, paper_bgcolor: '#fff', plot_bgcolor: '#fff', hovermode: 'closest',
    margin: { l: 56, r: 16, t: 16, b: 44 }, showlegend: false, ...extra,
  };
}

function axis(title, extra = {}) {
  return { title: { text: title, font: { size: 11 } }, gridcolor: '#eef0f3', zerolinecolor: '#d5d9e0', automargin: true, ...extra };
}

/** Importance shares, most important on top: `entries` [{domain, value}] sorted descending. */
export function importanceBars(el, entries) {
  const shown = [...entries].reverse();
  const data = [{
    type: 'bar', orientation: 'h', y: shown.map((e) => domainLabel(e.domain)), x: shown.map((e) => e.value),
    marker: { color: ACCENT }, text: shown.map((e) => `${(100 * e.value).toFixed(1)}%`), textposition: 'outside',
    cliponaxis: false, customdata: shown.map((e) => e.domain),
    hovertemplate: '%{customdata}<br>share of importance %{x:.3f}<extra></extra>',
  }];
  return draw(el, data, layout({
    height: 70 + 20 * entries.length, margin: { l: 10, r: 48, t: 10, b: 40 },
    xaxis: axis('share of importance', { rangemode: 'tozero', tickformat: '.0%' }),
    yaxis: axis('', { tickfont: { size: 11 } }),
  }));
}

/** Partial dependence: the mean prediction over the grid, with a ±1 sd band when the mixer gives one. */
export function partialDependence(el, pd, yTitle) {
  const data = [];
  const hasStd = pd.std.every((s) => typeof s === 'number');
  if (hasStd) {
    const upper = pd.mean.map((m, i) => m + pd.std[i]);
    const lower = pd.mean.map((m, i) => m - pd.std[i]);
    data.push({
      type: 'scatter', mode: 'lines', x: [...pd.grid, ...[...pd.grid].reverse()], y: [...upper, ...lower.reverse()],
      fill: 'toself', fillcolor: 'rgba(79,70,229,0.15)', line: { width: 0 }, hoverinfo: 'skip', name: '±1 sd',
    });
  }
  data.push({
    type: 'scatter', mode: 'lines+markers', x: pd.grid, y: pd.mean, name: 'mean prediction',
    line: { color: ACCENT, width: 2 }, marker: { size: 4 },
    customdata: pd.std.map((s) => (typeof s === 'number' ? ` ± ${num(s, 3)}` : '')),
    hovertemplate: `${pd.domain} weight %{x:.4f}<br>predicted %{y:.5g}%{customdata}<extra></extra>`,
  });
  return draw(el, data, layout({
    height: 300, xaxis: axis(`weight of ${domainLabel(pd.domain)}`), yaxis: axis(`predicted ${yTitle}`),
  }));
}

/** Parallel coordinates over runs: one axis per domain of `domains`, the objective last and as the colour. */
export async function parallelRuns(el, domains, points, yTitle, minimize) {
  const values = points.map((p) => p.value);
  const dims = domains.map((d) => ({
    label: domainLabel(d), values: points.map((p) => p.run.weights[d] ?? 0),
  }));
  dims.push({ label: yTitle, values });
  const data = [{
    type: 'parcoords', dimensions: dims,
    line: {
      color: values, colorscale: 'Viridis', reversescale: minimize, showscale: true,
      colorbar: { title: { text: yTitle, side: 'right' }, thickness: 12 },
    },
    labelfont: { size: 11 }, tickfont: { size: 10 },
  }];
  const Plotly = await ensurePlotly();
  // A fresh plot each time. The first WebGL context of a page can fail to start while Chromium's GPU process
  // comes up (seen with software WebGL), which plotly shows as "WebGL is not supported": a few later tries
  // draw it.
  for (let attempt = 0; attempt < 5; attempt += 1) {
    if (attempt) await new Promise((resolve) => { setTimeout(resolve, 500 * attempt); });
    if (!el.isConnected) return;
    Plotly.purge(el);
    try {
      await draw(el, data, layout({ height: 380, margin: { l: 48, r: 72, t: 56, b: 24 } }));
    } catch {
      // plotly rejects when WebGL failed to start; its message is in el
    }
    if (!el.querySelector('.no-webgl')) return;
  }
}

/**
 * Spread of each mixer's Spearman over the folds: every fold as a point and the mean with ±1 standard error
 * bars. `results` carry `folds` [{fold, spearman}] and `spearman_se`.
 */
export function foldSpread(el, results, colors) {
  const data = [];
  results.forEach((r, i) => {
    const color = colors ? colors[i] : seriesColor(i);
    const folds = (r.folds || []).filter((f) => typeof f.spearman === 'number');
    data.push({
      type: 'scatter', mode: 'markers', name: `${r.mixer} folds`, x: folds.map(() => r.mixer), y: folds.map((f) => f.spearman),
      marker: { color, size: 7, opacity: 0.45 }, text: folds.map((f) => `fold ${f.fold} (${f.n} runs)`),
      hovertemplate: `${r.mixer} %{text}<br>Spearman %{y:.4f}<extra></extra>`,
    });
    const mean = folds.length ? folds.reduce((a, f) => a + f.spearman, 0) / folds.length : r.spearman;
    data.push({
      type: 'scatter', mode: 'markers', name: `${r.mixer} mean`, x: [r.mixer], y: [mean],
      marker: { color, size: 13, symbol: 'diamond', line: { color: '#111827', width: 1 } },
      error_y: typeof r.spearman_se === 'number' ? { type: 'data', array: [r.spearman_se], color: '#111827', thickness: 1.5, width: 8 } : undefined,
      hovertemplate: `${r.mixer}<br>mean over folds %{y:.4f}${typeof r.spearman_se === 'number' ? ` ± ${num(r.spearman_se, 3)} (1 se)` : ''}<extra></extra>`,
    });
  });
  return draw(el, data, layout({
    height: 300, xaxis: axis(''), yaxis: axis('Spearman ρ per fold (↑ better)'),
  }));
}
