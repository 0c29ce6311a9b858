// Defaults a researcher expects: the project's default mixer (a project setting on the server, set by the
// winner of a comparison; else regmix), and the fidelity the runs were trained at (the one with the most
// completed runs), never the target by accident.
import { api } from './api.js';
import { fidelityKey } from './dom.js';

/** project name -> its default_mixer as last read from or written to the server (null: none chosen). */
const chosen = new Map();

/** Note a project as read from the server (its `default_mixer` setting). */
export function rememberProject(project) {
  if (project?.name) chosen.set(project.name, project.default_mixer ?? null);
}

/** The mixer that won `evaluation` (highest Spearman, then lowest regret), or null. */
export function winner(evaluation) {
  const ok = (evaluation?.results || []).filter((r) => !r.error && typeof r.spearman === 'number');
  ok.sort((a, b) => b.spearman - a.spearman || (a.regret ?? Infinity) - (b.regret ?? Infinity));
  return ok[0]?.mixer ?? null;
}

/**
 * Make the winner of the project's last comparison its default mixer (PATCH /projects/{name}); resolves with
 * the project as saved, or null when there is no winner. Until it is saved the default is already the winner.
 */
export async function rememberComparison(project, evaluation) {
  const best = winner(evaluation);
  if (!best) return null;
  chosen.set(project, best);
  const saved = await api.patchProject(project, { default_mixer: best });
  rememberProject(saved);
  return saved;
}

/** The project's default mixer setting (`project`: a name or a project object), or null. */
export function lastWinner(project) {
  const name = typeof project === 'string' ? project : project?.name;
  if (chosen.has(name)) return chosen.get(name);
  return typeof project === 'object' ? project?.default_mixer ?? null : null;
}

/**
 * The default among `offline` mixers ([{name}]): the project's default mixer, else regmix, else the first
 * that can answer (`available`: a Set of names, or null when unknown), else the first.
 */
export function defaultMixer(project, offline, available = null) {
  const names = offline.map((m) => m.name);
  const usable = (n) => names.includes(n) && (!available || available.has(n));
  const last = lastWinner(project);
  if (last && usable(last)) return { name: last, why: 'the project’s default mixer' };
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
