// Domains: the project's current domain set grouped by family (tokens, bounds), the families' bounds (editable,
// PATCH /projects/{p} families), the versions of the set with their changes in words (GET …/domains/versions), and
// a form that applies one change (add, remove, split, merge: PATCH …/domains), a refused change's problems shown
// next to the fields they name. The chosen change and the version opened live in the URL (?op=split&version=2).
import { api } from '../api.js';
import { busy, card, clear, dateTime, fill, h, num, problemBox, toast } from '../dom.js';
import { changeWords } from '../domainversions.js';
import { hasFamilies } from '../families.js';
import { foldable, groupedRows } from '../familytable.js';
import { domainNames } from '../model.js';
import { getState, setState } from '../urlstate.js';

const OPS = [['add', 'Add domains'], ['remove', 'Remove domains'], ['split', 'Split a domain'], ['merge', 'Merge domains']];

/** A number typed in a box: a finite number, or null when the box is empty (anything else is sent as typed). */
function typed(input) {
  const raw = input.value.trim();
  if (raw === '') return null;
  const x = Number(raw);
  return Number.isFinite(x) ? x : raw;
}

/**
 * Problems next to their fields: `problem.errors[].loc` looked up in `fields` (a Map loc -> element); a loc without
 * its own element goes to its nearest parent's (`into[1].tokens` -> `into[1]` -> `into`), else to `fallback`.
 * Returns how many were placed next to a field.
 */
function showFieldErrors(scope, problem, fields, fallback) {
  for (const old of scope.querySelectorAll('.field-error')) old.remove();
  for (const el of scope.querySelectorAll('.invalid')) el.classList.remove('invalid');
  let placed = 0;
  for (const e of problem?.errors || []) {
    let loc = String(e.loc || '').replace(/^body\.?/, '');
    while (loc && !fields.has(loc)) {
      const up = loc.replace(/(\.[^.[\]]+|\[\d+\])$/, '');
      loc = up === loc ? '' : up;
    }
    const el = fields.get(loc) || fallback;
    if (!el) continue;
    el.classList.add('invalid');
    el.after(h('span', { class: 'field-error', role: 'alert', dataset: { loc: e.loc } }, e.msg));
    if (el !== fallback) placed += 1;
  }
  return placed;
}

export async function mount(root, ctx) {
  const { project } = ctx;
  const domains = domainNames(project);
  const byName = new Map(project.domains.map((d) => [d.name, d]));
  const familyList = project.families || [];
  const grouped = hasFamilies(domains);

  // -- the current set, with the families' bounds -----------------------------------------------------------
  const boundInputs = new Map(); // family -> {min, max}
  const bound = (x) => (x === null || x === undefined ? '—' : num(x, 4));
  const tokens = (d) => byName.get(d)?.tokens;
  const domainCells = (d) => [h('td', { class: 'num' }, num(tokens(d), 3) || '—'),
    h('td', { class: 'num' }, bound(byName.get(d)?.min_weight)), h('td', { class: 'num' }, bound(byName.get(d)?.max_weight))];
  const familyCells = (members, name) => {
    const fam = familyList.find((f) => f.name === name);
    const known = members.every((d) => typeof tokens(d) === 'number');
    const sum = known ? members.reduce((s, d) => s + tokens(d), 0) : null;
    if (!fam) return [h('td', { class: 'num' }, num(sum, 3) || '—'), h('td'), h('td')];
    const box = (which) => h('input', {
      type: 'number', min: 0, max: 1, step: 'any', class: 'bound-box', value: fam[which] ?? '',
      'aria-label': `${name} ${which}`, dataset: { familyBound: `${name}:${which}` },
    });
    const inputs = { min: box('min_weight'), max: box('max_weight') };
    boundInputs.set(name, inputs);
    return [h('td', { class: 'num' }, num(sum, 3) || '—'), h('td', { class: 'num' }, inputs.min), h('td', { class: 'num' }, inputs.max)];
  };
  const setTable = h('table', { class: 'table compact', id: 'domain-set-table' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Domain'), h('th', { class: 'num' }, 'Tokens'), h('th', { class: 'num' }, 'Min weight'), h('th', { class: 'num' }, 'Max weight'))),
    foldable(h('tbody', {}, groupedRows(domains, domainCells, familyCells, { swatch: true }))));
  const boundsError = h('div', { id: 'family-bounds-error' });
  const saveBounds = h('button', { class: 'small primary', id: 'save-family-bounds' }, 'Save family bounds');
  saveBounds.addEventListener('click', () => busy(saveBounds, async () => {
    clear(boundsError);
    const sent = [];
    const fields = new Map();
    for (const [name, inputs] of boundInputs) {
      const lo = typed(inputs.min);
      const hi = typed(inputs.max);
      if (lo === null && hi === null) continue;
      fields.set(`families[${sent.length}].name`, inputs.min);
      fields.set(`families[${sent.length}].min_weight`, inputs.min);
      fields.set(`families[${sent.length}].max_weight`, inputs.max);
      fields.set(`families[${sent.length}]`, inputs.max);
      sent.push({ name, min_weight: lo, max_weight: hi });
    }
    fields.set('families', saveBounds);
    try {
      await api.patchProject(project.name, { families: sent });
      showFieldErrors(setTable, null, fields, null);
      toast(`Family bounds saved (${sent.length} ${sent.length === 1 ? 'family' : 'families'} bounded)`, 'ok');
      await ctx.reload();
    } catch (err) {
      showFieldErrors(setCard, err.problem, fields, null);
      fill(boundsError, problemBox(err));
    }
  }, 'Saving…'));
  const setCard = card(`Domain set · version ${project.domain_version ?? 1}`, [
    h('p', { class: 'muted small' }, grouped
      ? 'Domains grouped by family (the name before a “/”). A family’s bounds hold its members’ total weight: every mixer keeps to them.'
      : 'The project’s domains. Names with a “/” (dclm/web/high) form families, which can carry bounds on their total weight.'),
    h('div', { class: 'table-wrap' }, setTable),
    boundInputs.size ? h('div', { class: 'row wrap' }, saveBounds, h('span', { class: 'muted small' }, 'empty: no bound')) : null,
    boundsError,
  ], null, { id: 'domain-set-card' });

  // -- a change ---------------------------------------------------------------------------------------------
  const opSel = h('select', { id: 'change-op' }, OPS.map(([v, label]) => h('option', { value: v }, label)));
  if (OPS.some(([v]) => v === getState('op'))) opSel.value = getState('op');
  const fieldsBox = h('div', { class: 'stack', id: 'change-fields' });
  const note = h('textarea', { id: 'change-note', rows: 2, placeholder: 'why (kept in the change log)' });
  const preview = h('p', { class: 'muted small', id: 'change-preview' });
  const applyBtn = h('button', { class: 'primary', id: 'change-apply' }, 'Apply the change');
  const changeError = h('div', { id: 'change-error' });
  let form = null; // {read() -> {body, fields}}

  /** Rows of name + tokens boxes (the new domains of an add, the parts of a split); `key` names them in locs. */
  function partsEditor(key, start) {
    const list = h('div', { class: 'parts', dataset: { parts: key } });
    const rows = [];
    const add = (name = '') => {
      const nameBox = h('input', { type: 'text', class: 'part-name', placeholder: 'name (family/name)', value: name, 'aria-label': `${key} name` });
      const tokBox = h('input', { type: 'text', class: 'part-tokens narrow', placeholder: 'tokens', inputmode: 'decimal', 'aria-label': `${key} tokens` });
      const row = h('div', { class: 'row wrap part-row' }, nameBox, tokBox);
      const drop = h('button', { class: 'small link', type: 'button', title: 'remove this row', onclick: () => { rows.splice(rows.indexOf(entry), 1); row.remove(); updatePreview(); } }, '✕');
      row.append(drop);
      const entry = { row, nameBox, tokBox };
      rows.push(entry);
      list.append(row);
    };
    for (const n of start) add(n);
    const more = h('button', { class: 'small', type: 'button', id: `${key}-more`, onclick: () => add() }, '+ another');
    return {
      el: h('div', {}, list, more),
      read(prefix, fields) {
        fields.set(prefix, list);
        return rows.map((r, i) => {
          fields.set(`${prefix}[${i}]`, r.row.lastChild);
          fields.set(`${prefix}[${i}].name`, r.nameBox);
          fields.set(`${prefix}[${i}].tokens`, r.tokBox);
          const tok = typed(r.tokBox);
          return tok === null ? { name: r.nameBox.value.trim() } : { name: r.nameBox.value.trim(), tokens: tok };
        });
      },
    };
  }

  /** Checkboxes over the current domains (what a remove or a merge names); the checked in domain order. */
  function namesPicker(key) {
    const boxes = domains.map((d) => h('label', { class: 'check', dataset: { domain: d } },
      h('input', { type: 'checkbox', value: d, oninput: updatePreview }), ` ${d}`));
    const el = h('div', { class: 'chooser-list', id: `${key}-names` }, boxes);
    return {
      el,
      read(fields) {
        fields.set('names', el);
        const checked = boxes.filter((b) => b.firstChild.checked);
        checked.forEach((b, i) => fields.set(`names[${i}]`, b));
        return checked.map((b) => b.firstChild.value);
      },
    };
  }

  function renderForm() {
    const op = opSel.value;
    setState({ op: op === 'add' ? null : op });
    clear(changeError);
    if (op === 'add') {
      const parts = partsEditor('add', ['']);
      fill(fieldsBox, h('div', { class: 'label' }, 'New domains (old runs had weight 0 on them: exact)'), parts.el);
      form = { read: (fields) => ({ op, domains: parts.read('domains', fields) }) };
    } else if (op === 'remove') {
      const names = namesPicker('remove');
      fill(fieldsBox, h('div', { class: 'label' }, 'Domains to remove (a run that trained on one is dropped from later fits)'), names.el);
      form = { read: (fields) => ({ op, names: names.read(fields) }) };
    } else if (op === 'split') {
      const which = h('select', { id: 'split-name' }, domains.map((d) => h('option', { value: d }, d)));
      const parts = partsEditor('split', [`${domains[0]}/high`, `${domains[0]}/low`]);
      which.addEventListener('change', () => {
        const boxes = fieldsBox.querySelectorAll('.part-name');
        if (boxes[0] && boxes[1]) [boxes[0].value, boxes[1].value] = [`${which.value}/high`, `${which.value}/low`];
        updatePreview();
      });
      fill(fieldsBox, h('label', { class: 'row' }, h('span', { class: 'label' }, 'Split'), which),
        h('div', { class: 'label' }, 'into (an old run’s weight on it is divided by the parts’ token shares: assumed)'), parts.el);
      form = { read: (fields) => { fields.set('name', which); return { op, name: which.value, into: parts.read('into', fields) }; } };
    } else {
      const names = namesPicker('merge');
      const intoName = h('input', { type: 'text', id: 'merge-into-name', placeholder: 'merged name', 'aria-label': 'merged domain name' });
      const intoTokens = h('input', { type: 'text', id: 'merge-into-tokens', class: 'narrow', placeholder: 'tokens (sum)', inputmode: 'decimal' });
      fill(fieldsBox, h('div', { class: 'label' }, 'Domains to merge (old runs’ weights are summed: exact)'), names.el,
        h('div', { class: 'row wrap' }, h('span', { class: 'label' }, 'into'), intoName, intoTokens));
      form = {
        read: (fields) => {
          fields.set('into', intoName);
          fields.set('into.name', intoName);
          fields.set('into.tokens', intoTokens);
          const tok = typed(intoTokens);
          return { op, names: names.read(fields), into: tok === null ? { name: intoName.value.trim() } : { name: intoName.value.trim(), tokens: tok } };
        },
      };
    }
    updatePreview();
  }

  function updatePreview() {
    if (!form) return;
    const body = form.read(new Map());
    // Only a change with every name filled in is put in words.
    const names = [...(body.domains || []), ...(Array.isArray(body.into) ? body.into : body.into ? [body.into] : [])].map((d) => d.name)
      .concat(body.names || [], body.name !== undefined ? [body.name] : []);
    const complete = names.length && names.every(Boolean) && (!body.names || body.names.length);
    preview.textContent = complete ? `Version ${(project.domain_version ?? 1) + 1} would ${changeWords(body)}.` : '';
  }

  opSel.addEventListener('change', renderForm);
  fieldsBox.addEventListener('input', updatePreview);
  applyBtn.addEventListener('click', () => busy(applyBtn, async () => {
    clear(changeError);
    const fields = new Map([['op', opSel], ['note', note]]);
    const body = form.read(fields);
    if (note.value.trim()) body.note = note.value.trim();
    try {
      const out = await api.changeDomains(project.name, body);
      toast(`Domain set version ${out.domain_version}: ${changeWords(body)}`, 'ok');
      await ctx.reload();
    } catch (err) {
      const placed = showFieldErrors(changeCard, err.problem, fields, null);
      fill(changeError, placed ? h('p', { class: 'error-text small' }, 'Nothing was changed.') : null, problemBox(err));
    }
  }, 'Applying…'));
  const changeCard = card('Change the domain set', h('div', { class: 'stack' },
    h('p', { class: 'muted small' }, 'Each change makes a new numbered version. Runs keep the version they were trained on; mixers map them onto the current one and say how (exact, assumed or dropped).'),
    h('label', { class: 'row' }, h('span', { class: 'label' }, 'Change'), opSel),
    fieldsBox,
    h('label', { class: 'stack' }, h('span', { class: 'label' }, 'Note'), note),
    preview,
    h('div', { class: 'row' }, applyBtn),
    changeError), null, { id: 'change-card' });

  // -- the versions -------------------------------------------------------------------------------------------
  const versionsBox = h('div', { class: 'table-wrap' }, h('p', { class: 'muted' }, 'Loading the versions…'));
  const versionDetail = h('div', { id: 'version-domains' });
  const versionsCard = card('Versions', [versionsBox, versionDetail], null, { id: 'versions-card' });

  root.append(h('div', { class: 'split' }, h('div', { class: 'stack' }, changeCard), h('div', { class: 'stack' }, setCard, versionsCard)));
  renderForm();

  let versions = [];
  function showVersion(v) {
    const item = versions.find((x) => x.version === v);
    setState({ version: item && item.version !== (project.domain_version ?? 1) ? item.version : null });
    for (const tr of versionsBox.querySelectorAll('tr[data-version]')) tr.classList.toggle('selected', Number(tr.dataset.version) === v);
    if (!item) {
      clear(versionDetail);
      return;
    }
    fill(versionDetail, h('h3', {}, `Version ${item.version}: ${item.domains.length} domains`),
      h('div', { class: 'chips' }, item.domains.map((d) => h('code', { title: d.tokens ? `${num(d.tokens, 3)} tokens` : '' }, d.name))));
  }
  try {
    versions = (await api.domainVersions(project.name)).items;
  } catch (err) {
    fill(versionsBox, problemBox(err));
    return null;
  }
  const current = project.domain_version ?? versions.at(-1)?.version ?? 1;
  const runsAt = new Map();
  for (const r of ctx.store.list()) runsAt.set(r.domain_version ?? 1, (runsAt.get(r.domain_version ?? 1) ?? 0) + 1);
  fill(versionsBox, h('table', { class: 'table', id: 'versions-table' },
    h('thead', {}, h('tr', {}, ['Version', 'Change', 'Note', 'When', 'Domains', 'Runs'].map((c, i) => h('th', { class: i === 0 || i >= 4 ? 'num' : '' }, c)))),
    h('tbody', {}, [...versions].reverse().map((v) => h('tr', {
      class: 'clickable', dataset: { version: v.version }, onclick: () => showVersion(v.version),
    }, h('td', { class: 'num' }, `v${v.version}`, v.version === current ? h('span', { class: 'pill pill-completed' }, 'current') : null),
    h('td', { class: 'change-words' }, changeWords(v.change)), h('td', { class: 'muted' }, v.note || ''),
    h('td', { class: 'nowrap muted' }, dateTime(v.created_at)), h('td', { class: 'num' }, v.domains.length),
    h('td', { class: 'num', title: 'runs trained on this version' }, runsAt.get(v.version) ?? 0))))));
  const wanted = Number.parseInt(getState('version'), 10);
  if (versions.some((v) => v.version === wanted)) showVersion(wanted);
  return null;
}
