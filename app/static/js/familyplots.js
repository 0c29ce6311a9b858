// Plotly figures for projects whose domains come in families: mixtures as stacked bars, one bar per mixture and one
// segment per domain in family order, the legend grouped by outermost family (a click on a family's title hides or
// shows all of its members).
import { domainColor, domainGroup, domainLabel, legendGroup } from './palette.js';
import { axis, baseLayout, draw } from './plots.js';

/**
 * Mixtures `series` [{name, weights}] as horizontal stacked bars over `domains` (display order). Each domain's trace
 * carries its family's legend group (plotly's legendgroup / legendgrouptitle) and its family's total in the hover.
 */
export function mixtureStack(el, domains, series) {
  const names = series.map((s) => s.name);
  const groupTotal = (s, g) => domains.filter((d) => domainGroup(d) === g).reduce((t, d) => t + (s.weights[d] ?? 0), 0);
  const data = domains.map((d, i) => {
    const g = domainGroup(d);
    const opens = i === 0 || g !== domainGroup(domains[i - 1]);
    return {
      type: 'bar', orientation: 'h', name: domainLabel(d), y: names, x: series.map((s) => s.weights[d] ?? 0),
      marker: { color: domainColor(d), line: { color: '#fff', width: 0.5 } }, ...legendGroup(d, opens),
      customdata: series.map((s) => (g === null ? s.weights[d] ?? 0 : groupTotal(s, g))), meta: { domain: d, family: g },
      hovertemplate: `%{y}<br>${domainLabel(d)}: %{x:.4f}<br>${g === null ? 'no family' : `${g} in all: %{customdata:.4f}`}<extra></extra>`,
    };
  });
  // A run from an earlier domain set may weigh domains the set no longer has: grey segments after the others.
  const known = new Set(domains);
  const gone = [...new Set(series.flatMap((s) => Object.keys(s.weights).filter((d) => !known.has(d) && s.weights[d] > 0)))];
  gone.forEach((d, i) => data.push({
    type: 'bar', orientation: 'h', name: `${d} (earlier set)`, y: names, x: series.map((s) => s.weights[d] ?? 0),
    marker: { color: i % 2 ? '#cbd5e1' : '#94a3b8', line: { color: '#fff', width: 0.5 } }, meta: { domain: d, family: null, gone: true },
    hovertemplate: `%{y}<br>${d} (no longer a domain): %{x:.4f}<extra></extra>`,
  }));
  const legendRows = Math.ceil((domains.length + gone.length) / 4) + new Set(domains.map(domainGroup)).size;
  const layout = baseLayout({
    barmode: 'stack', bargap: 0.3,
    height: 110 + 34 * series.length + 18 * legendRows,
    margin: { l: 10, r: 16, t: 12, b: 30 },
    xaxis: axis('', { range: [0, 1], tickformat: '.0%' }),
    yaxis: axis('', { automargin: true, tickfont: { size: 11 }, autorange: 'reversed' }),
    showlegend: true,
    legend: { orientation: 'h', x: 0, y: -0.12, yanchor: 'top', traceorder: 'grouped', groupclick: 'togglegroup', font: { size: 11 } },
  });
  return draw(el, data, layout);
}
