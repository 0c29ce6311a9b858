// Compare mixers: k-fold cross-validation on the completed runs (POST …/evaluations), side by side.
import { api } from '../api.js';
import { busy, card, clear, fill, h, num, problemBox } from '../dom.js';
import { offlineOrNote } from '../mixerpicker.js';
import { mixerScores, predictedVsActual, seriesColor } from '../plots.js';
import { runLabel } from '../widgets.js';

export async function mount(root, ctx) {
  const { project, store } = ctx;
  const { offline, note } = offlineOrNote(await ctx.mixers());
  if (!offline.length) {
    root.append(card('Compare mixers', note));
    return null;
  }
  const boxes = offline.map((m) => {
    const box = h('input', { type: 'checkbox', value: m.name, checked: true });
    const custom = ctx.shared.configs[m.name] && Object.keys(ctx.shared.configs[m.name]).length;
    return { name: m.name, box, el: h('label', { class: 'check', title: m.description }, box, ` ${m.name}`, custom ? h('span', { class: 'muted' }, ' (your config)') : null) };
  });
  const folds = h('input', { type: 'number', id: 'cmp-folds', min: 2, max: 20, step: 1, value: 5, class: 'narrow' });
  const go = h('button', { class: 'primary', id: 'btn-evaluate' }, 'Cross-validate');
  const errorBox = h('div');
  const results = h('div', { id: 'cmp-results' });
  root.append(
    card('Compare mixers by cross-validation', h('div', { class: 'stack' },
      h('p', { class: 'muted' }, 'Each mixer is fitted on k−1 folds of the completed runs (at the fidelity with the most runs) and predicts the held-out fold. ',
        'Spearman ρ: how well it ranks mixtures. Regret: how much worse the run it ranks first is than the best run.'),
      h('div', { class: 'row wrap' }, boxes.map((b) => b.el)),
      h('div', { class: 'row' }, h('span', { class: 'label' }, 'Folds'), folds, go),
      errorBox), null, { id: 'cmp-card' }),
    results);

  go.addEventListener('click', () => busy(go, async () => {
    clear(errorBox);
    const chosen = boxes.filter((b) => b.box.checked).map((b) => b.name);
    if (!chosen.length) {
      errorBox.append(h('p', { class: 'error-text' }, 'Choose at least one mixer.'));
      return;
    }
    const body = {
      mixers: chosen.map((m) => (ctx.shared.configs[m] && Object.keys(ctx.shared.configs[m]).length ? { mixer: m, config: ctx.shared.configs[m] } : { mixer: m })),
      folds: Number(folds.value),
    };
    try {
      ctx.shared.evaluation = await api.evaluate(project.name, body);
      render(ctx.shared.evaluation);
    } catch (err) {
      errorBox.append(problemBox(err));
    }
  }, 'Cross-validating…'));

  function render(evaluation) {
    const res = evaluation.results;
    const label = (id) => {
      const r = store.runs.get(id);
      return r ? runLabel(r) : `#${id}`;
    };
    const scoresEl = h('div', { class: 'plot', id: 'plot-scores' });
    const pvaEl = h('div', { class: 'plot', id: 'plot-pva' });
    const bestSpearman = Math.max(...res.map((r) => r.spearman ?? -Infinity));
    const bestRegret = Math.min(...res.map((r) => r.regret ?? Infinity));
    const table = h('table', { class: 'table', id: 'cmp-table' },
      h('thead', {}, h('tr', {}, ['Mixer', 'Spearman ρ ↑', 'MAE ↓', 'Regret of top pick ↓', 'Runs'].map((c, i) => h('th', { class: i ? 'num' : '' }, c)))),
      h('tbody', {}, res.map((r, i) => h('tr', {},
        h('td', {}, h('span', { class: 'swatch', style: { background: seriesColor(i) } }), ' ', h('b', {}, r.mixer)),
        h('td', { class: `num ${r.spearman === bestSpearman ? 'winner' : ''}` }, num(r.spearman, 4)),
        h('td', { class: 'num' }, num(r.mae, 4)),
        h('td', { class: `num ${r.regret === bestRegret ? 'winner' : ''}` }, num(r.regret, 4)),
        h('td', { class: 'num' }, r.n_runs)))));
    fill(results, h('div', { class: 'two' },
      card('Scores', [table, scoresEl], null, { id: 'scores-card' }),
      card('Predicted against actual (held-out folds)', pvaEl, null, { id: 'pva-card' })));
    mixerScores(scoresEl, res);
    predictedVsActual(pvaEl, res, label);
  }

  if (ctx.shared.evaluation) render(ctx.shared.evaluation);
  return null;
}
