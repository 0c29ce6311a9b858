// A view's state in the URL: the query part of the hash route (#/p/<project>/<tab>?key=value&...), so a
// reload, a bookmark or a shared link opens the same filters, sort, selection, mixer and fidelity.
// Writing uses history.replaceState, which fires no hashchange: the view is not re-mounted on every keystroke.

/** The route part of the hash, without its query (e.g. "/p/demo/runs"). */
export function routePath(hash = location.hash) {
  return hash.replace(/^#/, '').split('?')[0];
}

/** The current view's state: a URLSearchParams over the hash's query. */
export function viewState(hash = location.hash) {
  const at = hash.indexOf('?');
  return new URLSearchParams(at < 0 ? '' : hash.slice(at + 1));
}

/** One state value, or `fallback` when the URL has none. */
export function getState(key, fallback = null) {
  const value = viewState().get(key);
  return value === null ? fallback : value;
}

/**
 * Merges `changes` into the URL's state; a null, undefined or '' value removes its key.
 * Arrays are stored comma-separated (read them back with getList).
 */
export function setState(changes) {
  const params = viewState();
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === '' || (Array.isArray(value) && !value.length)) params.delete(key);
    else params.set(key, Array.isArray(value) ? value.join(',') : String(value));
  }
  const query = params.toString();
  const hash = `#${routePath()}${query ? `?${query}` : ''}`;
  if (hash !== location.hash) history.replaceState(history.state, '', hash);
}

/** A comma-separated state value as a list ([] when absent). */
export function getList(key) {
  const value = getState(key);
  return value ? value.split(',').filter(Boolean) : [];
}

/**
 * Keeps a form control in the URL under `key`: its value is read from the URL now (a select only takes a value
 * one of its options has; a 'change' event then lets dependent controls follow) and written back on every change.
 * Checkboxes are stored as 1 / 0. Returns the element.
 */
export function bindInput(el, key) {
  const saved = getState(key);
  if (saved !== null) {
    const ok = el.tagName === 'SELECT' ? [...el.options].some((o) => o.value === saved) : true;
    if (ok) {
      if (el.type === 'checkbox') el.checked = saved === '1';
      else el.value = saved;
      el.dispatchEvent(new Event(el.type === 'range' ? 'input' : 'change'));
    }
  }
  const write = () => setState({ [key]: el.type === 'checkbox' ? (el.checked ? 1 : 0) : el.value });
  el.addEventListener('change', write);
  if (el.tagName === 'INPUT' && el.type !== 'checkbox') el.addEventListener('input', write);
  return el;
}
