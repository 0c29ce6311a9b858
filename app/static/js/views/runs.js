// Runs: summary tiles, open runs with their leases, the sortable / filterable runs table, import.
import { api } from '../api.js';
import { busy, card, clear, dateTime, fidelityKey, fidelityLabel, fill, h, num, problemBox, statusPill, toast } from '../dom.js';
import { lineOf, parseRunsFile } from '../fileimport.js';
import { bestRun, domainNames, OPEN, objectiveLabel, objectiveValue } from '../model.js';
import { domainLegend, kvTable, leaseCell, mixtureBar, runLabel, tickLeases } from '../widgets.js';

const STATUSES = ['pending', 'running', 'completed', 'failed', 'abandoned'];
const PAGE_SIZES = [25, 50, 100, 250];
const MAX_PER_REQUEST = 10000;

export function mount(root, ctx) {
  const { project, store } = ctx;
  const domains = domainNames(project);
  const state = { sort: 'id', dir: -1, status: '', fidelity: '', search: '', page: 0, size: 50, open: null, fresh: new Set() };

  const tiles = h('div', { class: 'tiles' });
  const openCard = h('div');
  const filters = h('div', { class: 'filters' });
  const table = h('div', { class: 'table-wrap' });
  const pager = h('div', { class: 'pager' });
  root.append(
    tiles,
    openCard,
    card('Runs', [filters, table, pager, domainLegend(domains)], null, { id: 'runs-card' }),
    importCard(ctx, () => store.poll()),
  );

  // -- filters ---------------------------------------------------------------------------------
  const statusSel = h('select', { id: 'filter-status', onchange: () => { state.status = statusSel.value; state.page = 0; renderTable(); } },
    h('option', { value: '' }, 'all statuses'), STATUSES.map((s) => h('option', { value: s }, s)));
  const fidSel = h('select', { id: 'filter-fidelity', onchange: () => { state.fidelity = fidSel.value; state.page = 0; renderTable(); } });
  const search = h('input', {
    type: 'search', id: 'filter-search', placeholder: 'id or external id…',
    oninput: () => { state.search = search.value.trim().toLowerCase(); state.page = 0; renderTable(); },
  });
  const sizeSel = h('select', { id: 'page-size', onchange: () => { state.size = Number(sizeSel.value); state.page = 0; renderTable(); } },
    PAGE_SIZES.map((n) => h('option', { value: n, selected: n === state.size }, `${n} / page`)));
  filters.append(h('label', {}, 'Status ', statusSel), h('label', {}, 'Fidelity ', fidSel), search, h('span', { class: 'grow' }), sizeSel);

  function refreshFidelities() {
    const seen = new Map();
    for (const r of store.runs.values()) seen.set(fidelityKey(r.fidelity), r.fidelity);
    const keep = fidSel.value;
    fill(fidSel, h('option', { value: '' }, 'all fidelities'),
      [...seen].sort().map(([k, f]) => h('option', { value: k, selected: k === keep }, fidelityLabel(f))));
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
      h('td', {}, fidelityLabel(r.fidelity)), h('td', {}, leaseCell(r)), h('td', { class: 'mixcell' }, mixtureBar(r.weights, domains))));
    openCard.append(card(`Open runs (${open.length})`, h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'open-table' },
      h('thead', {}, h('tr', {}, ['ID', 'External id', 'Status', 'Proposal', 'Mixer', 'Fidelity', 'Lease', 'Mixture'].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows))), h('span', { class: 'muted' }, 'a lease not renewed by a heartbeat expires and the run becomes abandoned'),
    { id: 'open-card' }));
  }

  // -- the runs table --------------------------------------------------------------------------
  const COLUMNS = [
    { key: 'id', label: 'ID', value: (r) => r.id, cls: 'num' },
    { key: 'external_id', label: 'External id', value: (r) => r.external_id || '' },
    { key: 'status', label: 'Status', value: (r) => r.status },
    { key: 'fidelity', label: 'Fidelity', value: (r) => fidelityKey(r.fidelity) },
    { key: 'objective', label: `Objective ${project.objective.direction === 'maximize' ? '↑' : '↓'}`, title: objectiveLabel(project), value: (r) => objectiveValue(project, r.metrics), cls: 'num' },
    { key: 'cost', label: 'Cost', value: (r) => r.cost, cls: 'num' },
    { key: 'mixture', label: 'Mixture', value: null },
    { key: 'created_at', label: 'Created', value: (r) => r.created_at || '' },
  ];

  function filtered() {
    let rows = store.list();
    if (state.status) rows = rows.filter((r) => r.status === state.status);
    if (state.fidelity) rows = rows.filter((r) => fidelityKey(r.fidelity) === state.fidelity);
    if (state.search) rows = rows.filter((r) => String(r.id) === state.search || (r.external_id || '').toLowerCase().includes(state.search));
    const col = COLUMNS.find((c) => c.key === state.sort);
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
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * state.size;
    const shown = rows.slice(start, start + state.size);
    const head = h('tr', {}, COLUMNS.map((c) => {
      if (!c.value) return h('th', {}, c.label);
      const active = state.sort === c.key;
      return h('th', {
        class: `sortable ${c.cls || ''} ${active ? 'sorted' : ''}`, dataset: { sort: c.key }, title: `sort by ${c.title || c.label}`,
        onclick: () => {
          state.dir = active ? -state.dir : c.key === 'objective' ? (project.objective.direction === 'maximize' ? -1 : 1) : 1;
          state.sort = c.key;
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
      h('td', { class: 'num' }, r.id), h('td', {}, r.external_id || ''), h('td', {}, statusPill(r.status)),
      h('td', { class: 'nowrap' }, fidelityLabel(r.fidelity)), h('td', { class: 'num' }, v === null ? '' : num(v, 5)),
      h('td', { class: 'num' }, num(r.cost)), h('td', { class: 'mixcell' }, mixtureBar(r.weights, domains)),
      h('td', { class: 'nowrap muted' }, dateTime(r.created_at))));
      if (state.open === r.id) body.push(h('tr', { class: 'detail-row' }, h('td', { colspan: COLUMNS.length }, runDetail(r))));
    }
    const tableEl = h('table', { class: 'table', id: 'runs-table' }, h('thead', {}, head),
      h('tbody', {}, body.length ? body : h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'empty' }, 'No runs match these filters.'))));
    fill(table, tableEl);
    const go = (p) => () => { state.page = p; renderTable(); };
    fill(pager,
      h('span', { class: 'muted', id: 'runs-range' }, rows.length ? `${start + 1}–${start + shown.length} of ${rows.length}` : '0 runs'),
      h('button', { class: 'small', disabled: state.page === 0, onclick: go(0) }, '«'),
      h('button', { class: 'small', id: 'page-prev', disabled: state.page === 0, onclick: go(state.page - 1) }, '‹ Prev'),
      h('span', {}, `page ${state.page + 1} / ${pages}`),
      h('button', { class: 'small', id: 'page-next', disabled: state.page >= pages - 1, onclick: go(state.page + 1) }, 'Next ›'),
      h('button', { class: 'small', disabled: state.page >= pages - 1, onclick: go(pages - 1) }, '»'));
  }

  function runDetail(r) {
    const weights = domains.map((d) => [d, r.weights[d] ?? 0]).sort((a, b) => b[1] - a[1]);
    return h('div', { class: 'run-detail' },
      h('div', {}, h('h3', {}, 'Weights'), h('table', { class: 'kv bars' }, weights.map(([d, w]) => h('tr', {},
        h('th', {}, d), h('td', { class: 'num' }, num(w, 4)), h('td', { class: 'barcell' }, h('span', { style: { width: `${100 * w}%` } })))))),
      h('div', {}, h('h3', {}, 'Metrics'), Object.keys(r.metrics).length ? kvTable(r.metrics) : h('p', { class: 'muted' }, 'none yet')),
      h('div', {}, h('h3', {}, 'Run'), kvTable({
        id: r.id, external_id: r.external_id, status: r.status, fidelity: fidelityLabel(r.fidelity), cost: r.cost,
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

  function renderAll() {
    refreshFidelities();
    renderTiles();
    renderOpen();
    renderTable();
  }

  const onChange = (ev) => {
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
  };
}

/** Import runs from a CSV or JSON-lines file, parsed here and posted in one request per 10,000 runs. */
function importCard(ctx, onDone) {
  const { project, store } = ctx;
  const domains = domainNames(project);
  const out = h('div', { class: 'import-out', id: 'import-out' });
  let parsed = null;
  const fileInput = h('input', { type: 'file', id: 'import-file', accept: '.csv,.jsonl,.ndjson,.json,text/csv' });
  const go = h('button', { class: 'primary', id: 'import-go', disabled: true }, 'Import');
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files[0];
    parsed = null;
    go.disabled = true;
    clear(out);
    if (!file) return;
    try {
      const result = parseRunsFile(file.name, await file.text(), domains);
      parsed = result.runs;
      const metrics = new Set(parsed.flatMap((p) => Object.keys(p.run.metrics || {})));
      const fids = new Set(parsed.map((p) => fidelityKey(p.run.fidelity)));
      fill(out, h('p', { class: 'ok-text' }, `${file.name}: ${parsed.length} runs, ${metrics.size} metrics, ${fids.size} fidelit${fids.size === 1 ? 'y' : 'ies'}. Ready to import.`),
        result.ignored.length ? h('p', { class: 'muted' }, `ignored columns: ${result.ignored.join(', ')}`) : null);
      go.disabled = false;
    } catch (err) {
      out.append(h('div', { class: 'problem', role: 'alert' }, h('div', { class: 'problem-title' }, `Could not read ${file.name}`),
        h('div', { class: 'problem-detail' }, err.message)));
    }
  });
  go.addEventListener('click', () => busy(go, async () => {
    const before = new Set(store.runs.keys());
    let stored = 0;
    let fresh = 0;
    for (let start = 0; start < parsed.length; start += MAX_PER_REQUEST) {
      const chunk = parsed.slice(start, start + MAX_PER_REQUEST);
      try {
        const resp = await api.ingest(project.name, chunk.map((p) => p.run));
        stored += resp.runs.length;
        fresh += resp.runs.filter((r) => !before.has(r.id)).length;
      } catch (err) {
        fill(out,
          start ? h('p', {}, `${stored} runs were stored before this batch failed.`) : h('p', {}, 'Nothing was imported (all or nothing).'),
          problemBox(err, (loc) => lineOf(chunk, loc)));
        return;
      }
    }
    fill(out, h('p', { class: 'ok-text' }, `Imported ${stored} runs: ${fresh} new, ${stored - fresh} already stored.`));
    toast(`Imported ${stored} runs (${fresh} new)`, 'ok');
    fileInput.value = '';
    go.disabled = true;
    await onDone();
  }, 'Importing…'));
  return card('Import runs', h('div', {},
    h('p', { class: 'muted' }, 'A CSV in mixopt’s export layout (', h('code', {}, 'weight.<domain>'), ', ', h('code', {}, 'metric.<name>'), ', ',
      h('code', {}, 'fidelity.<key>'), ', external_id, status, cost) or JSON lines of run objects. The file is checked by the server as a whole: one bad run and nothing is written.'),
    h('div', { class: 'row' }, fileInput, go), out), null, { id: 'import-card' });
}
