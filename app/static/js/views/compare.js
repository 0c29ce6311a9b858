// Compare mixers: k-fold cross-validation on the completed runs of one fidelity (POST …/evaluations), side by
// side: the spread over folds, the coverage of the predictive intervals, and the winner by the server's rule.
//
// Only the mixers that can answer on this project are pre-checked (GET …/mixers says which and why not).
// The checked mixers are evaluated in one request (same folds and seed; the server scores them side by side
// and names the winner by one rule: a tie within one standard error keeps the default mixer); a mixer that
// cannot answer (its result carries `error`) shows its reason next to the others' scores. The fidelity,
// the folds and the checked mixers live in the URL (fidelity, folds, mixers).
import { mappingNote } from '../domainversions.js';
import { api } from '../api.js';
import { rememberComparison, runFidelities, winner } from '../defaults.js';
import { card, clear, dateTime, duration, fidelityLabel, fill, h, num, problemBox, toast } from '../dom.js';
import { foldSpread } from '../insightplots.js';
import { offlineOrNote } from '../mixerpicker.js';
import { mixerScores, predictedVsActual, seriesColor } from '../plots.js';
import { bindInput, getList, getState, setState } from '../urlstate.js';
import { runLabel } from '../widgets.js';

const HEAD_TITLES = [
  '', 'how well held-out runs are ranked (mean over folds where given)', 'standard error of the Spearman over the folds',
  'mean absolute error of the held-out predictions', 'how much worse the run ranked first is than the best run',
  'share of held-out runs inside the predicted ±1σ (nominal 68%)', 'share inside ±1.96σ (nominal 95%)', 'runs scored',
];

/** A coverage fraction as a percentage, '—' when the mixer gives no std (or an older server sent none). */
function coverageText(cov, level) {
  const x = cov?.[level];
  return typeof x === 'number' ? `${(100 * x).toFixed(0)}%` : '—';
}

const SEED = 0;

export async function mount(root, ctx) {
  const { project, store } = ctx;
  const { offline, note } = offlineOrNote(await ctx.mixers());
  if (!offline.length) {
    root.append(card('Compare mixers', note));
    return null;
  }
  const availability = await ctx.availability().catch(() => null);
  const status = new Map((availability || []).map((m) => [m.name, m]));
  const urlMixers = new Set(getList('mixers'));
  const boxes = offline.map((m) => {
    const known = status.get(m.name);
    const can = known ? known.available : true;
    const box = h('input', { type: 'checkbox', value: m.name, checked: urlMixers.size ? urlMixers.has(m.name) : can });
    box.addEventListener('change', () => setState({ mixers: boxes.filter((b) => b.box.checked).map((b) => b.name) }));
    const custom = ctx.shared.configs[m.name] && Object.keys(ctx.shared.configs[m.name]).length;
    return {
      name: m.name, box,
      el: h('label', { class: `check mixer-check ${can ? '' : 'unavailable'}`, title: m.description, dataset: { mixer: m.name } },
        box, ` ${m.name}`, custom ? h('span', { class: 'muted' }, ' (your config)') : null,
        can ? null : h('span', { class: 'why small' }, ` — ${known.reason}`)),
    };
  });
  const folds = bindInput(h('input', { type: 'number', id: 'cmp-folds', min: 2, max: 20, step: 1, value: 5, class: 'narrow' }), 'folds');
  // The fidelity evaluated: only runs there are scored (a 30M run is never ranked against a 300M one).
  const fids = runFidelities(store.list());
  const wantFid = getState('fidelity');
  const fidSel = h('select', { id: 'cmp-fidelity' },
    h('option', { value: '' }, 'the fidelity with the most runs'),
    fids.map((f) => h('option', { value: f.key, selected: f.key === wantFid }, `${fidelityLabel(f.fidelity)} (${f.n} completed)`)));
  fidSel.addEventListener('change', () => setState({ fidelity: fidSel.value }));
  const go = h('button', { class: 'primary', id: 'btn-evaluate' }, 'Cross-validate');
  const errorBox = h('div');
  const progress = h('div', { id: 'cmp-progress' });
  const results = h('div', { id: 'cmp-results' });
  const last = ctx.shared.evaluation?.winner?.mixer ?? winner(ctx.shared.evaluation);
  root.append(
    card('Compare mixers by cross-validation', h('div', { class: 'stack' },
      h('p', { class: 'muted' }, 'Each mixer is fitted on k−1 folds of the completed runs at one fidelity and predicts the held-out fold. ',
        'Spearman ρ: how well it ranks mixtures (± its standard error over the folds). Regret: how much worse the run it ranks first is than the best run. ',
        'Coverage: the share of held-out runs inside the predicted ±1σ (nominal 68%) and ±1.96σ (95%) intervals. ',
        'The winner becomes the project’s default mixer (saved on the server) for Recommend and What-if.'),
      h('div', { class: 'mixer-checks' }, boxes.map((b) => b.el)),
      h('div', { class: 'row wrap' }, h('span', { class: 'label' }, 'Fidelity'), fidSel, h('span', { class: 'label' }, 'Folds'), folds, go),
      progress, errorBox,
      last ? h('p', { class: 'muted small' }, `Last comparison’s winner: ${last}.`) : null), null, { id: 'cmp-card' }),
    results);

  let running = false;
  go.addEventListener('click', async () => {
    if (running) return;
    clear(errorBox);
    const chosen = boxes.filter((b) => b.box.checked).map((b) => b.name);
    if (!chosen.length) {
      errorBox.append(h('p', { class: 'error-text' }, 'Choose at least one mixer.'));
      return;
    }
    running = true;
    go.disabled = true;
    const k = Number(folds.value);
    const order = new Map(chosen.map((m, i) => [m, i]));
    const collected = [];
    const state = new Map(chosen.map((m) => [m, 'running']));
    const started = Date.now();
    const bar = h('span', { style: { width: '0%' } });
    const chips = h('div', { class: 'row wrap chips' });
    const label = h('span', { class: 'muted', id: 'cmp-progress-text' });
    fill(progress, h('div', { class: 'progress' }, bar), h('div', { class: 'row wrap' }, label, chips));
    const paint = () => {
      const done = [...state.values()].filter((s) => s !== 'running').length;
      bar.style.width = `${(100 * done) / chosen.length}%`;
      label.textContent = `${done} of ${chosen.length} mixers done · ${duration(Date.now() - started)}`;
      fill(chips, chosen.map((m) => h('span', { class: `chip chip-${state.get(m)}`, dataset: { mixer: m } },
        state.get(m) === 'running' ? h('span', { class: 'spinner' }) : null, `${m}: ${state.get(m)}`)));
    };
    paint();
    const ticker = setInterval(paint, 1000);
    const choices = chosen.map((m) => {
      const cfg = ctx.shared.configs[m];
      return cfg && Object.keys(cfg).length ? { mixer: m, config: cfg } : { mixer: m };
    });
    const body = { mixers: choices, folds: k, seed: SEED };
    const fid = fids.find((f) => f.key === fidSel.value);
    if (fid) body.fidelity = fid.fidelity;
    try {
      const resp = await api.evaluate(project.name, body);
      for (const r of resp.results) {
        collected.push(r);
        state.set(r.mixer, r.error ? 'failed' : 'done');
      }
      collected.sort((a, b) => order.get(a.mixer) - order.get(b.mixer));
      const evaluation = { ...resp, results: collected.slice() };
      ctx.shared.evaluation = evaluation;
      // The server's winner (its tie rule may keep the default) is what this browser remembers.
      const won = resp.winner?.mixer ? { results: collected.filter((r) => r.mixer === resp.winner.mixer && !r.error) } : evaluation;
      const best = resp.winner?.mixer ?? winner(evaluation);
      if (best && !ctx.shared.choiceTouched) ctx.shared.choice = best;
      rememberComparison(project.name, won)
        .catch((e) => toast(`The default mixer was not saved: ${e.message}`, 'error'));
      render(evaluation);
    } catch (err) {
      const p = err.problem || {};
      for (const m of chosen) {
        collected.push({ mixer: m, error: { code: p.code || `http_${err.status || 'error'}`, detail: p.detail || err.message } });
        state.set(m, 'failed');
      }
      fill(errorBox, problemBox(err));
      render({ results: collected.slice() });
    } finally {
      clearInterval(ticker);
      paint();
      running = false;
      go.disabled = false;
    }
  });

  function render(evaluation) {
    const all = evaluation.results;
    const ok = all.filter((r) => !r.error);
    const label = (id) => {
      const r = store.runs.get(id);
      return r ? runLabel(r) : `#${id}`;
    };
    const colorOf = new Map(all.map((r, i) => [r.mixer, seriesColor(i)]));
    const scoresEl = h('div', { class: 'plot', id: 'plot-scores' });
    const pvaEl = h('div', { class: 'plot', id: 'plot-pva' });
    const bestSpearman = Math.max(...ok.map((r) => r.spearman ?? -Infinity));
    const bestRegret = Math.min(...ok.map((r) => r.regret ?? Infinity));
    const foldsEl = h('div', { class: 'plot', id: 'plot-folds' });
    const withFolds = ok.filter((r) => (r.folds || []).some((f) => typeof f.spearman === 'number'));
    const table = h('table', { class: 'table', id: 'cmp-table' },
      h('thead', {}, h('tr', {}, ['Mixer', 'Spearman ρ ↑', '± se', 'MAE ↓', 'Regret ↓', 'Cov. 68%', 'Cov. 95%', 'Runs']
        .map((c, i) => h('th', { class: i ? 'num' : '', title: HEAD_TITLES[i] }, c)))),
      h('tbody', {}, all.map((r) => h('tr', { dataset: { mixer: r.mixer }, class: `${r.error ? 'errored' : ''} ${evaluation.winner?.mixer === r.mixer ? 'won' : ''}` },
        h('td', {}, h('span', { class: 'swatch', style: { background: colorOf.get(r.mixer) } }), ' ', h('b', {}, r.mixer)),
        r.error
          ? h('td', { colspan: 7, class: 'cmp-error' }, h('code', {}, r.error.code), ' ', r.error.detail)
          : [
            h('td', { class: `num ${r.spearman === bestSpearman ? 'winner' : ''}` }, num(r.spearman, 4)),
            h('td', { class: 'num cmp-se' }, typeof r.spearman_se === 'number' ? num(r.spearman_se, 2) : '—'),
            h('td', { class: 'num' }, num(r.mae, 4)),
            h('td', { class: `num ${r.regret === bestRegret ? 'winner' : ''}` }, num(r.regret, 4)),
            h('td', { class: 'num cmp-cov68' }, coverageText(r.coverage, '68')),
            h('td', { class: 'num cmp-cov95' }, coverageText(r.coverage, '95')),
            h('td', { class: 'num' }, r.n_runs),
          ]))));
    const w = evaluation.winner;
    const where = evaluation.fidelity
      ? h('p', { class: 'muted small', id: 'cmp-evaluated' }, `Evaluated on the completed runs at ${fidelityLabel(evaluation.fidelity)}`,
        ok.length ? ` (${Math.max(...ok.map((r) => r.n_runs))} runs)` : '', '.')
      : null;
    const verdict = w
      ? h('p', { class: 'cmp-winner', id: 'cmp-winner' },
        w.mixer ? ['Winner: ', h('b', {}, w.mixer), '. '] : 'No winner. ', h('span', { class: 'muted' }, `Rule: ${w.rule}.`))
      : null;
    const mapped = mappingNote(evaluation.diagnostics, 'cmp-domain-mapping');
    fill(results, verdict || where || mapped ? card('Verdict', [verdict, where, mapped], null, { id: 'verdict-card' }) : null,
      h('div', { class: 'two' },
        card('Scores', [h('div', { class: 'table-wrap' }, table), ok.length ? scoresEl : null], null, { id: 'scores-card' }),
        ok.length ? card('Predicted against actual (held-out folds)', pvaEl, null, { id: 'pva-card' }) : null),
      withFolds.length ? card('Spread over folds: Spearman ρ of each fold, mean ± 1 standard error', foldsEl, null, { id: 'folds-card' }) : null);
    if (ok.length) {
      mixerScores(scoresEl, ok, ok.map((r) => colorOf.get(r.mixer)));
      predictedVsActual(pvaEl, ok, label, ok.map((r) => colorOf.get(r.mixer)));
    }
    if (withFolds.length) foldSpread(foldsEl, withFolds, withFolds.map((r) => colorOf.get(r.mixer)));
  }

  if (ctx.shared.evaluation) render(ctx.shared.evaluation);
  else {
    // After a reload: the newest stored result of each mixer (each mixer is evaluated in its own request).
    api.evaluations(project.name, { max_results: 20 }).then((page) => {
      if (ctx.shared.evaluation || !page.evaluations.length || !root.isConnected) return;
      const newest = new Map();
      for (const e of page.evaluations) for (const r of e.results) if (!newest.has(r.mixer)) newest.set(r.mixer, r);
      ctx.shared.evaluation = { results: [...newest.values()], stored: page.evaluations[0].created_at };
      render(ctx.shared.evaluation);
      results.prepend(h('p', { class: 'muted small', id: 'cmp-stored' }, `Stored results, newest ${dateTime(ctx.shared.evaluation.stored)} (see History).`));
    }).catch(() => {});
  }
  return null;
}
