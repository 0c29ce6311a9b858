// Defaults a researcher expects: the mixer that did best in the project's last comparison (else regmix),
// and the fidelity the runs were trained at (the one with the most completed runs), never the target by
// accident.
import { fidelityKey } from './dom.js';

const BEST_KEY = (project) => `mixopt.bestMixer.${project}`;

/** The mixer that won `evaluation` (highest Spearman, then lowest regret), or null. */
export function winner(evaluation) {
  const ok = (evaluation?.results || []).filter((r) => !r.error && typeof r.spearman === 'number');
  ok.sort((a, b) => b.spearman - a.spearman || (a.regret ?? Infinity) - (b.regret ?? Infinity));
  return ok[0]?.mixer ?? null;
}

/** Remember the winner of the project's last comparison (in this browser). */
export function rememberComparison(project, evaluation) {
  const best = winner(evaluation);
  try {
    if (best) localStorage.setItem(BEST_KEY(project), best);
  } catch {
    // storage disabled: the default stays regmix
  }
  return best;
}

export function lastWinner(project) {
  try {
    return localStorage.getItem(BEST_KEY(project));
  } catch {
    return null;
  }
}

/**
 * The default among `offline` mixers ([{name}]): the last comparison's winner, else regmix, else the first
 * that can answer (`available`: a Set of names, or null when unknown), else the first.
 */
export function defaultMixer(project, offline, available = null) {
  const names = offline.map((m) => m.name);
  const usable = (n) => names.includes(n) && (!available || available.has(n));
  const last = lastWinner(project);
  if (last && usable(last)) return { name: last, why: 'best in this project’s last comparison' };
  if (usable('regmix')) return { name: 'regmix', why: 'the default' };
  const first = names.find(usable) ?? names[0];
  return { name: first, why: available && !available.has(first) ? 'no mixer can answer here' : 'the first that can answer' };
}

/** Fidelities of completed runs with their counts, most runs first: [{key, fidelity, n}]. */
export function runFidelities(runs) {
  const seen = new Map();
  for (const r of runs) {
    if (r.status !== 'completed') continue;
    const k = fidelityKey(r.fidelity);
    const e = seen.get(k) || { key: k, fidelity: r.fidelity, n: 0 };
    e.n += 1;
    seen.set(k, e);
  }
  return [...seen.values()].sort((a, b) => b.n - a.n || a.key.localeCompare(b.key));
}

/** The fidelity with the most completed runs, or null when none has finished. */
export function defaultFidelity(runs) {
  return runFidelities(runs)[0]?.fidelity ?? null;
}

/**
 * How a number relates to the runs: the server's `predicted_fidelity` and `transfer` when it sends them;
 * otherwise the requested fidelity, `observed` when completed runs exist there, else `unobserved`.
 */
export function transferOf(resp, requested, runs) {
  const fidelity = resp?.predicted_fidelity ?? requested ?? null;
  if (resp?.transfer) return { fidelity, transfer: resp.transfer, fromServer: true };
  const keys = new Set(runFidelities(runs).map((f) => f.key));
  return { fidelity, transfer: fidelity && keys.has(fidelityKey(fidelity)) ? 'observed' : 'unobserved', fromServer: false };
}
