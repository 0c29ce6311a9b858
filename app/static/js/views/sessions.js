// Online sessions: the list, and for one session its weights and domain losses over steps.
import { api } from '../api.js';
import { card, clear, dateTime, fill, h, problemBox, statusPill } from '../dom.js';
import { domainNames } from '../model.js';
import { sessionLosses, sessionWeights } from '../sessionplots.js';
import { sessionStretches } from '../sessiondata.js';
import { bindInput, viewState } from '../urlstate.js';
import { domainLegend, kvTable, mixtureBar } from '../widgets.js';

const POLL_MS = 5000;

export async function mount(root, ctx, arg) {
  const { project } = ctx;
  const domains = domainNames(project);
  const enc = encodeURIComponent(project.name);
  const listBox = h('div');
  const detailBox = h('div');
  root.append(listBox, detailBox);
  let timer = null;
  let selected = arg ? Number(arg) : null;

  async function loadList() {
    const { sessions } = await api.sessions(project.name);
    clear(listBox);
    if (!sessions.length) {
      const online = (await ctx.mixers()).filter((m) => m.kind === 'online').map((m) => m.name);
      listBox.append(card('Online sessions', h('div', { class: 'empty', id: 'no-sessions' },
        h('p', {}, 'No online session in this project yet. A training loop starts one with ',
          h('code', {}, `POST /api/v1/projects/${project.name}/sessions`), ', then reports per-domain losses every few steps.'),
        h('p', { class: 'muted' }, `Online mixers on this server: ${online.join(', ') || 'none'}.`))));
      return sessions;
    }
    if (selected === null) selected = sessions.at(-1).id;
    listBox.append(card(`Online sessions (${sessions.length})`, h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'sessions-table' },
      h('thead', {}, h('tr', {}, ['ID', 'Mixer', 'Status', 'Step', 'Current weights', 'Started', 'Updated'].map((c) => h('th', {}, c)))),
      h('tbody', {}, sessions.slice().reverse().map((s) => h('tr', {
        class: `clickable ${s.id === selected ? 'selected' : ''}`, dataset: { session: s.id },
        onclick: () => {
          // The view options (the query) stay when another session is opened.
          const query = viewState().toString();
          location.hash = `#/p/${enc}/sessions/${s.id}${query ? `?${query}` : ''}`;
        },
      },
      h('td', { class: 'num' }, s.id), h('td', {}, s.mixer), h('td', {}, statusPill(s.status)),
      h('td', { class: 'num' }, `${s.step} / ${s.total_steps}`), h('td', { class: 'mixcell' }, mixtureBar(s.weights, domains)),
      h('td', { class: 'nowrap muted' }, dateTime(s.created_at)), h('td', { class: 'nowrap muted' }, dateTime(s.updated_at)))))))));
    return sessions;
  }

  const weightsEl = h('div', { class: 'plot', id: 'plot-session-weights' });
  const lossesEl = h('div', { class: 'plot', id: 'plot-session-losses' });
  const head = h('div');
  const extra = h('div');
  // View options, kept while the page is open: hide the probe stretches (default on), smoothing of the losses.
  const opts = ctx.shared.sessionView ||= { hideProbes: true, alpha: 0 };
  const probeBox = h('input', { type: 'checkbox', id: 'session-hide-probes', checked: opts.hideProbes });
  const smoothRange = h('input', { type: 'range', id: 'session-smooth', min: 0, max: 0.95, step: 0.05, value: opts.alpha });
  const smoothOut = h('span', { class: 'muted nowrap', id: 'session-smooth-value' }, String(opts.alpha));
  const probeNote = h('span', { class: 'muted small', id: 'session-probe-note' });
  const toolbar = h('div', { class: 'row wrap session-tools' },
    h('label', { class: 'check', title: 'probe stretches (e.g. Aioli’s sweeps) train briefly on near one-hot mixtures to measure how domains help each other' },
      probeBox, ' hide probe steps'), probeNote,
    h('label', { class: 'row' }, 'smoothing ', smoothRange, smoothOut));
  let lastSession = null;
  const redraw = () => { if (lastSession) drawCharts(lastSession); };
  probeBox.addEventListener('change', () => { opts.hideProbes = probeBox.checked; redraw(); });
  smoothRange.addEventListener('input', () => { opts.alpha = Number(smoothRange.value); smoothOut.textContent = smoothRange.value; redraw(); });
  // The selected session is the route's argument (#/p/<project>/sessions/<id>); the view options live in the query.
  bindInput(probeBox, 'hideprobes');
  bindInput(smoothRange, 'smooth');

  function drawCharts(s) {
    const { stretches, reports, probes } = sessionStretches(s.history);
    const hide = probes && opts.hideProbes;
    probeBox.disabled = !probes;
    const nProbe = stretches.filter((x) => x.probe).length;
    probeNote.textContent = probes
      ? `${nProbe} probe stretch${nProbe === 1 ? '' : 'es'}${hide ? ' shown as grey bands; their loss reports left out' : ''}`
      : 'this session has no probe steps';
    sessionWeights(weightsEl, domains, stretches, { hideProbes: hide });
    if (reports.length) sessionLosses(lossesEl, domains, reports, { hideProbes: hide, alpha: opts.alpha });
    else fill(lossesEl, h('p', { class: 'empty' }, 'No loss report yet.'));
  }

  async function loadDetail() {
    if (selected === null) return;
    const s = await api.session(selected);
    const reports = s.history.filter((e) => e.losses).length;
    fill(head, h('div', { class: 'facts' },
      h('span', {}, statusPill(s.status)), h('span', {}, h('b', {}, s.mixer)),
      h('span', {}, `step ${s.step} of ${s.total_steps}`), h('span', {}, `${reports} loss reports`),
      h('span', {}, s.directive.done ? 'done: final mixture below' : `next report due at step ${s.directive.until_step}`)),
    h('div', { class: 'progress' }, h('span', { style: { width: `${Math.min(100, (100 * s.step) / Math.max(s.total_steps, 1))}%` } })));
    fill(extra, h('h3', {}, 'Current mixture'), mixtureBar(s.weights, domains),
      h('details', {}, h('summary', {}, 'Summary and config'), kvTable(s.summary), kvTable(s.config)));
    if (!detailBox.firstChild) {
      detailBox.append(card(`Session #${s.id}`, [head, toolbar,
        h('div', { class: 'two' }, h('div', {}, h('h3', {}, 'Weights over steps'), weightsEl), h('div', {}, h('h3', {}, 'Validation loss per domain'), lossesEl)),
        domainLegend(domains), extra], null, { id: 'session-card' }));
    }
    lastSession = s;
    drawCharts(s);
    return s;
  }

  try {
    await loadList();
    await loadDetail();
  } catch (err) {
    root.append(card('Could not load sessions', problemBox(err)));
  }
  timer = setInterval(async () => {
    try {
      const sessions = await loadList();
      if (sessions.find((s) => s.id === selected)?.status === 'active') await loadDetail();
    } catch {
      // the live indicator reports polling trouble; keep the last view
    }
  }, POLL_MS);
  return () => clearInterval(timer);
}

