// Recommend & propose: pick an offline mixer, fill its config, ask for the best mixture or a batch of runs.
import { api } from '../api.js';
import { busy, card, clear, fidelityLabel, fill, h, num, problemBox, toast } from '../dom.js';
import { bestRun, domainNames, objectiveLabel, objectiveValue, prior } from '../model.js';
import { fidelityChooser, mixerPicker, offlineOrNote } from '../mixerpicker.js';
import { ACCENT, BEST, mixtureBars, seriesColor } from '../plots.js';
import { transferOf } from '../defaults.js';
import { bindInput } from '../urlstate.js';
import { domainLegend, kvTable, leaseCell, mixtureBar, runLabel, tickLeases, transferBadge } from '../widgets.js';

export async function mount(root, ctx) {
  const { project, store } = ctx;
  const { offline, note } = offlineOrNote(await ctx.mixers());
  if (!offline.length) {
    root.append(card('Recommend & propose', note));
    return null;
  }
  const picker = mixerPicker(ctx, offline, 'opt', await ctx.availability().catch(() => null));
  const fid = fidelityChooser(project, store.list(), 'opt');
  const seed = h('input', { type: 'number', id: 'opt-seed', min: 0, step: 1, placeholder: 'random', class: 'narrow' });
  const n = h('input', { type: 'number', id: 'opt-n', min: 1, max: 1000, step: 1, value: 4, class: 'narrow' });
  // The mixer, fidelity and batch size live in the URL (?mixer=&fidelity=&n=).
  bindInput(picker.head.querySelector('#opt-mixer'), 'mixer');
  bindInput(fid.el.querySelector('#opt-fidelity'), 'fidelity');
  bindInput(n, 'n');
  const recBtn = h('button', { class: 'primary', id: 'btn-recommend' }, 'Recommend a mixture');
  const propBtn = h('button', { id: 'btn-propose' }, 'Propose');
  const errorBox = h('div', { id: 'opt-error' });
  const recBox = h('div', { id: 'rec-box' });
  const propBox = h('div', { id: 'prop-box' });

  root.append(h('div', { class: 'split' },
    card('Ask a mixer', h('div', { class: 'stack' }, picker.head, fid.el,
      h('label', { class: 'row' }, h('span', { class: 'label' }, 'Seed'), seed),
      h('div', { class: 'row actions' }, recBtn, h('span', { class: 'muted' }, 'or'), propBtn, n, h('span', { class: 'muted' }, 'runs')),
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
      const proposal = await api.propose(project.name, request({ n: count }));
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
    const best = bestRun(project, runs);
    const bestValue = best ? objectiveValue(project, best.metrics) : null;
    const domains = domainNames(project);
    const series = [
      { name: `recommended (${rec.mixer})`, weights: rec.weights, color: ACCENT },
      { name: 'token-share prior', weights: prior(project), color: '#a3aab8' },
    ];
    if (best) series.push({ name: `best observed (${runLabel(best)})`, weights: best.weights, color: BEST });
    const plotEl = h('div', { class: 'plot', id: 'plot-recommendation' });
    const logBox = h('input', { type: 'checkbox', onchange: () => mixtureBars(plotEl, domains, series, { log: logBox.checked }) });
    const diff = bestValue !== null ? rec.predicted - bestValue : null;
    fill(recBox, card('Recommended mixture', [
      h('div', { class: 'headline' },
        h('div', {}, h('div', { class: 'tile-label' }, `predicted ${objectiveLabel(project)}`),
          h('div', { class: 'big', id: 'rec-predicted' }, num(rec.predicted, 5), rec.std !== null ? h('small', {}, ` ± ${num(rec.std, 3)}`) : null),
          transferBadge(transferOf(rec, rec.requested_fidelity, runs), runs, 'rec-transfer')),
        best ? h('div', {}, h('div', { class: 'tile-label' }, 'best observed run'),
          h('div', { class: 'big muted-big' }, num(bestValue, 5)),
          h('div', { class: 'tile-sub' }, `${runLabel(best)} at ${fidelityLabel(best.fidelity)}`)) : null,
        diff !== null ? h('div', {}, h('div', { class: 'tile-label' }, 'predicted − best observed'), h('div', { class: 'big muted-big' }, (diff > 0 ? '+' : '') + num(diff, 3))) : null),
      plotEl,
      h('details', {}, h('summary', {}, 'Diagnostics and config'), kvTable(rec.diagnostics), kvTable(rec.config)),
      h('div', { class: 'row' },
        h('a', { class: 'button small', href: `#/p/${encodeURIComponent(project.name)}/whatif`, id: 'rec-to-whatif',
          onclick: () => { ctx.shared.whatif = { ...rec.weights }; } }, 'Explore around it in What-if →')),
    ], h('label', {}, logBox, ' log scale'), { id: 'rec-card' }));
    mixtureBars(plotEl, domains, series);
  }

  function renderProposal(proposal) {
    const domains = domainNames(project);
    const plotEl = h('div', { class: 'plot', id: 'plot-proposal' });
    const shown = proposal.runs.slice(0, 6);
    fill(propBox, card(`Proposal #${proposal.id} · ${proposal.mixer}`, [
      h('p', { class: 'muted' }, `${proposal.runs.length} new pending run${proposal.runs.length === 1 ? '' : 's'}`,
        proposal.seed !== null ? ` (seed ${proposal.seed})` : '', '. They also appear under ',
        h('a', { href: `#/p/${encodeURIComponent(project.name)}/runs` }, 'Runs'), ' with their leases.'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'proposal-table' },
        h('thead', {}, h('tr', {}, ['Run', 'Fidelity', 'Lease', 'Mixture'].map((c) => h('th', {}, c)))),
        h('tbody', {}, proposal.runs.map((r) => h('tr', {}, h('td', { class: 'num' }, `#${r.id}`),
          h('td', {}, transferBadge(transferOf(r.predicted_fidelity ? r : null, r.fidelity, store.list()), store.list())),
          h('td', {}, leaseCell(r)), h('td', { class: 'mixcell' }, mixtureBar(r.weights, domains))))))),
      domainLegend(domains),
      plotEl,
    ], null, { id: 'proposal-card' }));
    if (!proposal.runs.length) fill(plotEl, h('p', { class: 'empty' }, 'Every proposed mixture was already pending or done: nothing new.'));
    else mixtureBars(plotEl, domains, shown.map((r, i) => ({ name: `run #${r.id}`, weights: r.weights, color: seriesColor(i) })));
  }

  if (ctx.shared.recommendation) renderRecommendation(ctx.shared.recommendation);
  else {
    recBox.append(card('Results', h('div', { class: 'empty' },
      h('p', {}, h('b', {}, 'Recommend a mixture'), ': the mixer’s best mixture for the chosen fidelity, shown next to the token-share prior and the best observed run.'),
      h('p', {}, h('b', {}, 'Propose runs'), ': a batch of mixtures worth training next, created as pending runs.')), null, { id: 'results-placeholder' }));
  }
  const ticker = setInterval(() => tickLeases(propBox), 1000);
  return () => clearInterval(ticker);
}
