// Recommend & propose: pick an offline mixer, fill its config, ask for the best mixture or a batch of runs.
import { api } from '../api.js';
import { busy, card, clear, fidelityKey, fidelityLabel, fill, h, num, problemBox, toast } from '../dom.js';
import { bestRun, domainNames, objectiveLabel, prior } from '../model.js';
import { fidelityChooser, mixerPicker, offlineOrNote } from '../mixerpicker.js';
import { ACCENT, BEST, mixtureBars, seriesColor } from '../plots.js';
import { mappingNote, reuseText } from '../domainversions.js';
import { hasFamilies } from '../families.js';
import { mixtureStack } from '../familyplots.js';
import { runFidelities, transferOf } from '../defaults.js';
import { weightsPanel } from '../mixtureexport.js';
import { bindInput, getState, setState } from '../urlstate.js';
import { domainLegend, kvTable, leaseCell, mixtureBar, runLabel, tickLeases, transferBadge } from '../widgets.js';

const FIDS_SEP = '|'; // fidelity keys hold commas: the URL's list of chosen fidelities is |-separated

/** Fidelities a proposal may choose among: the project's ladder, else those of its completed runs. */
function ladder(project, runs) {
  if (project.fidelities?.length) return project.fidelities.map((f) => ({ key: fidelityKey(f), fidelity: f, n: null }));
  return runFidelities(runs);
}

/** A number or an em dash when the server sent none. */
function orDash(x, digits) {
  return typeof x === 'number' ? num(x, digits) : '—';
}

export async function mount(root, ctx) {
  const { project, store } = ctx;
  const { offline, note } = offlineOrNote(await ctx.mixers());
  if (!offline.length) {
    root.append(card('Recommend & propose', note));
    return null;
  }
  const urlMixer = getState('mixer');
  if (offline.some((m) => m.name === urlMixer)) ctx.shared.choice = urlMixer;
  const picker = mixerPicker(ctx, offline, 'opt', await ctx.availability().catch(() => null));
  picker.onChange(() => setState({ mixer: ctx.shared.choice }));
  const fid = fidelityChooser(project, store.list(), 'opt');
  const fidSelect = fid.el.querySelector('select');
  const urlFid = getState('fidelity');
  if (urlFid !== null && [...fidSelect.options].some((o) => o.value === urlFid)) fidSelect.value = urlFid;
  fidSelect.addEventListener('change', () => setState({ fidelity: fidSelect.value === 'custom' ? null : fidSelect.value }));
  const seed = h('input', { type: 'number', id: 'opt-seed', min: 0, step: 1, placeholder: 'random', class: 'narrow' });
  const n = bindInput(h('input', { type: 'number', id: 'opt-n', min: 1, max: 1000, step: 1, value: 4, class: 'narrow' }), 'n');
  // The fidelities a proposal may choose among (mfbo models the trade-off of cost and information; the other
  // mixers use the first checked).
  const offered = ladder(project, store.list());
  const checkedKeys = new Set((getState('fids') || '').split(FIDS_SEP).filter(Boolean));
  const fidBoxes = offered.map((f) => ({ f, box: h('input', { type: 'checkbox', value: f.key, checked: checkedKeys.has(f.key) }) }));
  const syncFids = () => setState({ fids: fidBoxes.filter((b) => b.box.checked).map((b) => b.f.key).join(FIDS_SEP) });
  for (const b of fidBoxes) b.box.addEventListener('change', syncFids);
  const fidsEl = offered.length > 1 ? h('fieldset', { class: 'fid-choices', id: 'opt-fidelities' },
    h('legend', { class: 'small' }, 'Proposals: let the mixer choose among these fidelities (mfbo weighs cost against information; other mixers use the first checked)'),
    fidBoxes.map(({ f, box }) => h('label', { class: 'check', dataset: { fidelity: f.key } }, box,
      ` ${fidelityLabel(f.fidelity)}${f.n !== null ? ` (${f.n} run${f.n === 1 ? '' : 's'})` : ' · ladder'}`))) : null;
  const recBtn = h('button', { class: 'primary', id: 'btn-recommend' }, 'Recommend a mixture');
  const propBtn = h('button', { id: 'btn-propose' }, 'Propose');
  const errorBox = h('div', { id: 'opt-error' });
  const recBox = h('div', { id: 'rec-box' });
  const propBox = h('div', { id: 'prop-box' });

  root.append(h('div', { class: 'split' },
    card('Ask a mixer', h('div', { class: 'stack' }, picker.head, fid.el,
      h('label', { class: 'row' }, h('span', { class: 'label' }, 'Seed'), seed),
      h('div', { class: 'row actions' }, recBtn, h('span', { class: 'muted' }, 'or'), propBtn, n, h('span', { class: 'muted' }, 'runs')),
      fidsEl,
      errorBox,
      picker.form,
      h('p', { class: 'muted small' }, 'Proposed runs are created as pending runs at once, each with a lease, so the next proposal knows about them. Train them and post each result to its run.')),
    null, { id: 'ask-card' }),
    h('div', { class: 'stack' }, recBox, propBox)));

  function request(extra) {
    const { mixer, config, errors } = picker.read();
    if (errors.length) throw new Error(`fix the config first: ${errors.join('; ')}`);
    const body = { mixer, ...extra };
    if (Object.keys(config).length) body.config = config;
    const f = fid.read();
    if (f) body.fidelity = f;
    if (seed.value !== '') body.seed = Number(seed.value);
    return body;
  }

  function fail(err) {
    clear(errorBox);
    if (err.problem) {
      picker.showErrors(err.problem);
      errorBox.append(problemBox(err));
    } else errorBox.append(h('p', { class: 'error-text' }, err.message));
  }

  recBtn.addEventListener('click', () => busy(recBtn, async () => {
    clear(errorBox);
    try {
      const body = request({});
      const rec = await api.recommend(project.name, body);
      rec.requested_fidelity = body.fidelity ?? null;
      ctx.shared.recommendation = rec;
      root.querySelector('#results-placeholder')?.remove();
      renderRecommendation(rec);
    } catch (err) {
      fail(err);
    }
  }, 'Fitting…'));

  propBtn.addEventListener('click', () => busy(propBtn, async () => {
    clear(errorBox);
    try {
      const count = Number(n.value);
      if (!Number.isInteger(count) || count < 1 || count > 1000) throw new Error('the batch size must be a whole number from 1 to 1000');
      const body = request({ n: count });
      const chosen = fidBoxes.filter((b) => b.box.checked).map((b) => b.f.fidelity);
      if (chosen.length) {
        body.fidelities = chosen;
        delete body.fidelity;
      }
      const proposal = await api.propose(project.name, body);
      root.querySelector('#results-placeholder')?.remove();
      renderProposal(proposal);
      toast(`Proposal #${proposal.id}: ${proposal.runs.length} pending runs`, 'ok');
      store.poll().catch(() => {});
    } catch (err) {
      fail(err);
    }
  }, 'Proposing…'));

  function renderRecommendation(rec) {
    const runs = store.list();
    // The run the prediction is compared with, at the prediction's own fidelity (the server's `comparison`).
    const cmp = rec.comparison ?? null;
    const best = (cmp && cmp.run_id !== null && store.runs.get(cmp.run_id)) || bestRun(project, runs);
    const domains = domainNames(project);
    const series = [
      { name: `recommended (${rec.mixer})`, weights: rec.weights, color: ACCENT },
      { name: 'token-share prior', weights: prior(project), color: '#a3aab8' },
    ];
    if (best) series.push({ name: `${cmp ? 'compared run' : 'best observed'} (${runLabel(best)} at ${fidelityLabel(best.fidelity)})`, weights: best.weights, color: BEST });
    const plotEl = h('div', { class: 'plot', id: 'plot-recommendation' });
    const famEl = hasFamilies(domains) ? h('div', { class: 'plot', id: 'plot-rec-families' }) : null;
    const logBox = h('input', { type: 'checkbox', onchange: () => mixtureBars(plotEl, domains, series, { log: logBox.checked }) });
    const runFid = Object.keys(rec.predicted_fidelity || {}).length ? rec.predicted_fidelity : (rec.requested_fidelity || project.target_fidelity || {});
    const created = h('p', { class: 'small', id: 'rec-created' });
    const createBtn = h('button', { class: 'small', id: 'rec-create-run' }, `Create a pending run at this mixture (${fidelityLabel(runFid)})`);
    createBtn.addEventListener('click', () => busy(createBtn, async () => {
      try {
        const out = await api.ingest(project.name, [{ weights: rec.weights, fidelity: runFid, status: 'pending', tags: { mixer: rec.mixer, source: 'recommendation' } }]);
        const run = out.runs[0];
        fill(created, `Run #${run.id} created, pending at ${fidelityLabel(run.fidelity)}: it is in `,
          h('a', { href: `#/p/${encodeURIComponent(project.name)}/runs` }, 'Runs'), '. Train it and post its result to the run.');
        toast(`Run #${run.id} created (pending)`, 'ok');
        store.poll().catch(() => {});
      } catch (err) {
        fill(created, problemBox(err));
      }
    }, 'Creating…'));
    fill(recBox, card('Recommended mixture', [
      h('div', { class: 'headline' },
        h('div', {}, h('div', { class: 'tile-label' }, `predicted ${objectiveLabel(project)}`),
          h('div', { class: 'big', id: 'rec-predicted' }, num(rec.predicted, 5), rec.std !== null ? h('small', {}, ` ± ${num(rec.std, 3)}`) : null),
          transferBadge(transferOf(rec, rec.requested_fidelity, runs), runs, 'rec-transfer')),
        cmp ? h('div', { id: 'rec-compared', dataset: { kind: cmp.kind } },
          h('div', { class: 'tile-label' }, cmp.kind === 'observed' ? `best run at ${fidelityLabel(cmp.fidelity)}` : `predicted for ${best ? runLabel(best) : `run #${cmp.run_id}`} at ${fidelityLabel(cmp.fidelity)}`),
          h('div', { class: 'big muted-big' }, num(cmp.value, 5)),
          h('div', { class: 'tile-sub' }, cmp.detail)) : null,
        cmp ? h('div', {}, h('div', { class: 'tile-label' }, cmp.kind === 'observed' ? 'predicted − best run, same fidelity' : 'predicted − predicted for that run'),
          h('div', { class: 'big muted-big', id: 'rec-delta' }, (cmp.delta > 0 ? '+' : '') + num(cmp.delta, 3))) : null),
      mappingNote(rec.diagnostics, 'rec-domain-mapping'),
      plotEl,
      famEl ? h('h3', {}, 'By family') : null,
      famEl,
      h('details', { open: true, id: 'rec-weights' }, h('summary', {}, 'Weights: copy or download'),
        weightsPanel(rec.weights, domains, `${project.name}-${rec.mixer}-weights`, 'rec')),
      h('div', { class: 'row wrap' }, createBtn),
      created,
      h('details', {}, h('summary', {}, 'Diagnostics and config'), kvTable(rec.diagnostics), kvTable(rec.config)),
      h('div', { class: 'row' },
        h('a', { class: 'button small', href: `#/p/${encodeURIComponent(project.name)}/whatif`, id: 'rec-to-whatif',
          onclick: () => { ctx.shared.whatif = { ...rec.weights }; } }, 'Explore around it in What-if →')),
    ], h('label', {}, logBox, ' log scale'), { id: 'rec-card' }));
    mixtureBars(plotEl, domains, series);
    if (famEl) mixtureStack(famEl, domains, series);
  }

  function renderProposal(proposal) {
    const domains = domainNames(project);
    const plotEl = h('div', { class: 'plot', id: 'plot-proposal' });
    const shown = proposal.runs.slice(0, 6);
    // the mixer's view of each run (diagnostics.runs, labelled with run ids): predicted value, its sd, its role
    const perRun = proposal.diagnostics?.runs || [];
    const byId = new Map(perRun.filter((e) => e && e.run_id !== undefined).map((e) => [e.run_id, e]));
    const about = (r, i) => byId.get(r.id) || (byId.size ? null : perRun[i]) || {};
    fill(propBox, card(`Proposal #${proposal.id} · ${proposal.mixer}`, [
      mappingNote(proposal.diagnostics, 'prop-domain-mapping'),
      reuseText(proposal.diagnostics?.reuse) ? h('p', { class: 'mapping-note', id: 'prop-reuse' }, reuseText(proposal.diagnostics.reuse)) : null,
      h('p', { class: 'muted' }, `${proposal.runs.length} new pending run${proposal.runs.length === 1 ? '' : 's'}`,
        proposal.seed !== null ? ` (seed ${proposal.seed})` : '', '. They also appear under ',
        h('a', { href: `#/p/${encodeURIComponent(project.name)}/runs` }, 'Runs'), ' with their leases.'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'proposal-table' },
        h('thead', {}, h('tr', {}, ['Run', 'Fidelity', 'Role', 'Predicted', 'σ', 'Lease', 'Mixture'].map((c, i) => h('th', { class: i === 3 || i === 4 ? 'num' : '' }, c)))),
        h('tbody', {}, proposal.runs.map((r, i) => h('tr', { dataset: { run: r.id } }, h('td', { class: 'num' }, `#${r.id}`),
          h('td', {}, transferBadge(transferOf(r.predicted_fidelity ? r : null, r.fidelity, store.list()), store.list())),
          h('td', { class: 'prop-role' }, about(r, i).role ?? '—'),
          h('td', { class: 'num prop-predicted' }, orDash(about(r, i).predicted, 5)),
          h('td', { class: 'num prop-std' }, orDash(about(r, i).std, 3)),
          h('td', {}, leaseCell(r)), h('td', { class: 'mixcell' }, mixtureBar(r.weights, domains))))))),
      domainLegend(domains),
      plotEl,
    ], null, { id: 'proposal-card' }));
    if (!proposal.runs.length) fill(plotEl, h('p', { class: 'empty' }, 'Every proposed mixture was already pending or done: nothing new.'));
    else mixtureBars(plotEl, domains, shown.map((r, i) => ({ name: `run #${r.id}`, weights: r.weights, color: seriesColor(i) })));
  }

  if (ctx.shared.recommendation) renderRecommendation(ctx.shared.recommendation);
  else {
    // After a reload: the newest stored recommendation (GET …/recommendations), until a new one is asked for.
    api.recommendations(project.name, { max_results: 1 }).then((page) => {
      const [stored] = page.recommendations;
      if (!stored || ctx.shared.recommendation || !recBox.isConnected) return;
      ctx.shared.recommendation = stored;
      root.querySelector('#results-placeholder')?.remove();
      renderRecommendation(stored);
    }).catch(() => {});
    recBox.append(card('Results', h('div', { class: 'empty' },
      h('p', {}, h('b', {}, 'Recommend a mixture'), ': the mixer’s best mixture for the chosen fidelity, shown next to the token-share prior and the best observed run.'),
      h('p', {}, h('b', {}, 'Propose runs'), ': a batch of mixtures worth training next, created as pending runs.')), null, { id: 'results-placeholder' }));
  }
  const ticker = setInterval(() => tickLeases(propBox), 1000);
  return () => clearInterval(ticker);
}
