// Choose an offline mixer and fill its config; the choice and config are shared by the project's views.
import { defaultMixer, runFidelities } from './defaults.js';
import { clear, fidelityKey, fidelityLabel, fill, h } from './dom.js';
import { schemaForm } from './schemaform.js';

/**
 * `offline`: the registered offline mixers (GET /mixers); `availability`: GET /projects/{name}/mixers or
 * null. The first choice is the last comparison's winner, else regmix (never the alphabetical first).
 * Returns {head, form, read() -> {mixer, config, errors}, showErrors(problem), onChange(fn)}.
 */
export function mixerPicker(ctx, offline, idPrefix, availability = null) {
  const shared = ctx.shared;
  const usable = availability ? new Set(availability.filter((m) => m.available).map((m) => m.name)) : null;
  const why = new Map((availability || []).map((m) => [m.name, m.reason]));
  const fallback = defaultMixer(ctx.project.name, offline, usable);
  if (!shared.choice || !offline.some((m) => m.name === shared.choice)) shared.choice = fallback.name;
  const listeners = [];
  const select = h('select', { id: `${idPrefix}-mixer` }, offline.map((m) => h('option', { value: m.name, selected: m.name === shared.choice }, m.name)));
  const desc = h('p', { class: 'mixer-desc' });
  const note = h('p', { class: 'mixer-note small', id: `${idPrefix}-mixer-note` });
  const formBox = h('div');
  let form = null;

  function build() {
    const info = offline.find((m) => m.name === select.value);
    shared.choice = info.name;
    desc.textContent = info.description;
    const reason = why.get(info.name);
    if (reason) fill(note, h('span', { class: 'warn-text' }, `${info.name} cannot answer on this project: ${reason}`));
    else if (info.name === fallback.name) fill(note, h('span', { class: 'muted' }, `default mixer: ${fallback.why}`));
    else clear(note);
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
    shared.choiceTouched = true;
    build();
    for (const fn of listeners) fn();
  });
  build();

  const head = h('div', { class: 'mixer-picker' }, h('label', { class: 'row' }, h('span', { class: 'label' }, 'Mixer'), select), note, desc);
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

/**
 * Pick the fidelity to answer for. The default is the fidelity with the most completed runs (numbers there
 * are observed, not transferred); the target and other fidelities are a choice, labelled with their runs.
 */
export function fidelityChooser(project, runs, idPrefix) {
  const fids = runFidelities(runs);
  const targetKey = project.target_fidelity ? fidelityKey(project.target_fidelity) : null;
  const label = (f) => fidelityLabel(f);
  const options = fids.map((f, i) => h('option', { value: JSON.stringify(f.fidelity), selected: i === 0 },
    `${label(f.fidelity)} (${f.n} run${f.n === 1 ? '' : 's'})${f.key === targetKey ? ' · target' : ''}`));
  if (project.target_fidelity && !fids.some((f) => f.key === targetKey)) {
    options.push(h('option', { value: JSON.stringify(project.target_fidelity), selected: !fids.length },
      `target ${label(project.target_fidelity)} (no runs)`));
  }
  if (!fids.length && !project.target_fidelity) options.unshift(h('option', { value: '' }, 'default'));
  const select = h('select', { id: `${idPrefix}-fidelity` }, options, h('option', { value: 'custom' }, 'custom…'));
  const custom = h('input', { type: 'text', placeholder: 'params=1e8, tokens=2e10', hidden: true, id: `${idPrefix}-fidelity-custom` });
  select.addEventListener('change', () => { custom.hidden = select.value !== 'custom'; });
  return {
    el: h('label', { class: 'row' }, h('span', { class: 'label' }, 'Fidelity'), select, custom),
    /** The chosen fidelity dict (null only when the project has neither runs nor a target); throws on a bad custom entry. */
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
