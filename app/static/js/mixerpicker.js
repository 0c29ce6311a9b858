// Choose an offline mixer and fill its config; the choice and config are shared by the project's views.
import { fidelityLabel, fill, h } from './dom.js';
import { schemaForm } from './schemaform.js';

/**
 * `offline`: the registered offline mixers (GET /mixers). Returns
 * {head, form, read() -> {mixer, config, errors}, showErrors(problem), onChange(fn)}.
 */
export function mixerPicker(ctx, offline, idPrefix) {
  const shared = ctx.shared;
  if (!shared.choice || !offline.some((m) => m.name === shared.choice)) shared.choice = offline[0].name;
  const listeners = [];
  const select = h('select', { id: `${idPrefix}-mixer` }, offline.map((m) => h('option', { value: m.name, selected: m.name === shared.choice }, m.name)));
  const desc = h('p', { class: 'mixer-desc' });
  const formBox = h('div');
  let form = null;

  function build() {
    const info = offline.find((m) => m.name === select.value);
    shared.choice = info.name;
    desc.textContent = info.description;
    form = schemaForm(info.config_schema, `${idPrefix}-cfg`);
    form.fill(shared.configs[info.name] || {});
    form.el.addEventListener('change', () => {
      const { config, errors } = form.value();
      if (!errors.length) shared.configs[info.name] = config;
      for (const fn of listeners) fn();
    });
    fill(formBox, form.el);
  }
  select.addEventListener('change', () => {
    build();
    for (const fn of listeners) fn();
  });
  build();

  const head = h('div', { class: 'mixer-picker' }, h('label', { class: 'row' }, h('span', { class: 'label' }, 'Mixer'), select), desc);
  return {
    /** The mixer select and its description; `form` is the config form, to place where it fits. */
    head,
    form: formBox,
    read() {
      const { config, errors } = form.value();
      if (!errors.length) shared.configs[select.value] = config;
      return { mixer: select.value, config, errors };
    },
    showErrors: (problem) => form.showErrors(problem),
    onChange: (fn) => listeners.push(fn),
  };
}

/** Offline mixers from the catalog, or a note saying why there are none. */
export function offlineOrNote(list) {
  const offline = list.filter((m) => m.kind === 'offline');
  if (offline.length) return { offline, note: null };
  const others = list.map((m) => `${m.name} (${m.kind})`).join(', ') || 'none';
  return {
    offline,
    note: h('div', { class: 'empty', id: 'no-offline-mixer' },
      h('p', {}, 'No offline mixer is registered on this server, so there is nothing to recommend, predict or compare yet.'),
      h('p', { class: 'muted' }, `Registered mixers: ${others}.`)),
  };
}

/** Pick the fidelity to answer for: the target (default), one seen in the runs, or typed key=value pairs. */
export function fidelityChooser(project, runs, idPrefix) {
  const seen = new Map();
  for (const r of runs) seen.set(JSON.stringify(Object.fromEntries(Object.entries(r.fidelity).sort())), r.fidelity);
  const label = (f) => fidelityLabel(f);
  const select = h('select', { id: `${idPrefix}-fidelity` },
    h('option', { value: '' }, project.target_fidelity ? `target (${label(project.target_fidelity)})` : 'default'),
    [...seen.keys()].sort().map((k) => h('option', { value: k }, label(seen.get(k)))),
    h('option', { value: 'custom' }, 'custom…'));
  const custom = h('input', { type: 'text', placeholder: 'params=1e8, tokens=2e10', hidden: true, id: `${idPrefix}-fidelity-custom` });
  select.addEventListener('change', () => { custom.hidden = select.value !== 'custom'; });
  return {
    el: h('label', { class: 'row' }, h('span', { class: 'label' }, 'Fidelity'), select, custom),
    /** The chosen fidelity dict, null for the server's default; throws on a malformed custom entry. */
    read() {
      if (select.value === '') return null;
      if (select.value !== 'custom') return JSON.parse(select.value);
      const out = {};
      for (const part of custom.value.split(',').map((s) => s.trim()).filter(Boolean)) {
        const [k, v] = part.split('=').map((s) => s.trim());
        if (!k || !(Number(v) > 0)) throw new Error(`fidelity: "${part}" is not key=positive number`);
        out[k] = Number(v);
      }
      return Object.keys(out).length ? out : null;
    },
  };
}
