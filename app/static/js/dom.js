// Small DOM and formatting helpers shared by every view.

/** Create an element: h('div', {class: 'x', onclick: fn}, child, 'text', [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replace the children of `el` (arrays are flattened, null / false skipped). */
export function fill(el, ...children) {
  append(clear(el), children);
  return el;
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** A number with `digits` significant digits, '' for null. */
export function num(x, digits = 4) {
  if (x === null || x === undefined || Number.isNaN(x)) return '';
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 1e6 || abs < 1e-4) return x.toExponential(Math.max(digits - 2, 1)).replace('e+', 'e');
  return String(Number(x.toPrecision(digits)));
}

export function pct(x, digits = 1) {
  return x === null || x === undefined ? '' : `${(100 * x).toFixed(digits)}%`;
}

/** "params=1e6, tokens=1e9" */
export function fidelityLabel(fid) {
  const keys = Object.keys(fid || {}).sort();
  return keys.length ? keys.map((k) => `${k}=${num(fid[k], 3)}`).join(', ') : '—';
}

export function fidelityKey(fid) {
  return Object.keys(fid || {}).sort().map((k) => `${k}=${fid[k]}`).join(',');
}

export function duration(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function dateTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function statusPill(status) {
  return h('span', { class: `pill pill-${status}` }, status);
}

export function toast(message, kind = 'info', ms = 4000) {
  const box = document.getElementById('toasts');
  const el = h('div', { class: `toast toast-${kind}`, role: 'status' }, message);
  box.append(el);
  setTimeout(() => el.classList.add('fade'), ms);
  setTimeout(() => el.remove(), ms + 400);
}

/**
 * An RFC 9457 problem (ApiError) as a readable box: title, detail and the offending items.
 * `locLabel(loc)` may translate a location such as runs[17].weights into words (e.g. a file line).
 */
export function problemBox(err, locLabel = null) {
  const p = err.problem || {};
  const items = (p.errors || []).slice(0, 50);
  return h('div', { class: 'problem', role: 'alert' },
    h('div', { class: 'problem-title' }, `${p.status || err.status || ''} ${p.title || 'Error'}`.trim(),
      p.code ? h('code', { class: 'problem-code' }, p.code) : null),
    h('div', { class: 'problem-detail' }, p.detail || err.message),
    items.length ? h('ul', { class: 'problem-errors' },
      items.map((e) => h('li', {},
        h('code', {}, e.loc),
        locLabel && locLabel(e.loc) ? h('span', { class: 'muted' }, ` (${locLabel(e.loc)})`) : null,
        ` ${e.msg}`))) : null,
    (p.errors || []).length > items.length ? h('div', { class: 'muted' }, `… and ${p.errors.length - items.length} more`) : null);
}

/** A panel with a header line (title + optional right-side tools) and a body. */
export function card(title, body, tools = null, attrs = {}) {
  return h('section', { class: 'card', ...attrs },
    title || tools ? h('div', { class: 'card-head' }, h('h2', {}, title), tools ? h('div', { class: 'tools' }, tools) : null) : null,
    body);
}

export function spinner(label = 'Working…') {
  return h('span', { class: 'spinner-wrap' }, h('span', { class: 'spinner' }), label);
}

/** Run `fn` with `button` disabled and a spinner; returns fn's result. */
export async function busy(button, fn, label = null) {
  const old = button.innerHTML;
  button.disabled = true;
  button.classList.add('busy');
  if (label) button.textContent = label;
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.classList.remove('busy');
    button.innerHTML = old;
  }
}
