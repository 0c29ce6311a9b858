// A form generated from a mixer's config schema (pydantic JSON schema): numbers, integers, booleans,
// enums / literals, strings, optional fields (anyOf with null), and JSON for anything nested.
// Only fields the user changed are sent; the server fills in the defaults.
import { h } from './dom.js';

function resolve(schema, root) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split('/').pop();
    return resolve((root.$defs || root.definitions || {})[name] || {}, root);
  }
  if (schema && schema.allOf && schema.allOf.length === 1) return resolve({ ...schema, ...schema.allOf[0], allOf: undefined }, root);
  return schema || {};
}

/** Split a property into its value schema and whether null is allowed. */
function analyse(prop, root) {
  const p = resolve(prop, root);
  const variants = (p.anyOf || p.oneOf || []).map((s) => resolve(s, root));
  const nullable = variants.some((s) => s.type === 'null') || p.type === 'null';
  const rest = variants.filter((s) => s.type !== 'null');
  let base = p;
  if (rest.length === 1) base = { ...rest[0], description: p.description, title: p.title };
  else if (rest.length > 1 && rest.every((s) => 'const' in s || s.enum)) {
    base = { enum: rest.flatMap((s) => ('const' in s ? [s.const] : s.enum)) };
  } else if (rest.length > 1) base = { type: 'json' };
  if ('const' in base && !base.enum) base = { ...base, enum: [base.const] };
  let kind = 'json';
  if (base.enum) kind = 'enum';
  else if (base.type === 'boolean') kind = 'boolean';
  else if (base.type === 'integer') kind = 'integer';
  else if (base.type === 'number') kind = 'number';
  else if (base.type === 'string') kind = 'string';
  return { kind, base, nullable };
}

function bounds(base) {
  const parts = [];
  if (base.minimum !== undefined) parts.push(`≥ ${base.minimum}`);
  if (base.exclusiveMinimum !== undefined) parts.push(`> ${base.exclusiveMinimum}`);
  if (base.maximum !== undefined) parts.push(`≤ ${base.maximum}`);
  if (base.exclusiveMaximum !== undefined) parts.push(`< ${base.exclusiveMaximum}`);
  return parts.join(', ');
}

function checkNumber(v, base, integer) {
  if (!Number.isFinite(v)) return 'not a number';
  if (integer && !Number.isInteger(v)) return 'must be a whole number';
  if (base.minimum !== undefined && v < base.minimum) return `must be ≥ ${base.minimum}`;
  if (base.exclusiveMinimum !== undefined && v <= base.exclusiveMinimum) return `must be > ${base.exclusiveMinimum}`;
  if (base.maximum !== undefined && v > base.maximum) return `must be ≤ ${base.maximum}`;
  if (base.exclusiveMaximum !== undefined && v >= base.exclusiveMaximum) return `must be < ${base.exclusiveMaximum}`;
  return null;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** One field: {el, read() -> {value, error, changed}, set(value), setError(msg)} */
function field(name, prop, root, required, idPrefix) {
  const { kind, base, nullable } = analyse(prop, root);
  const p = resolve(prop, root);
  const hasDefault = 'default' in p;
  const def = p.default;
  const id = `${idPrefix}-${name}`;
  let input;
  if (kind === 'boolean') {
    input = h('input', { type: 'checkbox', id, name });
  } else if (kind === 'enum') {
    input = h('select', { id, name }, base.enum.map((v) => h('option', { value: JSON.stringify(v) }, String(v))));
  } else if (kind === 'number' || kind === 'integer') {
    input = h('input', {
      type: 'number', id, name, step: kind === 'integer' ? '1' : 'any',
      min: base.minimum ?? undefined, max: base.maximum ?? undefined, placeholder: nullable ? 'none' : '',
    });
  } else if (kind === 'string') {
    input = h('input', { type: 'text', id, name });
  } else {
    input = h('textarea', { id, name, rows: 2, spellcheck: false, placeholder: 'JSON' });
  }
  const noneBox = nullable && kind !== 'number' && kind !== 'integer'
    ? h('input', { type: 'checkbox', class: 'none-box', title: 'null', 'aria-label': `${name}: none` }) : null;
  const error = h('div', { class: 'field-error' });
  const help = [p.description, bounds(base)].filter(Boolean).join(' · ');
  const el = h('div', { class: `field field-${kind}`, dataset: { field: name } },
    h('label', { for: id, title: name }, p.title || name, required ? ' *' : ''),
    h('div', { class: 'field-input' }, input,
      noneBox ? h('label', { class: 'none-label' }, noneBox, 'none') : null),
    help ? h('div', { class: 'help' }, help) : null,
    error);

  function set(v) {
    if (noneBox) noneBox.checked = v === null;
    if (kind === 'boolean') input.checked = Boolean(v);
    else if (kind === 'enum') input.value = JSON.stringify(v === undefined || v === null ? base.enum[0] : v);
    else if (kind === 'json') input.value = v === undefined || v === null ? '' : JSON.stringify(v);
    else input.value = v === undefined || v === null ? '' : String(v);
    input.disabled = Boolean(noneBox && noneBox.checked);
  }
  if (noneBox) noneBox.addEventListener('change', () => { input.disabled = noneBox.checked; });

  function read() {
    let value;
    let err = null;
    if (noneBox && noneBox.checked) value = null;
    else if (kind === 'boolean') value = input.checked;
    else if (kind === 'enum') value = JSON.parse(input.value);
    else if (kind === 'number' || kind === 'integer') {
      if (input.value.trim() === '') {
        if (nullable) value = null;
        else if (hasDefault) value = def;
        else err = 'required';
      } else {
        value = Number(input.value);
        err = checkNumber(value, base, kind === 'integer');
      }
    } else if (kind === 'string') value = input.value;
    else if (input.value.trim() === '') value = nullable ? null : def;
    else {
      try {
        value = JSON.parse(input.value);
      } catch {
        err = 'not valid JSON';
      }
    }
    return { value, error: err, changed: !err && !(hasDefault && same(value, def)) };
  }

  function setError(msg) {
    error.textContent = msg || '';
    el.classList.toggle('invalid', Boolean(msg));
  }

  input.addEventListener('input', () => setError(read().error));
  set(def);
  return { name, el, read, set, setError, reset: () => { set(def); setError(null); } };
}

/**
 * Build a form for `schema`. Returns {el, value() -> {config, errors}, showErrors(problem), reset()}.
 * `value().config` holds only the fields that differ from their defaults.
 */
export function schemaForm(schema, idPrefix = 'cfg') {
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const fields = Object.entries(props).map(([name, prop]) => field(name, prop, schema, required.has(name), idPrefix));
  const count = h('span', { class: 'muted' });
  const grid = h('div', { class: 'form-grid' }, fields.map((f) => f.el));
  const resetBtn = h('button', { type: 'button', class: 'link', onclick: () => { reset(); el.dispatchEvent(new Event('change')); } }, 'reset to defaults');
  const el = h('details', { class: 'schema-form', open: fields.length <= 8 },
    h('summary', {}, 'Configuration ', count),
    fields.length ? [h('div', { class: 'form-tools' }, resetBtn), grid] : h('p', { class: 'muted' }, 'This mixer has no settings.'));

  function value() {
    const config = {};
    const errors = [];
    let changed = 0;
    for (const f of fields) {
      const r = f.read();
      f.setError(r.error);
      if (r.error) errors.push(`${f.name}: ${r.error}`);
      else if (r.changed) {
        config[f.name] = r.value;
        changed += 1;
      }
    }
    updateCount(changed);
    return { config, errors };
  }

  function updateCount(changed) {
    count.textContent = `(${fields.length} settings${changed ? `, ${changed} changed` : ', defaults'})`;
    el.classList.toggle('changed', changed > 0);
  }

  function reset() {
    for (const f of fields) f.reset();
    updateCount(0);
  }

  /** Put the server's config errors (loc "config.<field>") next to the fields. */
  function showErrors(problem) {
    let shown = false;
    for (const e of problem?.errors || []) {
      const m = /^config\.([^.[]+)/.exec(e.loc || '');
      const f = m && fields.find((x) => x.name === m[1]);
      if (f) {
        f.setError(e.msg);
        el.open = true;
        shown = true;
      }
    }
    return shown;
  }

  /** Fill fields from a config dict (e.g. the one a result echoed). */
  function fill(config) {
    for (const f of fields) if (f.name in (config || {})) f.set(config[f.name]);
    value();
  }

  grid.addEventListener('change', () => value());
  updateCount(0);
  return { el, value, showErrors, reset, fill };
}
