// Parse a CSV or JSON-lines file in the browser into the body of POST /projects/{name}/runs.
//
// CSV follows mixopt's export layout: weight.<domain>, metric.<name>, fidelity.<key>, tag.<key> (JSON),
// external_id, status, cost, trajectory (JSON), weights_sum; server-side columns (id, created_at, ...)
// are skipped. Columns named exactly like a domain count as weights too (the RegMix layout).
// Every parsed run remembers its line in the file, so the server's "runs[17].weights" can be shown as a line.

/** RFC 4180 CSV: quoted fields may hold commas, doubled quotes and newlines. Returns {rows, lines}. */
export function parseCsv(text) {
  // Hand-written: the dashboard has no build step or npm dependencies, and this is a small state machine.
  const rows = [];
  const lines = [];
  let row = [];
  let fieldText = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        fieldText += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        fieldText += c;
      }
    } else if (c === '"' && fieldText === '') quoted = true;
    else if (c === ',') {
      row.push(fieldText);
      fieldText = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(fieldText);
      if (row.length > 1 || row[0] !== '') {
        rows.push(row);
        lines.push(rowLine);
      }
      row = [];
      fieldText = '';
      line++;
      rowLine = line;
    } else fieldText += c;
  }
  if (fieldText !== '' || row.length) {
    row.push(fieldText);
    rows.push(row);
    lines.push(rowLine);
  }
  if (quoted) throw new Error(`line ${rowLine}: a quoted field is not closed`);
  return { rows, lines };
}

const SERVER_COLUMNS = new Set(['id', 'proposal_id', 'created_at', 'updated_at', 'lease_expires_at']);
const SERVER_KEYS = ['id', 'weights_sum', 'proposal_id', 'lease_expires_at', 'created_at', 'updated_at'];

/** A number when the cell is one; the raw text otherwise, so the server names the bad cell. */
function cellNumber(text) {
  const t = text.trim();
  if (t === '') return undefined;
  const v = Number(t);
  return Number.isFinite(v) ? v : t;
}

function cellJson(text, what, line) {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`line ${line}: ${what} is not valid JSON`);
  }
}

export function runsFromCsv(text, domains) {
  const { rows, lines } = parseCsv(text.replace(/^\uFEFF/, ''));
  if (rows.length < 2) throw new Error('the CSV has no data rows');
  const header = rows[0].map((c) => c.trim());
  const domainSet = new Set(domains);
  const exported = header.some((c) => c.startsWith('weight.'));
  const weightCol = (c) => (exported ? (c.startsWith('weight.') ? c.slice(7) : null) : domainSet.has(c) ? c : null);
  const unknown = header.filter((c) => c && !weightCol(c) && !/^(metric|fidelity|tag)\./.test(c)
    && !['external_id', 'status', 'cost', 'trajectory', 'weights_sum'].includes(c) && !SERVER_COLUMNS.has(c));
  if (!header.some((c) => weightCol(c))) {
    throw new Error(`no weight columns: expected weight.<domain> (e.g. weight.${domains[0]}) or columns named after the domains`);
  }
  const runs = [];
  for (let r = 1; r < rows.length; r++) {
    const cells = rows[r];
    const line = lines[r];
    if (cells.length !== header.length) throw new Error(`line ${line}: ${cells.length} cells, the header has ${header.length}`);
    const run = { weights: {}, metrics: {}, fidelity: {} };
    let rawSum;
    header.forEach((col, j) => {
      const cell = cells[j];
      const d = weightCol(col);
      const v = cellNumber(cell);
      if (d) {
        if (v !== undefined) run.weights[d] = v;
      } else if (col.startsWith('metric.')) {
        if (v !== undefined) run.metrics[col.slice(7)] = v;
      } else if (col.startsWith('fidelity.')) {
        if (v !== undefined) run.fidelity[col.slice(9)] = v;
      } else if (col.startsWith('tag.')) {
        if (cell.trim() !== '') (run.tags ||= {})[col.slice(4)] = cellJson(cell, col, line);
      } else if (col === 'external_id' || col === 'status') {
        if (cell.trim() !== '') run[col] = cell.trim();
      } else if (col === 'cost') {
        if (v !== undefined) run.cost = v;
      } else if (col === 'trajectory') {
        if (cell.trim() !== '') run.trajectory = cellJson(cell, 'trajectory', line);
      } else if (col === 'weights_sum') {
        rawSum = v;
      }
    });
    // The export holds normalized weights and the raw sum: send back what was originally sent.
    if (typeof rawSum === 'number' && rawSum > 0) {
      for (const d of Object.keys(run.weights)) if (typeof run.weights[d] === 'number') run.weights[d] *= rawSum;
    }
    if (!Object.keys(run.metrics).length && !run.status) delete run.metrics;
    runs.push({ run, line });
  }
  return { runs, ignored: unknown };
}

export function runsFromJsonl(text) {
  const runs = [];
  const ignored = new Set();
  text.split(/\r?\n/).forEach((raw, i) => {
    if (!raw.trim()) return;
    let obj;
    try {
      obj = JSON.parse(raw);
    } catch (err) {
      throw new Error(`line ${i + 1}: not valid JSON (${err.message})`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error(`line ${i + 1}: expected a JSON object`);
    for (const k of SERVER_KEYS) {
      if (k in obj) {
        ignored.add(k);
        delete obj[k];
      }
    }
    for (const k of ['external_id', 'cost', 'trajectory', 'status']) if (obj[k] === null) delete obj[k];
    runs.push({ run: obj, line: i + 1 });
  });
  if (!runs.length) throw new Error('the file holds no runs');
  return { runs, ignored: [...ignored] };
}

/** Parse by file name (.jsonl / .ndjson / .json -> JSON lines, else CSV). */
export function parseRunsFile(name, text, domains) {
  return /\.(jsonl|ndjson|json)$/i.test(name) ? runsFromJsonl(text) : runsFromCsv(text, domains);
}

/** "runs[17].weights.web" -> "line 19" for the parsed runs of a file. */
export function lineOf(parsed, loc) {
  const m = /^runs\[(\d+)\]/.exec(loc || '');
  if (!m) return null;
  const item = parsed[Number(m[1])];
  return item ? `line ${item.line}` : null;
}
