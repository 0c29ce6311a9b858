// Compare mixers: k-fold cross-validation on the completed runs (POST …/evaluations), side by side.
//
// Only the mixers that can answer on this project are pre-checked (GET …/mixers says which and why not).
// Each checked mixer is evaluated in its own request, all at once, with the same folds and seed, so results
// appear as they finish, a progress bar counts them, and a mixer that cannot answer (a 200 whose result
// carries `error`, or a 4xx) shows its reason next to the others' scores.
import { api } from '../api.js';
import { rememberComparison, winner } from '../defaults.js';
import { card, clear, duration, fill, h, num } from '../dom.js';
import { offlineOrNote } from '../mixerpicker.js';
import { mixerScores, predictedVsActual, seriesColor } from '../plots.js';
import { getList, setState, bindInput } from '../urlstate.js';
import { runLabel } from '../widgets.js';

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
  const boxes = offline.map((m) => {
    const known = status.get(m.name);
    const can = known ? known.available : true;
    const box = h('input', { type: 'checkbox', value: m.name, checked: can });
    const custom = ctx.shared.configs[m.name] && Object.keys(ctx.shared.configs[m.name]).length;
    return {
      name: m.name, box,
      el: h('label', { class: `check mixer-check ${can ? '' : 'unavailable'}`, title: m.description, dataset: { mixer: m.name } },
        box, ` ${m.name}`, custom ? h('span', { class: 'muted' }, ' (your config)') : null,
        can ? null : h('span', { class: 'why small' }, ` — ${known.reason}`)),
    };
  });
  const folds = h('input', { type: 'number', id: 'cmp-folds', min: 2, max: 20, step: 1, value: 5, class: 'narrow' });
  // The checked mixers and the folds live in the URL (?mixers=a,b&folds=5).
  const urlMixers = getList('mixers');
  if (urlMixers.length) for (const b of boxes) b.box.checked = urlMixers.includes(b.name);
  for (const b of boxes) b.box.addEventListener('change', () => setState({ mixers: boxes.filter((x) => x.box.checked).map((x) => x.name) }));
  bindInput(folds, 'folds');
  const go = h('button', { class: 'primary', id: 'btn-evaluate' }, 'Cross-validate');
  const errorBox = h('div');
  const progress = h('div', { id: 'cmp-progress' });
  const results = h('div', { id: 'cmp-results' });
  const last = winner(ctx.shared.evaluation);
  root.append(
    card('Compare mixers by cross-validation', h('div', { class: 'stack' },
      h('p', { class: 'muted' }, 'Each mixer is fitted on k−1 folds of the completed runs (at the fidelity with the most runs) and predicts the held-out fold. ',
        'Spearman ρ: how well it ranks mixtures. Regret: how much worse the run it ranks first is than the best run. ',
        'The winner becomes the default mixer of Recommend and What-if in this browser.'),
      h('div', { class: 'mixer-checks' }, boxes.map((b) => b.el)),
      h('div', { class: 'row' }, h('span', { class: 'label' }, 'Folds'), folds, go),
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
    const one = async (m) => {
      const cfg = ctx.shared.configs[m];
      const choice = cfg && Object.keys(cfg).length ? { mixer: m, config: cfg } : { mixer: m };
      try {
        const resp = await api.evaluate(project.name, { mixers: [choice], folds: k, seed: SEED });
        for (const r of resp.results) collected.push(r);
        state.set(m, resp.results.some((r) => r.error) ? 'failed' : 'done');
      } catch (err) {
        const p = err.problem || {};
        collected.push({ mixer: m, error: { code: p.code || `http_${err.status || 'error'}`, detail: p.detail || err.message } });
        state.set(m, 'failed');
      }
      collected.sort((a, b) => order.get(a.mixer) - order.get(b.mixer));
      const evaluation = { results: collected.slice() };
      ctx.shared.evaluation = evaluation;
      paint();
      render(evaluation);
    };
    try {
      await Promise.all(chosen.map(one));
      const best = rememberComparison(project.name, ctx.shared.evaluation);
      if (best && !ctx.shared.choiceTouched) ctx.shared.choice = best;
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
    const table = h('table', { class: 'table', id: 'cmp-table' },
      h('thead', {}, h('tr', {}, ['Mixer', 'Spearman ρ ↑', 'MAE ↓', 'Regret of top pick ↓', 'Runs'].map((c, i) => h('th', { class: i ? 'num' : '' }, c)))),
      h('tbody', {}, all.map((r) => h('tr', { dataset: { mixer: r.mixer }, class: r.error ? 'errored' : '' },
        h('td', {}, h('span', { class: 'swatch', style: { background: colorOf.get(r.mixer) } }), ' ', h('b', {}, r.mixer)),
        r.error
          ? h('td', { colspan: 4, class: 'cmp-error' }, h('code', {}, r.error.code), ' ', r.error.detail)
          : [
            h('td', { class: `num ${r.spearman === bestSpearman ? 'winner' : ''}` }, num(r.spearman, 4)),
            h('td', { class: 'num' }, num(r.mae, 4)),
            h('td', { class: `num ${r.regret === bestRegret ? 'winner' : ''}` }, num(r.regret, 4)),
            h('td', { class: 'num' }, r.n_runs),
          ]))));
    fill(results, h('div', { class: 'two' },
      card('Scores', [table, ok.length ? scoresEl : null], null, { id: 'scores-card' }),
      ok.length ? card('Predicted against actual (held-out folds)', pvaEl, null, { id: 'pva-card' }) : null));
    if (ok.length) {
      mixerScores(scoresEl, ok, ok.map((r) => colorOf.get(r.mixer)));
      predictedVsActual(pvaEl, ok, label, ok.map((r) => colorOf.get(r.mixer)));
    }
  }

  if (ctx.shared.evaluation) render(ctx.shared.evaluation);
  return null;
}
