// The HTTP API (/api/v1): JSON in and out, RFC 9457 problems as ApiError, bearer token on demand.
import { askToken } from './auth.js';

const TOKEN_KEY = 'mixopt.token';
const BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || { status, title: `HTTP ${status}` };
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function headers(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

/** Server clock minus browser clock, in ms, from the last response's Date header (lease countdowns). */
export let clockSkewMs = 0;

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

let pendingPrompt = null;

/** Ask the user for a token once, however many requests hit 401 at the same time. */
async function obtainToken(problem) {
  if (!pendingPrompt) {
    const rejected = token() !== null;
    pendingPrompt = askToken(rejected ? `The token was rejected: ${problem?.detail || 'unauthorized'}` : null)
      .then((t) => { sessionStorage.setItem(TOKEN_KEY, t); })
      .finally(() => { pendingPrompt = null; });
  }
  return pendingPrompt;
}

/** `body` is sent as JSON, `form` (a FormData) as multipart/form-data. */
export async function request(method, path, { body, form, params, signal, raw = false } = {}) {
  const url = (path.startsWith('/') && !path.startsWith(BASE) ? BASE + path : path) + query(params);
  for (;;) {
    const sentToken = token();
    const resp = await fetch(url, {
      method,
      headers: headers(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      body: body !== undefined ? JSON.stringify(body) : form,
      signal,
    });
    const date = resp.headers.get('Date');
    if (date) clockSkewMs = new Date(date).getTime() - Date.now();
    if (resp.status === 401) {
      // Another request may have stored a fresh token meanwhile; only ask when ours was the one refused.
      if (token() === sentToken) await obtainToken(await readProblem(resp));
      continue;
    }
    if (!resp.ok) throw new ApiError(resp.status, await readProblem(resp));
    if (raw) return resp;
    return resp.status === 204 ? null : resp.json();
  }
}

async function readProblem(resp) {
  try {
    return await resp.json();
  } catch {
    return { status: resp.status, title: resp.statusText || `HTTP ${resp.status}` };
  }
}

const enc = encodeURIComponent;

export const api = {
  projects: (params) => request('GET', '/projects', { params: { max_results: 1000, ...params } }),
  project: (name) => request('GET', `/projects/${enc(name)}`),
  patchProject: (name, body) => request('PATCH', `/projects/${enc(name)}`, { body }),
  changeDomains: (name, change) => request('PATCH', `/projects/${enc(name)}/domains`, { body: change }),
  domainVersions: (name) => request('GET', `/projects/${enc(name)}/domains/versions`),
  runs: (name, params, signal) => request('GET', `/projects/${enc(name)}/runs`, { params, signal }),
  run: (name, id) => request('GET', `/projects/${enc(name)}/runs/${id}`),
  ingest: (name, runs) => request('POST', `/projects/${enc(name)}/runs`, { body: { runs } }),
  importRuns: (name, form) => request('POST', `/projects/${enc(name)}/runs:import`, { form }),
  mixers: () => request('GET', '/mixers'),
  projectMixers: (name) => request('GET', `/projects/${enc(name)}/mixers`),
  recommend: (name, body) => request('POST', `/projects/${enc(name)}/recommendations`, { body }),
  propose: (name, body) => request('POST', `/projects/${enc(name)}/proposals`, { body }),
  predict: (name, body, signal) => request('POST', `/projects/${enc(name)}/predictions`, { body, signal }),
  evaluate: (name, body) => request('POST', `/projects/${enc(name)}/evaluations`, { body }),
  recommendations: (name, params) => request('GET', `/projects/${enc(name)}/recommendations`, { params }),
  evaluations: (name, params) => request('GET', `/projects/${enc(name)}/evaluations`, { params }),
  recommendation: (name, id) => request('GET', `/projects/${enc(name)}/recommendations/${id}`),
  evaluation: (name, id) => request('GET', `/projects/${enc(name)}/evaluations/${id}`),
  sessions: (name) => request('GET', `/projects/${enc(name)}/sessions`),
  session: (id) => request('GET', `/sessions/${id}`),
  exportUrl: (name, format) => `${BASE}/projects/${enc(name)}/export?format=${format}`,
};

/** Download an export; goes through fetch when a token must be sent (a plain link cannot carry it). */
export async function download(url, filename) {
  const resp = await request('GET', url, { raw: true });
  const blob = await resp.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}
