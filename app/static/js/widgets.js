// Small pieces several views show: a mixture as a stacked bar, the domain legend, a lease countdown.
import { clockSkewMs } from './api.js';
import { duration, fidelityLabel, h, pct } from './dom.js';
import { domainColor, domainGroup, domainLabel, familyColor } from './palette.js';

/** A mixture as one stacked bar (colours follow the project's domain order). */
export function mixtureBar(weights, domains) {
  // A run from an earlier domain set may weigh domains the project no longer has: they follow, in grey.
  const gone = Object.keys(weights).filter((d) => weights[d] > 0 && !domains.includes(d));
  if (gone.length) domains = [...domains, ...gone];
  const top = domains.map((d) => [d, weights[d] ?? 0]).sort((a, b) => b[1] - a[1]);
  const title = top.filter((x) => x[1] >= 0.005).slice(0, 8).map(([d, w]) => `${domainLabel(d)} ${pct(w)}`).join('\n');
  return h('div', { class: 'mixbar', title },
    domains.map((d) => {
      const w = weights[d] ?? 0;
      return w > 0.002 ? h('span', { style: { width: `${100 * w}%`, background: domainColor(d) } }) : null;
    }));
}

/** The domains' colours; with families, one group per outermost family, titled with it (data-family). */
export function domainLegend(domains) {
  const item = (d) => h('span', { title: d, dataset: { domain: d } }, h('i', { style: { background: domainColor(d) } }), domainLabel(d));
  if (!domains.some((d) => domainGroup(d) !== null)) return h('div', { class: 'legend' }, domains.map(item));
  const groups = new Map();
  for (const d of domains) {
    const g = domainGroup(d) ?? '';
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(d);
  }
  return h('div', { class: 'legend grouped' }, [...groups].map(([g, members]) => h('div', { class: 'legend-group', dataset: { family: g } },
    g ? h('b', { class: 'legend-title', style: { color: familyColor(g) } }, g) : null, members.map(item))));
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

/** Orders of magnitude from the largest observed fidelity up to `fid` (max over shared keys), or null. */
function ordersAbove(fid, observed) {
  let most = null;
  for (const [k, v] of Object.entries(fid || {})) {
    const seen = observed.map((o) => o[k]).filter((x) => typeof x === 'number' && x > 0);
    if (!seen.length || !(v > 0)) continue;
    const up = Math.log10(v / Math.max(...seen));
    most = most === null ? up : Math.max(most, up);
  }
  return most;
}

const TRANSFER_TEXT = {
  observed: 'observed: runs exist at this fidelity',
  assumed: 'assumed: ranks carried over from another fidelity, with no model of the shift',
  extrapolated: 'extrapolated: a model fitted across fidelities, beyond the runs',
  unobserved: 'no completed run at this fidelity; the number is not from runs there',
};

/**
 * The fidelity a number is for and how it relates to the runs (`info` from transferOf), as a line under
 * the number, plus a visible warning when it is extrapolated or no run backs it.
 */
export function transferBadge(info, runs, id = null) {
  const observed = runs.filter((r) => r.status === 'completed').map((r) => r.fidelity);
  const ups = ordersAbove(info.fidelity, observed);
  const kind = info.transfer || 'unobserved';
  const warn = kind === 'extrapolated' || kind === 'unobserved' || kind === 'assumed';
  const detail = TRANSFER_TEXT[kind] || kind;
  const scale = ups !== null && ups >= 0.5 ? ` (${ups.toFixed(ups >= 10 ? 0 : 1)} orders of magnitude above the largest run)` : '';
  return h('div', { class: `transfer transfer-${kind}`, id, dataset: { transfer: kind } },
    h('span', { class: 'transfer-fid' }, 'at ', h('code', {}, fidelityLabel(info.fidelity))),
    h('span', { class: `transfer-tag tag-${kind}` }, kind),
    h('span', { class: warn ? 'transfer-why warn-text' : 'transfer-why muted' }, `${detail}${warn ? scale : ''}`));
}
