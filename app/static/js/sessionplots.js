// Plotly figures of an online session: the weights trained over steps and each domain's validation loss. With
// families, every domain's trace carries its family's legend group (plotly's legend stays off: the page's legend
// is grouped the same way, see widgets.domainLegend).
import { domainColor, domainLabel, legendGroup } from './palette.js';
import { axis, baseLayout, draw } from './plots.js';
import { probeBands, smooth } from './sessiondata.js';

/** Whether domain `i` of `domains` (in display order) is the first of its family: its trace titles the group. */
export function opens(domains, i) {
  return i === 0 || legendGroup(domains[i]).legendgroup !== legendGroup(domains[i - 1]).legendgroup;
}

/**
 * Session: the weights trained over steps, stacked (each stretch holds until the next directive).
 * `stretches` from sessionStretches; with `hideProbes` the probe stretches are left out and drawn as grey
 * bands instead. The legend is the page's (one for both session charts), so plotly's is off.
 */
export function sessionWeights(el, domains, stretches, { hideProbes = false } = {}) {
  const shown = hideProbes ? stretches.filter((s) => !s.probe) : stretches;
  const xs = shown.map((s) => s.start);
  const last = shown.at(-1);
  if (last && last.end > last.start) xs.push(last.end);
  const ys = (d) => {
    const v = shown.map((s) => s.weights[d] ?? 0);
    if (xs.length > v.length) v.push(v.at(-1));
    return v;
  };
  const data = domains.map((d, i) => ({
    type: 'scatter', mode: 'lines', name: domainLabel(d), x: xs, y: ys(d), stackgroup: 'w', ...legendGroup(d, opens(domains, i)),
    line: { shape: 'hv', width: 0.5, color: domainColor(d) }, fillcolor: domainColor(d),
    hovertemplate: `${domainLabel(d)}: %{y:.3f}<extra></extra>`,
  }));
  const bands = hideProbes ? probeBands(stretches).map(([x0, x1]) => ({
    type: 'rect', xref: 'x', yref: 'paper', x0, x1, y0: 0, y1: 1, fillcolor: '#e2e8f0', opacity: 1, line: { width: 0 }, layer: 'above',
  })) : [];
  const layout = baseLayout({
    height: 340, hovermode: 'x unified', showlegend: false, xaxis: axis('step'), yaxis: axis('weight', { range: [0, 1] }),
    margin: { l: 56, r: 12, t: 16, b: 44 }, shapes: bands,
  });
  return draw(el, data, layout);
}

/**
 * Session: each domain's reported validation loss over steps. `reports` from sessionStretches; with
 * `hideProbes` the reports that close a probe stretch are left out; `alpha` smooths (EMA) what is shown,
 * the raw points staying faint behind.
 */
export function sessionLosses(el, domains, reports, { hideProbes = false, alpha = 0 } = {}) {
  const kept = hideProbes ? reports.filter((r) => !r.afterProbe) : reports;
  const x = kept.map((r) => r.step);
  const data = [];
  domains.forEach((d, i) => {
    const raw = kept.map((r) => r.losses[d] ?? null);
    const y = alpha ? smooth(raw, alpha) : raw;
    if (alpha) {
      data.push({
        type: 'scatter', mode: 'lines', name: `${domainLabel(d)} (raw)`, x, y: raw, showlegend: false, hoverinfo: 'skip',
        line: { color: domainColor(d), width: 1 }, opacity: 0.25,
      });
    }
    data.push({
      type: 'scatter', mode: alpha ? 'lines' : 'lines+markers', name: domainLabel(d), x, y, ...legendGroup(d, opens(domains, i)),
      line: { color: domainColor(d), width: 1.5 }, marker: { size: 4, color: domainColor(d) },
      hovertemplate: `${domainLabel(d)}: %{y:.4f}<extra></extra>`, meta: { domain: d, smoothed: Boolean(alpha) },
    });
  });
  const layout = baseLayout({
    height: 340, hovermode: 'x unified', showlegend: false, xaxis: axis('step'), yaxis: axis('validation loss'),
    margin: { l: 56, r: 12, t: 16, b: 44 },
  });
  return draw(el, data, layout);
}
