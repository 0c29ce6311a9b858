// What the views compute from a project and its runs: objective values, the prior, the best run.
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
