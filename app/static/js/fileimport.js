// Import runs from a file: the server reads it (POST /projects/{name}/runs:import), the one reader that the CLI's
// `mixopt import` and the API share. CSV in mixopt's export layout (weight.<domain>, metric.<name>, ...) or the
// RegMix layout, or JSON lines of run objects. The server's problems name runs[i] and the line of the file.
import { api } from './api.js';

/** Post the file; with `preview` the server only reads it and answers what it holds, writing nothing. */
export function importFile(projectName, file, { preview = false } = {}) {
  const form = new FormData();
  form.append('file', file, file.name);
  if (preview) form.append('preview', 'true');
  return api.importRuns(projectName, form);
}

/** For a problem box: an item's location -> "line 19", from the lines the server gives the items of a file. */
export function lineLabel(err) {
  const lines = new Map(((err.problem || {}).errors || []).filter((e) => e.line != null).map((e) => [e.loc, e.line]));
  return (loc) => (lines.has(loc) ? `line ${lines.get(loc)}` : null);
}

/** "6 runs, 1 metrics, 1 fidelity": what the import's answer says the file holds. */
export function fileSummary(answer) {
  const n = answer.fidelities.length;
  return `${answer.rows} runs, ${answer.metrics.length} metrics, ${n} fidelit${n === 1 ? 'y' : 'ies'}`;
}
