// What the views compute from a project and its runs: objective values, the prior, the best run.
import { mapWeights } from './domainmap.js';
import { registerDomains } from './palette.js';

export const OPEN = new Set(['pending', 'running']);

/** The project's domains in display order (grouped by source), the same order in every view. */
export function domainNames(project) {
  return registerDomains(project.domains.map((d) => d.name));
}

/** The objective of a run's metrics (weighted sum), or null when a metric is missing. */
export function objectiveValue(project, metrics) {
  let total = 0;
  for (const [name, coef] of Object.entries(project.objective.metrics || {})) {
    const v = metrics?.[name];
    if (typeof v !== 'number') return null;
    total += coef * v;
  }
  return total;
}

/** +1 when smaller is better, -1 otherwise: best = min(sign * value). */
export function sign(project) {
  return project.objective.direction === 'maximize' ? -1 : 1;
}

export function objectiveLabel(project) {
  const m = project.objective.metrics || {};
  const names = Object.keys(m);
  if (names.length === 1 && m[names[0]] === 1) return names[0];
  return names.map((n) => (m[n] === 1 ? n : `${m[n]}·${n}`)).join(' + ');
}

/** The token-share prior: tokens / sum(tokens), uniform when some domain has no token count. */
export function prior(project) {
  const t = project.domains.map((d) => d.tokens);
  if (t.some((x) => !x)) return Object.fromEntries(project.domains.map((d) => [d.name, 1 / t.length]));
  const total = t.reduce((a, b) => a + b, 0);
  return Object.fromEntries(project.domains.map((d) => [d.name, d.tokens / total]));
}

/** The completed run with the best objective, or null. */
export function bestRun(project, runs) {
  const s = sign(project);
  let best = null;
  let bestValue = Infinity;
  for (const r of runs) {
    if (r.status !== 'completed') continue;
    const v = objectiveValue(project, r.metrics);
    if (v !== null && s * v < bestValue) {
      bestValue = s * v;
      best = r;
    }
  }
  return best;
}

/** Completed runs with an objective value, in the order they were created. */
export function scored(project, runs) {
  return runs
    .filter((r) => r.status === 'completed')
    .map((r) => ({ run: r, value: objectiveValue(project, r.metrics) }))
    .filter((x) => x.value !== null)
    // ISO timestamps order as plain strings; localeCompare took ~100 ms at 10,000 runs.
    .sort((a, b) => cmp(a.run.created_at || '', b.run.created_at || '') || a.run.id - b.run.id);
}

function cmp(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

// The open project's domain-set versions ({name, current, versions: [{version, change}]}), for inCurrentSet.
let domainVersions = null;

/** Make `versions` (GET …/domains/versions items, oldest first) the open project's; null for none. */
export function registerVersions(project, versions) {
  domainVersions = versions ? { name: project.name, current: project.domain_version ?? 1, versions } : null;
}

const mapped = new WeakMap(); // run object -> its mapping (runs are replaced, not changed, when they update)

/** A run's weights in the current domain set: {weights (null when dropped), how: exact | assumed | dropped, reason}. */
export function currentWeights(project, run) {
  const v = run.domain_version ?? 1;
  if (!domainVersions || domainVersions.name !== project.name || v >= domainVersions.current) return { weights: run.weights, how: 'exact', reason: '' };
  if (!mapped.has(run)) {
    const changes = domainVersions.versions.filter((x) => x.version > v && x.change).map((x) => x.change);
    mapped.set(run, mapWeights(run.weights, changes));
  }
  return mapped.get(run);
}

/**
 * Points [{run, value}] with each run's weights in the current domain set, as the mixers read them: runs from earlier
 * versions mapped (their `run.mapped` says how), those that cannot be (trained on a removed domain) left out.
 * Returns {points, counts: {exact, assumed, dropped}} where counts cover the runs of earlier versions only.
 */
export function inCurrentSet(project, points) {
  const counts = { exact: 0, assumed: 0, dropped: 0 };
  const out = [];
  for (const p of points) {
    const m = currentWeights(project, p.run);
    if (m.weights === p.run.weights) {
      out.push(p);
      continue;
    }
    counts[m.how] += 1;
    if (m.weights) out.push({ ...p, run: { ...p.run, weights: m.weights, mapped: m.how } });
  }
  return { points: out, counts };
}
