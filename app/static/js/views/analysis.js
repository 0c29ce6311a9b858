// Analysis: objective against each domain's weight; best objective so far against runs and cost.
import { card, debounce, fidelityKey, fidelityLabel, fill, h } from '../dom.js';
import { domainNames, objectiveLabel, scored, sign } from '../model.js';
import { bestSoFar, objectiveVsWeights } from '../plots.js';

export function mount(root, ctx) {
  const { project, store } = ctx;
  const domains = domainNames(project);
  const yTitle = objectiveLabel(project).split('/').pop();
  const state = { fidelity: null, logx: false };

  const fidSel = h('select', { id: 'analysis-fidelity', onchange: () => { state.fidelity = fidSel.value; render(); } });
  const logBox = h('input', { type: 'checkbox', onchange: () => { state.logx = logBox.checked; render(); } });
  const gridEl = h('div', { class: 'plot', id: 'plot-weights' });
  const runsEl = h('div', { class: 'plot', id: 'plot-best-runs' });
  const costEl = h('div', { class: 'plot', id: 'plot-best-cost' });
  const gridNote = h('p', { class: 'muted' });
  root.append(
    card('Objective against each domain’s weight', [gridNote, gridEl],
      [h('label', {}, 'Fidelity ', fidSel), h('label', {}, logBox, ' log weight')], { id: 'weights-card' }),
    h('div', { class: 'two' },
      card('Best objective so far, by runs', runsEl, null, { id: 'best-runs-card' }),
      card('Best objective so far, by cost spent', costEl, null, { id: 'best-cost-card' })),
  );

  function render() {
    const points = scored(project, store.list());
    const counts = new Map();
    for (const p of points) {
      const k = fidelityKey(p.run.fidelity);
      counts.set(k, { n: (counts.get(k)?.n || 0) + 1, fid: p.run.fidelity });
    }
    if (state.fidelity === null || !counts.has(state.fidelity)) {
      state.fidelity = [...counts].sort((a, b) => b[1].n - a[1].n)[0]?.[0] ?? '';
    }
    fill(fidSel, [...counts].map(([k, { n, fid }]) => h('option', { value: k, selected: k === state.fidelity }, `${fidelityLabel(fid)} (${n})`)));
    const atFid = points.filter((p) => fidelityKey(p.run.fidelity) === state.fidelity);
    const s = sign(project);
    const best = atFid.reduce((b, p) => (b === null || s * p.value < s * b.value ? p : b), null);
    if (!atFid.length) {
      gridNote.textContent = 'No completed run has a value for the objective yet.';
      return;
    }
    gridNote.textContent = `${atFid.length} completed runs at ${fidelityLabel(atFid[0].run.fidelity)}; the line is the mean objective in ten weight bins, the star the best run.`;
    objectiveVsWeights(gridEl, domains, atFid, best, yTitle, { logx: state.logx, columns: domains.length > 12 ? 4 : 3 });
    bestSoFar(runsEl, points, s, 'runs', yTitle);
    if (points.some((p) => typeof p.run.cost === 'number')) bestSoFar(costEl, points, s, 'cost', yTitle);
    else {
      fill(costEl, h('p', { class: 'empty' }, 'No run has a cost yet. Send ', h('code', {}, 'cost'),
        ' with each run (e.g. GPU hours or FLOPs) to see the best objective against what was spent.'));
    }
  }

  const onChange = debounce(render, 800);
  store.addEventListener('change', onChange);
  render();
  return () => {
    onChange.cancel();
    store.removeEventListener('change', onChange);
  };
}
