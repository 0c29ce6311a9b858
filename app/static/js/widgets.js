// Small pieces several views show: a mixture as a stacked bar, the domain legend, a lease countdown.
import { clockSkewMs } from './api.js';
import { duration, h, pct } from './dom.js';
import { color } from './plots.js';

/** A mixture as one stacked bar (colours follow the project's domain order). */
export function mixtureBar(weights, domains) {
  const top = domains.map((d, i) => [d, weights[d] ?? 0, i]).sort((a, b) => b[1] - a[1]);
  const title = top.filter((x) => x[1] >= 0.005).slice(0, 8).map(([d, w]) => `${d} ${pct(w)}`).join('\n');
  return h('div', { class: 'mixbar', title },
    domains.map((d, i) => {
      const w = weights[d] ?? 0;
      return w > 0.002 ? h('span', { style: { width: `${100 * w}%`, background: color(i) } }) : null;
    }));
}

export function domainLegend(domains) {
  return h('div', { class: 'legend' }, domains.map((d, i) => h('span', {}, h('i', { style: { background: color(i) } }), d)));
}

/** "12m 03s left" / "expired 40s ago" for an open run's lease, by the server's clock. */
export function leaseText(run) {
  if (!run.lease_expires_at) return { text: 'no lease', cls: 'muted' };
  const left = new Date(run.lease_expires_at).getTime() - (Date.now() + clockSkewMs);
  if (left <= 0) return { text: `expired ${duration(left)} ago`, cls: 'lease-expired' };
  return { text: `${duration(left)} left`, cls: left < 5 * 60 * 1000 ? 'lease-soon' : 'lease-ok' };
}

export function leaseCell(run) {
  const { text, cls } = leaseText(run);
  return h('span', { class: `lease ${cls}`, dataset: { lease: run.lease_expires_at || '' } }, text);
}

/** Refresh every lease countdown under `root` (called every second). */
export function tickLeases(root) {
  for (const el of root.querySelectorAll('.lease[data-lease]')) {
    if (!el.dataset.lease) continue;
    const { text, cls } = leaseText({ lease_expires_at: el.dataset.lease });
    el.textContent = text;
    el.className = `lease ${cls}`;
  }
}

/** Label a run as people know it: its external id, else #id. */
export function runLabel(run) {
  return run.external_id || `#${run.id}`;
}

/** A table of key / value pairs (diagnostics, summaries); nested values as compact JSON. */
export function kvTable(obj) {
  const fmt = (v) => {
    if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(5)));
    if (v === null || v === undefined) return '—';
    if (typeof v === 'object') return JSON.stringify(v, (_, x) => (typeof x === 'number' && !Number.isInteger(x) ? Number(x.toPrecision(4)) : x));
    return String(v);
  };
  return h('table', { class: 'kv' }, Object.entries(obj || {}).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, fmt(v)))));
}
