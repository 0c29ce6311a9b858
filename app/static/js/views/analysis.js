// Analysis: objective against each domain's weight; the mixture map; best objective so far against runs and cost,
// one line per fidelity.
import { api } from '../api.js';
import { defaultFidelity, defaultMixer } from '../defaults.js';
import { busy, card, debounce, fidelityKey, fidelityLabel, fill, h, num, problemBox } from '../dom.js';
import { familyKey, familyRows, hasFamilies, topFamily } from '../families.js';
import { axisWords, groupTotals, pca2 } from '../mixmap.js';
import { currentWeights, domainNames, inCurrentSet, OPEN, objectiveLabel, scored, sign } from '../model.js';
import { domainLabel } from '../palette.js';
import { ACCENT, BEST, bestSoFar, binnedGrid, drawQueue, MANY_POINTS, mixtureMap, objectiveVsWeights } from '../plots.js';
import { getState, setState } from '../urlstate.js';
import { runLabel } from '../widgets.js';
import { mount as mountInsight } from './insight.js';

export function mount(root, ctx) {
  const { project, store } = ctx;
  const domains = domainNames(project);
  const yTitle = objectiveLabel(project).split('/').pop();
  // The fidelity shown and the log weight axis live in the URL (?fidelity=params=30000000&logx=1).
  const state = { fidelity: getState('fidelity'), logx: getState('logx') === '1' };
  // Charts are drawn one per task, the visible ones first: the page stays responsive at 10,000 runs.
  const queue = drawQueue();

  const fidSel = h('select', { id: 'analysis-fidelity', onchange: () => { state.fidelity = fidSel.value; setState({ fidelity: state.fidelity }); render(); } });
  const logBox = h('input', { type: 'checkbox', id: 'analysis-logx', checked: state.logx, onchange: () => { state.logx = logBox.checked; setState({ logx: state.logx ? 1 : null }); render(); } });
  const gridEl = h('div', { class: 'plot', id: 'plot-weights' });
  const mapEl = h('div', { class: 'plot', id: 'plot-map' });
  const mapNote = h('p', { class: 'muted small', id: 'map-note' });
  const mapError = h('div');
  const recBtn = h('button', { class: 'small', id: 'map-recommend' }, 'Mark a recommendation');
  // With three or more outermost families (a domain without one counts as one), the map can place runs by their
  // family totals instead of their weights (?map=families).
  const mapGroups = [...new Set(domains.map(topFamily))];
  const mapFamilies = hasFamilies(domains) && mapGroups.length >= 3;
  const mapSel = h('select', { id: 'map-of' }, h('option', { value: 'domains' }, 'domains'), h('option', { value: 'families' }, 'family totals'));
  mapSel.value = getState('map') === 'families' && mapFamilies ? 'families' : 'domains';
  mapSel.addEventListener('change', () => { setState({ map: mapSel.value === 'families' ? 'families' : null }); queue.add(mapEl, renderMap); });
  const runsEl = h('div', { class: 'plot', id: 'plot-best-runs' });
  const costEl = h('div', { class: 'plot', id: 'plot-best-cost' });
  const gridNote = h('p', { class: 'muted' });
  const mappedNote = h('p', { class: 'mapping-note', id: 'analysis-domain-mapping' });
  root.append(
    card('Objective against each domain’s weight', [gridNote, mappedNote, gridEl],
      [h('label', {}, 'Fidelity ', fidSel), h('label', {}, logBox, ' log weight')], { id: 'weights-card' }),
    card('Mixture map', [mapNote, mapError, mapEl], [mapFamilies ? h('label', {}, 'Map of ', mapSel) : null, recBtn], { id: 'map-card' }),
    h('div', { class: 'two' },
      card('Best objective so far, by runs (one line per fidelity)', runsEl, null, { id: 'best-runs-card' }),
      card('Best objective so far, by cost spent (one line per fidelity)', costEl, null, { id: 'best-cost-card' })),
  );

  recBtn.addEventListener('click', () => busy(recBtn, async () => {
    fill(mapError);
    try {
      const offline = (await ctx.mixers()).filter((m) => m.kind === 'offline');
      const avail = await ctx.availability().catch(() => null);
      const usable = avail ? new Set(avail.filter((m) => m.available).map((m) => m.name)) : null;
      const mixer = ctx.shared.choice || defaultMixer(project.name, offline, usable).name;
      const fidelity = defaultFidelity(store.list());
      const body = { mixer };
      if (fidelity) body.fidelity = fidelity;
      const cfg = ctx.shared.configs[mixer];
      if (cfg && Object.keys(cfg).length) body.config = cfg;
      const rec = await api.recommend(project.name, body);
      rec.requested_fidelity = fidelity;
      ctx.shared.recommendation = rec;
      queue.add(mapEl, renderMap);
    } catch (err) {
      fill(mapError, problemBox(err));
    }
  }, 'Fitting…'));

  function columnsFor(width) {
    if (width < 560) return 2;
    if (width < 900 || domains.length <= 12) return 3;
    return 4;
  }

  function atFidelity() {
    const points = scored(project, store.list());
    const counts = new Map();
    for (const p of points) {
      const k = fidelityKey(p.run.fidelity);
      counts.set(k, { n: (counts.get(k)?.n || 0) + 1, fid: p.run.fidelity });
    }
    if (state.fidelity === null || !counts.has(state.fidelity)) {
      state.fidelity = [...counts].sort((a, b) => b[1].n - a[1].n)[0]?.[0] ?? '';
    }
    // The weight plots read each run's weights in the current domain set (runs of earlier sets mapped, as the mixers do).
    const { points: atFid, counts: mapped } = inCurrentSet(project, points.filter((p) => fidelityKey(p.run.fidelity) === state.fidelity));
    return { points, counts, atFid, mapped };
  }

  function render() {
    const { points, counts, atFid, mapped } = atFidelity();
    fill(fidSel, [...counts].map(([k, { n, fid }]) => h('option', { value: k, selected: k === state.fidelity }, `${fidelityLabel(fid)} (${n})`)));
    const s = sign(project);
    const best = atFid.reduce((b, p) => (b === null || s * p.value < s * b.value ? p : b), null);
    if (!atFid.length) {
      gridNote.textContent = 'No completed run has a value for the objective yet.';
      mapNote.textContent = 'The map needs completed runs.';
      return;
    }
    const earlier = mapped.exact + mapped.assumed + mapped.dropped;
    mappedNote.textContent = earlier ? `${earlier} of these runs are from earlier domain sets, shown in the current one as the mixers read them: `
      + `${mapped.exact} exact, ${mapped.assumed} assumed (a split parent’s weight divided by its parts’ token shares)`
      + `${mapped.dropped ? `; ${mapped.dropped} left out (trained on a removed domain)` : ''}.` : '';
    const zeros = state.logx ? domains.filter((d) => atFid.some((p) => !(p.run.weights[d] > 0))).length : 0;
    gridNote.textContent = `${atFid.length} completed runs at ${fidelityLabel(atFid[0].run.fidelity)}; the line is the mean objective in ten weight bins, the star the best run.`
      + (zeros ? ` On the log axis, runs without a domain sit in its “0” bucket at the left, with their mean as a dash (${zeros} domains have such runs).` : '')
      + (binnedGrid(atFid.length, domains.length) ? ' Too many runs to draw one by one: the shading counts the runs in each weight × objective cell (hover for the count).' : '');
    const narrow = gridEl.clientWidth < 560;
    const { panels, points: gridPoints, best: gridBest } = withFamilyTotals(atFid, best);
    if (panels.length > domains.length) gridNote.textContent += ' Each family’s total weight (Σ) has a panel before its members.';
    queue.add(gridEl, () => objectiveVsWeights(gridEl, panels, gridPoints, gridBest, yTitle, { logx: state.logx, columns: columnsFor(gridEl.clientWidth || 1200), rowHeight: narrow ? 170 : 200 }));
    queue.add(mapEl, renderMap);
    const perFidelity = { label: fidelityLabel, key: fidelityKey };
    queue.add(runsEl, () => bestSoFar(runsEl, points, s, 'runs', yTitle, perFidelity));
    if (points.some((p) => typeof p.run.cost === 'number')) queue.add(costEl, () => bestSoFar(costEl, points, s, 'cost', yTitle, perFidelity));
    else {
      fill(costEl, h('p', { class: 'empty' }, 'No run has a cost yet. Send ', h('code', {}, 'cost'),
        ' with each run (e.g. GPU hours or FLOPs) to see the best objective against what was spent.'));
    }
  }

  /**
   * The grid's panels: the domains, and with families each family's total (familyKey) before its members; the
   * points' weights then carry the totals too.
   */
  function withFamilyTotals(points, best) {
    if (!hasFamilies(domains)) return { panels: domains, points, best };
    const rows = familyRows(domains);
    const fams = rows.filter((r) => r.kind === 'family');
    const extend = (p) => {
      const w = { ...p.run.weights };
      for (const f of fams) w[familyKey(f.name)] = f.members.reduce((s, d) => s + (p.run.weights[d] ?? 0), 0);
      return { ...p, run: { ...p.run, weights: w } };
    };
    const out = points.map(extend);
    return { panels: rows.map((r) => (r.kind === 'family' ? familyKey(r.name) : r.name)), points: out, best: best ? out[points.indexOf(best)] : null };
  }

  function renderMap() {
    const { atFid } = atFidelity();
    if (!atFid.length) return;
    const s = sign(project);
    const best = atFid.reduce((b, p) => (b === null || s * p.value < s * b.value ? p : b), null);
    const open = store.list().filter((r) => OPEN.has(r.status));
    const rec = ctx.shared.recommendation;
    // By family: each run's outermost families' totals (a domain without a family counts as one) instead of its weights.
    const byFamily = mapFamilies && mapSel.value === 'families';
    const units = byFamily ? mapGroups : domains;
    const vec = byFamily ? (w) => groupTotals(w, domains, mapGroups, topFamily) : (w) => domains.map((d) => w[d] ?? 0);
    const unitLabel = byFamily ? (g) => g : domainLabel;
    const ternary = units.length === 3;
    const top = (w) => vec(w).map((x, i) => [units[i], x]).sort((a, b) => b[1] - a[1]).slice(0, 3)
      .map(([d, x]) => `${unitLabel(d)} ${(100 * x).toFixed(0)}%`).join(', ');
    const what = byFamily ? 'family totals' : 'weights';
    let place;
    let axes;
    if (ternary) {
      place = (w, text) => {
        const [a, b, c] = vec(w);
        return { a, b, c, text };
      };
      axes = { a: unitLabel(units[0]), b: unitLabel(units[1]), c: unitLabel(units[2]) };
      mapNote.textContent = `Every run as a point of the triangle of its three ${what}, coloured by the objective (the best end brightest).`;
    } else {
      const pca = pca2(atFid.map((p) => vec(p.run.weights)));
      const labels = units.map(unitLabel);
      place = (w, text) => {
        const [x, y] = pca.project(vec(w));
        return { x, y, text };
      };
      axes = {
        x: `PC1 (${(100 * pca.explained[0]).toFixed(0)}%): ${axisWords(pca.axes[0], labels)}`,
        y: `PC2 (${(100 * pca.explained[1]).toFixed(0)}%): ${axisWords(pca.axes[1], labels)}`,
      };
      mapNote.textContent = `The completed runs at ${fidelityLabel(atFid[0].run.fidelity)} projected on the two directions in which their ${what} vary most `
        + `(${(100 * (pca.explained[0] + pca.explained[1])).toFixed(0)}% of the variance), coloured by the objective (the best end brightest). `
        + 'Pending proposals, the best run and the recommendation are marked: where runs have been, and where the next batch goes.';
    }
    // Above MANY_POINTS the (PCA) map bins the runs and shows no per-run label: skip building them.
    const label = (p) => (!ternary && atFid.length > MANY_POINTS ? '' : `${runLabel(p.run)}: ${top(p.run.weights)}`);
    const pts = atFid.map((p) => ({ ...place(p.run.weights, label(p)), value: p.value }));
    if (!ternary && atFid.length > MANY_POINTS) mapNote.textContent += ` With ${atFid.length} runs, each cell of the map is coloured by the mean objective of the runs in it (hover for how many).`;
    const marks = [
      { name: `pending / running (${open.length})`, symbol: 'diamond-open', color: '#111827', size: 11, lineWidth: 2, line: '#111827',
        points: open.map((r) => place(currentWeights(project, r).weights || r.weights, `${runLabel(r)}${r.proposal_id ? ` · proposal #${r.proposal_id}` : ''}: ${top(r.weights)}`)) },
      { name: 'best run', symbol: 'star', color: BEST, size: 16, points: best ? [place(best.run.weights, `${runLabel(best.run)}: ${num(best.value, 5)}`)] : [] },
      { name: rec ? `recommendation (${rec.mixer})` : 'recommendation', symbol: 'x', color: ACCENT, size: 16,
        points: rec ? [place(rec.weights, `predicted ${num(rec.predicted, 5)}: ${top(rec.weights)}`)] : [] },
    ];
    return mixtureMap(mapEl, pts, marks, axes, { ternary, minimize: s > 0, valueTitle: yTitle });
  }

  const onChange = debounce(render, 800);
  store.addEventListener('change', onChange);
  render();
  // What matters: importance, partial dependence and parallel coordinates (views/insight.js)
  const insight = mountInsight(root.appendChild(h('div', { id: 'insight' })), ctx);
  return () => {
    insight.then((stop) => stop?.(), () => {});
    queue.cancel();
    onChange.cancel();
    store.removeEventListener('change', onChange);
  };
}
