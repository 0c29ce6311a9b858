// Runs: summary tiles, open runs with their leases, the sortable / filterable runs table, import.
import { api } from '../api.js';
import { busy, card, clear, dateTime, fidelityKey, fidelityLabel, fill, h, num, problemBox, statusPill, toast } from '../dom.js';
import { versionBadge } from '../domainversions.js';
import { families, familyKey, hasFamilies } from '../families.js';
import { foldable, groupedRows, total } from '../familytable.js';
import { fileSummary, importFile, lineLabel } from '../fileimport.js';
import { bestRun, domainNames, OPEN, objectiveLabel, objectiveValue, sign } from '../model.js';
import { domainColor, domainLabel, familyColor } from '../palette.js';
import { mixtureBars, seriesColor, trajectories } from '../plots.js';
import { mixtureStack } from '../familyplots.js';
import { getList, getState, setState } from '../urlstate.js';
import { domainLegend, kvTable, leaseCell, mixtureBar, runLabel, tickLeases } from '../widgets.js';

const STATUSES = ['pending', 'running', 'completed', 'failed', 'abandoned'];
const PAGE_SIZES = [25, 50, 100, 250];

export function mount(root, ctx) {
  const { project, store } = ctx;
  const domains = domainNames(project);
  const versioned = (project.domain_version ?? 1) > 1;
  const state = { sort: 'id', dir: -1, status: '', fidelity: '', search: '', page: 0, size: 50, open: null, fresh: new Set(), selected: new Set() };
  // Filters, sort, page and the selected runs live in the URL (a reload or a shared link opens the same table).
  readState(state);
  const colKey = `mixopt.columns.${project.name}`;
  const extra = new Set(readColumns(colKey));

  const tiles = h('div', { class: 'tiles' });
  const openCard = h('div');
  const filters = h('div', { class: 'filters' });
  const table = h('div', { class: 'table-wrap' });
  const pager = h('div', { class: 'pager' });
  const chooser = h('details', { class: 'columns-chooser', id: 'columns-chooser' });
  const compareBtn = h('button', { class: 'small', id: 'compare-runs', disabled: true, onclick: () => renderCompare() }, 'Compare selected');
  const clearBtn = h('button', { class: 'small link', id: 'clear-selection', onclick: () => { state.selected.clear(); renderTable(); clear(compareBox); } }, 'clear selection');
  const compareBox = h('div', { id: 'run-compare-box' });
  const selectAll = h('span');
  root.append(
    tiles,
    openCard,
    compareBox,
    card('Runs', [filters, h('div', { class: 'row wrap table-tools' }, chooser, selectAll, compareBtn, clearBtn), table, pager, domainLegend(domains)], null, { id: 'runs-card' }),
    importCard(ctx, () => store.poll()),
  );

  // -- filters ---------------------------------------------------------------------------------
  const statusSel = h('select', { id: 'filter-status', onchange: () => { state.status = statusSel.value; state.page = 0; renderTable(); } },
    h('option', { value: '' }, 'all statuses'), STATUSES.map((s) => h('option', { value: s, selected: s === state.status }, s)));
  const fidSel = h('select', { id: 'filter-fidelity', onchange: () => { state.fidelity = fidSel.value; state.page = 0; renderTable(); } });
  const search = h('input', {
    type: 'search', id: 'filter-search', placeholder: 'id or external id…', value: state.search,
    oninput: () => { state.search = search.value.trim().toLowerCase(); state.page = 0; renderTable(); },
  });
  const sizeSel = h('select', { id: 'page-size', onchange: () => { state.size = Number(sizeSel.value); state.page = 0; renderTable(); } },
    PAGE_SIZES.map((n) => h('option', { value: n, selected: n === state.size }, `${n} / page`)));
  filters.append(h('label', {}, 'Status ', statusSel), h('label', {}, 'Fidelity ', fidSel), search, h('span', { class: 'grow' }), sizeSel);

  function refreshFidelities() {
    const seen = new Map();
    for (const r of store.runs.values()) seen.set(fidelityKey(r.fidelity), r.fidelity);
    const keep = state.fidelity;
    fill(fidSel, h('option', { value: '' }, 'all fidelities'),
      [...seen].sort().map(([k, f]) => h('option', { value: k, selected: k === keep }, fidelityLabel(f))));
    refreshCampaigns();
  }

  // Campaigns (`mixopt campaign run`) tag their runs `campaign`; the filter lives in the URL (?campaign=NAME).
  state.campaign = getState('campaign', '');
  const campaignSel = h('select', { id: 'filter-campaign', onchange: () => {
    state.campaign = campaignSel.value; state.page = 0; setState({ campaign: state.campaign }); renderTable();
  } });
  const campaignLabel = h('label', { id: 'campaign-filter', hidden: true }, 'Campaign ', campaignSel);
  filters.insertBefore(campaignLabel, search);
  // Once the domain set has changed: the runs of one version only (?dv=1).
  state.dv = versioned ? getState('dv', '') : '';
  if (versioned) {
    const dvSel = h('select', { id: 'filter-domain-version', onchange: () => { state.dv = dvSel.value; state.page = 0; setState({ dv: state.dv }); renderTable(); } },
      h('option', { value: '' }, 'all versions'),
      Array.from({ length: project.domain_version }, (_, i) => h('option', { value: String(i + 1), selected: String(i + 1) === state.dv }, `version ${i + 1}`)));
    filters.insertBefore(h('label', {}, 'Domains ', dvSel), search);
  }
  function refreshCampaigns() {
    const counts = new Map();
    for (const r of store.runs.values()) {
      const name = r.tags?.campaign;
      if (typeof name !== 'string' || !name) continue;
      const c = counts.get(name) || { open: 0, completed: 0, failed: 0 };
      if (OPEN.has(r.status)) c.open += 1;
      else if (r.status === 'completed') c.completed += 1;
      else c.failed += 1;
      counts.set(name, c);
    }
    if (state.campaign && !counts.has(state.campaign)) counts.set(state.campaign, { open: 0, completed: 0, failed: 0 });
    campaignLabel.hidden = !counts.size;
    fill(campaignSel, h('option', { value: '' }, 'all runs'), [...counts].sort().map(([name, c]) => h('option',
      { value: name, selected: name === state.campaign }, `${name} (${c.open} open, ${c.completed} done, ${c.failed} failed)`)));
  }

  // -- tiles -----------------------------------------------------------------------------------
  function renderTiles() {
    const all = store.list();
    const count = (pred) => all.filter(pred).length;
    const best = bestRun(project, all);
    const tile = (label, value, sub = null, id = null) => h('div', { class: 'tile', id }, h('div', { class: 'tile-label' }, label),
      h('div', { class: 'tile-value' }, value), sub ? h('div', { class: 'tile-sub' }, sub) : null);
    fill(tiles,
      tile('Runs', all.length, null, 'tile-runs'),
      tile('Completed', count((r) => r.status === 'completed')),
      tile('Open', count((r) => OPEN.has(r.status)), 'pending or running'),
      tile('Failed / abandoned', count((r) => r.status === 'failed' || r.status === 'abandoned')),
      tile(`Best objective (${project.objective.direction})`, best ? num(objectiveValue(project, best.metrics), 5) : '—',
        best ? h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); showRun(best.id); } }, runLabel(best)) : project.objective.direction, 'tile-best'),
    );
  }

  // -- open runs and their leases --------------------------------------------------------------
  function renderOpen() {
    const open = store.list().filter((r) => OPEN.has(r.status)).reverse();
    clear(openCard);
    if (!open.length) return;
    const rows = open.slice(0, 200).map((r) => h('tr', { class: state.fresh.has(r.id) ? 'fresh' : '' },
      h('td', { class: 'num' }, r.id), h('td', {}, r.external_id || ''), h('td', {}, statusPill(r.status)),
      h('td', {}, r.proposal_id ? `#${r.proposal_id}` : ''), h('td', {}, r.tags?.mixer || ''),
      h('td', { class: 'campaign-cell', title: r.tags?.log ? `log: ${r.tags.log}` : '' }, r.tags?.campaign
        ? `${r.tags.campaign}${r.tags.attempt > 1 ? ` (attempt ${r.tags.attempt})` : ''}` : ''),
      h('td', {}, fidelityLabel(r.fidelity)), h('td', {}, leaseCell(r)), h('td', { class: 'mixcell' }, mixtureBar(r.weights, domains))));
    openCard.append(card(`Open runs (${open.length})`, h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'open-table' },
      h('thead', {}, h('tr', {}, ['ID', 'External id', 'Status', 'Proposal', 'Mixer', 'Campaign', 'Fidelity', 'Lease', 'Mixture'].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows))), h('span', { class: 'muted' }, 'a lease not renewed by a heartbeat expires and the run becomes abandoned'),
    { id: 'open-card' }));
  }

  // -- the runs table --------------------------------------------------------------------------
  const COLUMNS = [
    { key: 'id', label: 'ID', value: (r) => r.id, cls: 'num' },
    { key: 'external_id', label: 'External id', value: (r) => r.external_id || '' },
    { key: 'status', label: 'Status', value: (r) => r.status },
    { key: 'fidelity', label: 'Fidelity', value: (r) => fidelityKey(r.fidelity) },
    // Once the domain set has changed, the version each run was trained on (older ones are marked).
    versioned ? { key: 'domain_version', label: 'Domains', title: 'the version of the domain set the run was trained on', value: (r) => r.domain_version ?? 1, cls: 'num' } : null,
    { key: 'objective', label: `Objective ${project.objective.direction === 'maximize' ? '↑' : '↓'}`, title: objectiveLabel(project), value: (r) => objectiveValue(project, r.metrics), cls: 'num' },
    { key: 'cost', label: 'Cost', value: (r) => r.cost, cls: 'num' },
    { key: 'mixture', label: 'Mixture', value: null },
    { key: 'created_at', label: 'Created', value: (r) => r.created_at || '' },
  ].filter(Boolean);

  function metricNames() {
    const names = new Set();
    for (const r of store.runs.values()) for (const k of Object.keys(r.metrics || {})) names.add(k);
    return [...names].sort();
  }

  /** The chosen metric and weight columns, after the fixed ones. */
  function extraColumns() {
    const cols = [];
    for (const m of metricNames()) {
      if (extra.has(`metric:${m}`)) cols.push({ key: `metric:${m}`, label: m.split('/').pop(), title: m, value: (r) => r.metrics?.[m] ?? null, cls: 'num', cell: (r) => num(r.metrics?.[m], 5) });
    }
    for (const d of domains) {
      if (extra.has(`weight:${d}`)) {
        cols.push({ key: `weight:${d}`, label: `w ${domainLabel(d)}`, title: `weight of ${d}`, value: (r) => r.weights[d] ?? 0, cls: 'num',
          cell: (r) => h('span', { class: 'wcell' }, h('i', { style: { background: domainColor(d), width: `${Math.round(40 * (r.weights[d] ?? 0))}px` } }), num(r.weights[d] ?? 0, 3)) });
      }
    }
    for (const f of families(domains)) {
      if (extra.has(`family:${f.name}`)) {
        cols.push({ key: `family:${f.name}`, label: familyKey(f.name), title: `total weight of the family ${f.name}`, value: (r) => total(r.weights, f.members), cls: 'num',
          cell: (r) => h('span', { class: 'wcell' }, h('i', { style: { background: familyColor(f.name), width: `${Math.round(40 * total(r.weights, f.members))}px` } }), num(total(r.weights, f.members), 3)) });
      }
    }
    return cols;
  }

  function renderChooser() {
    const wasOpen = chooser.open;
    const box = (key, text, title) => h('label', { class: 'check', title }, h('input', {
      type: 'checkbox', checked: extra.has(key), dataset: { column: key },
      onchange: (ev) => {
        if (ev.target.checked) extra.add(key);
        else extra.delete(key);
        saveColumns(colKey, extra);
        renderTable();
        summary.textContent = `Columns (${extra.size} added)`;
      },
    }), ` ${text}`);
    const summary = h('summary', {}, `Columns (${extra.size} added)`);
    fill(chooser, summary, h('div', { class: 'chooser-body' },
      h('div', {}, h('h3', {}, 'Metrics'), h('div', { class: 'chooser-list' }, metricNames().map((m) => box(`metric:${m}`, m.split('/').pop(), m)))),
      h('div', {}, h('h3', {}, 'Weights'), h('div', { class: 'chooser-list' }, domains.map((d) => box(`weight:${d}`, domainLabel(d), d)))),
      hasFamilies(domains) ? h('div', {}, h('h3', {}, 'Family totals'), h('div', { class: 'chooser-list' },
        families(domains).map((f) => box(`family:${f.name}`, f.name, `total weight of ${f.members.join(', ')}`)))) : null));
    chooser.open = wasOpen;
  }

  function allColumns() {
    const cols = COLUMNS.slice();
    cols.splice(cols.findIndex((c) => c.key === 'mixture'), 0, ...extraColumns());
    return cols;
  }

  function filtered() {
    let rows = store.list();
    if (state.status) rows = rows.filter((r) => r.status === state.status);
    if (state.fidelity) rows = rows.filter((r) => fidelityKey(r.fidelity) === state.fidelity);
    if (state.campaign) rows = rows.filter((r) => r.tags?.campaign === state.campaign);
    if (state.dv) rows = rows.filter((r) => String(r.domain_version ?? 1) === state.dv);
    if (state.search) rows = rows.filter((r) => String(r.id) === state.search || (r.external_id || '').toLowerCase().includes(state.search));
    const col = allColumns().find((c) => c.key === state.sort) || COLUMNS[0];
    const nullsLast = (a, b) => (a === null || a === undefined) - (b === null || b === undefined);
    return rows.sort((a, b) => {
      const va = col.value(a);
      const vb = col.value(b);
      const n = nullsLast(va, vb);
      if (n) return n;
      return state.dir * (typeof va === 'number' ? va - vb : String(va).localeCompare(String(vb), undefined, { numeric: true })) || a.id - b.id;
    });
  }

  function renderTable() {
    const rows = filtered();
    const pages = Math.max(Math.ceil(rows.length / state.size), 1);
    // While runs still stream in, a page from the URL may not exist yet: show the last one, keep asking for it.
    if (store.loaded) state.page = Math.min(state.page, pages - 1);
    const page = Math.min(state.page, pages - 1);
    const start = page * state.size;
    const shown = rows.slice(start, start + state.size);
    const columns = allColumns();
    const pageIds = shown.map((r) => r.id);
    const allBox = h('input', {
      type: 'checkbox', id: 'select-page', title: 'select the runs of this page', 'aria-label': 'select the runs of this page',
      checked: pageIds.length > 0 && pageIds.every((id) => state.selected.has(id)),
      onchange: (ev) => {
        for (const id of pageIds) if (ev.target.checked) state.selected.add(id); else state.selected.delete(id);
        renderTable();
      },
    });
    fill(selectAll, h('label', { class: 'check' }, allBox, ' select this page'));
    const head = h('tr', {}, columns.map((c) => {
      if (!c.value) return h('th', {}, c.label);
      const active = state.sort === c.key;
      return h('th', {
        class: `sortable ${c.cls || ''} ${active ? 'sorted' : ''}`, dataset: { sort: c.key }, title: `sort by ${c.title || c.label}`,
        onclick: () => {
          state.dir = active ? -state.dir : c.key === 'objective' ? (project.objective.direction === 'maximize' ? -1 : 1) : 1;
          state.sort = c.key;
          state.page = 0;
          renderTable();
        },
      }, c.label, h('span', { class: 'arrow' }, active ? (state.dir > 0 ? ' ▲' : ' ▼') : ''));
    }));
    const body = [];
    for (const r of shown) {
      const v = objectiveValue(project, r.metrics);
      body.push(h('tr', {
        class: `clickable ${state.fresh.has(r.id) ? 'fresh' : ''} ${state.open === r.id ? 'selected' : ''}`, dataset: { run: r.id },
        onclick: () => { state.open = state.open === r.id ? null : r.id; renderTable(); },
      },
 h('td', { class: 'num idcell' }, h('input', {
        type: 'checkbox', class: 'run-select', checked: state.selected.has(r.id), 'aria-label': `select run ${r.id}`,
        onclick: (ev) => ev.stopPropagation(),
        onchange: (ev) => {
          if (ev.target.checked) state.selected.add(r.id);
          else state.selected.delete(r.id);
          renderTable();
        },
      }), r.id), h('td', {}, r.external_id || ''), h('td', {}, statusPill(r.status)),
      h('td', { class: 'nowrap' }, fidelityLabel(r.fidelity)),
      versioned ? h('td', { class: 'num', dataset: { column: 'domain_version' } }, versionBadge(r, project)) : null,
      h('td', { class: 'num' }, v === null ? '' : num(v, 5)),
      h('td', { class: 'num' }, num(r.cost)),
      extraColumns().map((c) => h('td', { class: c.cls, dataset: { column: c.key } }, c.cell(r))),
      h('td', { class: 'mixcell' }, mixtureBar(r.weights, domains)),
      h('td', { class: 'nowrap muted' }, dateTime(r.created_at))));
      if (state.open === r.id) body.push(h('tr', { class: 'detail-row' }, h('td', { colspan: columns.length }, runDetail(r))));
    }
    const tableEl = h('table', { class: 'table', id: 'runs-table' }, h('thead', {}, head),
      h('tbody', {}, body.length ? body : h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, 'No runs match these filters.'))));
    compareBtn.disabled = state.selected.size < 2;
    compareBtn.textContent = `Compare selected (${state.selected.size})`;
    clearBtn.hidden = !state.selected.size;
    fill(table, tableEl);
    writeState(state);
    const go = (p) => () => { state.page = p; renderTable(); };
    fill(pager,
      h('span', { class: 'muted', id: 'runs-range' }, rows.length ? `${start + 1}–${start + shown.length} of ${rows.length}` : '0 runs'),
      h('button', { class: 'small', disabled: page === 0, onclick: go(0) }, '«'),
      h('button', { class: 'small', id: 'page-prev', disabled: page === 0, onclick: go(page - 1) }, '‹ Prev'),
      h('span', {}, `page ${page + 1} / ${pages}`),
      h('button', { class: 'small', id: 'page-next', disabled: page >= pages - 1, onclick: go(page + 1) }, 'Next ›'),
      h('button', { class: 'small', disabled: page >= pages - 1, onclick: go(pages - 1) }, '»'));
  }

  function runDetail(r) {
    // Heaviest first; with families, each family's total above its members (families by their heaviest member).
    const byWeight = [...domains].sort((a, b) => (r.weights[b] ?? 0) - (r.weights[a] ?? 0));
    const colored = hasFamilies(domains);
    const cells = (w, color) => [h('td', { class: 'num', dataset: { value: w } }, num(w, 4)),
      h('td', { class: 'barcell' }, h('span', { style: { width: `${100 * w}%`, background: colored ? color : null } }))];
    const rows = colored ? groupedRows(byWeight, (d) => cells(r.weights[d] ?? 0, domainColor(d)),
      (members) => cells(total(r.weights, members), '#475569'), { nameCell: 'th' })
      : byWeight.map((d) => h('tr', {}, h('th', {}, d), cells(r.weights[d] ?? 0)));
    return h('div', { class: 'run-detail' },
      h('div', {}, h('h3', {}, 'Weights'), h('table', { class: 'kv bars' }, foldable(h('tbody', {}, rows)))),
      h('div', {}, h('h3', {}, 'Metrics'), Object.keys(r.metrics).length ? kvTable(r.metrics) : h('p', { class: 'muted' }, 'none yet')),
      h('div', {}, h('h3', {}, 'Run'), kvTable({
        id: r.id, external_id: r.external_id, status: r.status, fidelity: fidelityLabel(r.fidelity), domain_version: r.domain_version, cost: r.cost,
        proposal: r.proposal_id, tags: Object.keys(r.tags || {}).length ? r.tags : null, weights_sum: r.weights_sum,
        lease_expires_at: r.lease_expires_at, created_at: r.created_at, updated_at: r.updated_at,
      })));
  }

  function showRun(id) {
    state.status = '';
    state.search = '';
    state.open = id;
    statusSel.value = '';
    search.value = '';
    const idx = filtered().findIndex((r) => r.id === id);
    state.page = Math.floor(idx / state.size);
    renderTable();
    document.querySelector(`tr[data-run="${id}"]`)?.scrollIntoView({ block: 'center', behavior: 'smooth' });
  }

  // -- comparing selected runs ---------------------------------------------------------------
  function renderCompare() {
    const runs = [...state.selected].map((id) => store.runs.get(id)).filter(Boolean).sort((a, b) => a.id - b.id);
    if (runs.length < 2) return;
    const color = new Map(runs.map((r, i) => [r.id, seriesColor(i)]));
    const weightsEl = h('div', { class: 'plot', id: 'plot-compare-weights' });
    const trajEl = h('div', { class: 'plot', id: 'plot-compare-trajectories' });
    const famEl = hasFamilies(domains) ? h('div', { class: 'plot', id: 'plot-compare-families' }) : null;
    const s = sign(project);
    const metrics = ['__objective__', ...new Set(runs.flatMap((r) => Object.keys(r.metrics || {})))];
    const value = (r, m) => (m === '__objective__' ? objectiveValue(project, r.metrics) : r.metrics?.[m] ?? null);
    const metricTable = h('table', { class: 'table', id: 'compare-metrics' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Metric'), runs.map((r) => h('th', { class: 'num' }, h('span', { class: 'swatch', style: { background: color.get(r.id) } }), ` ${runLabel(r)}`)))),
      h('tbody', {}, metrics.map((m) => {
        const vals = runs.map((r) => value(r, m));
        const nums = vals.filter((v) => typeof v === 'number');
        const objective = m === '__objective__';
        const bestV = objective && nums.length ? (s > 0 ? Math.min(...nums) : Math.max(...nums)) : null;
        return h('tr', {}, h('th', { title: m }, objective ? h('b', {}, `objective (${objectiveLabel(project)})`) : m),
          vals.map((v) => h('td', { class: `num ${v !== null && v === bestV ? 'winner' : ''}` }, v === null ? '—' : num(v, 5))));
      })),
      h('tbody', {}, h('tr', {}, h('th', {}, 'fidelity'), runs.map((r) => h('td', { class: 'num' }, fidelityLabel(r.fidelity)))),
        h('tr', {}, h('th', {}, 'status'), runs.map((r) => h('td', { class: 'num' }, statusPill(r.status))))));
    const withTraj = runs.filter((r) => Array.isArray(r.trajectory) && r.trajectory.length);
    const trajMetrics = [...new Set(withTraj.flatMap((r) => r.trajectory.flatMap((p) => Object.keys(p).filter((k) => k !== 'step' && typeof p[k] === 'number'))))].sort();
    const objName = Object.keys(project.objective.metrics || {})[0];
    const trajSel = h('select', { id: 'compare-trajectory-metric' }, trajMetrics.map((m) => h('option', { value: m, selected: m === objName }, m)));
    const drawTraj = () => trajectories(trajEl, withTraj.map((r) => ({ name: runLabel(r), color: color.get(r.id), points: r.trajectory })), trajSel.value);
    trajSel.addEventListener('change', drawTraj);
    fill(compareBox, card(`Comparing ${runs.length} runs`, [
      h('div', { class: 'two' },
        h('div', {}, h('h3', {}, 'Weights side by side'), weightsEl, famEl ? [h('h3', {}, 'By family'), famEl] : null),
        h('div', {}, h('h3', {}, 'Metrics'), h('div', { class: 'table-wrap' }, metricTable))),
      h('h3', {}, 'Trajectories'),
      withTraj.length
        ? [h('label', { class: 'row' }, h('span', { class: 'label' }, 'Metric'), trajSel), trajEl]
        : h('p', { class: 'muted', id: 'compare-no-trajectory' }, 'None of these runs has a trajectory. Send ', h('code', {}, 'trajectory: [{step, <metric>: value}]'), ' with a run to compare curves.'),
    ], h('button', { class: 'small', onclick: () => clear(compareBox) }, 'Close'), { id: 'run-compare' }));
    mixtureBars(weightsEl, domains, runs.map((r) => ({ name: runLabel(r), weights: r.weights, color: color.get(r.id) })));
    if (famEl) mixtureStack(famEl, domains, runs.map((r) => ({ name: runLabel(r), weights: r.weights })));
    if (withTraj.length && trajMetrics.length) drawTraj();
    compareBox.scrollIntoView({ block: 'start', behavior: 'smooth' });
  }

  function renderAll() {
    renderChooser();
    refreshFidelities();
    renderTiles();
    renderOpen();
    renderTable();
  }

  let loadingRender = null;
  const onChange = (ev) => {
    if (ev.detail.initial) {
      // The first load's later pages: no highlight, and at most a render every 800 ms until the last page.
      if (store.loaded) {
        clearTimeout(loadingRender);
        loadingRender = null;
        renderAll();
      } else {
        loadingRender ||= setTimeout(() => { loadingRender = null; renderAll(); }, 800);
      }
      return;
    }
    for (const id of ev.detail.added.concat(ev.detail.updated)) state.fresh.add(id);
    renderAll();
    setTimeout(() => {
      for (const id of ev.detail.added.concat(ev.detail.updated)) state.fresh.delete(id);
    }, 4000);
  };
  store.addEventListener('change', onChange);
  const ticker = setInterval(() => tickLeases(openCard), 1000);
  renderAll();
  return () => {
    store.removeEventListener('change', onChange);
    clearInterval(ticker);
    clearTimeout(loadingRender);
  };
}

/** The table's state from the URL's query (see writeState for the keys). */
function readState(state) {
  state.status = STATUSES.includes(getState('status')) ? getState('status') : '';
  state.fidelity = getState('fidelity', '');
  state.search = getState('q', '').toLowerCase();
  const size = Number(getState('size'));
  if (PAGE_SIZES.includes(size)) state.size = size;
  state.page = Math.max(0, (Number.parseInt(getState('page'), 10) || 1) - 1);
  const sort = getState('sort');
  if (sort) {
    state.sort = sort;
    state.dir = getState('dir') === 'asc' ? 1 : -1;
  }
  for (const id of getList('sel')) if (/^\d+$/.test(id)) state.selected.add(Number(id));
  const open = Number.parseInt(getState('run'), 10);
  if (open) state.open = open;
}

/** status, fidelity, q (search), sort + dir (asc | desc), page (from 1), size, sel (run ids), run (the open row). */
function writeState(state) {
  const byDefault = state.sort === 'id' && state.dir === -1;
  setState({
    status: state.status, fidelity: state.fidelity, q: state.search,
    sort: byDefault ? null : state.sort, dir: byDefault ? null : (state.dir > 0 ? 'asc' : 'desc'),
    page: state.page > 0 ? state.page + 1 : null, size: state.size === 50 ? null : state.size,
    sel: [...state.selected].sort((a, b) => a - b), run: state.open,
  });
}

function readColumns(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || '[]');
  } catch {
    return [];
  }
}

function saveColumns(key, set) {
  try {
    localStorage.setItem(key, JSON.stringify([...set]));
  } catch {
    // storage disabled: the choice lasts while the page is open
  }
}

/** Import runs from a CSV or JSON-lines file: the server reads it once to preview it, then imports it whole. */
function importCard(ctx, onDone) {
  const { project } = ctx;
  const out = h('div', { class: 'import-out', id: 'import-out' });
  let chosen = null;
  const fileInput = h('input', { type: 'file', id: 'import-file', accept: '.csv,.jsonl,.ndjson,.json,text/csv' });
  const go = h('button', { class: 'primary', id: 'import-go', disabled: true }, 'Import');
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files[0];
    chosen = null;
    go.disabled = true;
    clear(out);
    if (!file) return;
    try {
      const seen = await importFile(project.name, file, { preview: true });
      chosen = file;
      fill(out, h('p', { class: 'ok-text' }, `${file.name}: ${fileSummary(seen)}. Ready to import.`),
        seen.ignored.length ? h('p', { class: 'muted' }, `ignored columns: ${seen.ignored.join(', ')}`) : null);
      go.disabled = false;
    } catch (err) {
      fill(out, h('p', {}, `Could not read ${file.name}.`), problemBox(err, lineLabel(err)));
    }
  });
  go.addEventListener('click', () => busy(go, async () => {
    let done;
    try {
      done = await importFile(project.name, chosen);
    } catch (err) {
      fill(out, h('p', {}, 'Nothing was imported (all or nothing).'), problemBox(err, lineLabel(err)));
      return;
    }
    fill(out, h('p', { class: 'ok-text' }, `Imported ${done.rows} runs: ${done.new} new, ${done.rows - done.new} already stored.`));
    toast(`Imported ${done.rows} runs (${done.new} new)`, 'ok');
    fileInput.value = '';
    go.disabled = true;
    await onDone();
  }, 'Importing…'));
  return card('Import runs', h('div', {},
    h('p', { class: 'muted' }, 'A CSV in mixopt’s export layout (', h('code', {}, 'weight.<domain>'), ', ', h('code', {}, 'metric.<name>'), ', ',
      h('code', {}, 'fidelity.<key>'), ', external_id, status, cost), columns named after the domains, or JSON lines of run objects. The server checks the file as a whole: one bad run and nothing is written; runs already stored are skipped.'),
    h('div', { class: 'row' }, fileInput, go), out), null, { id: 'import-card' });
}
