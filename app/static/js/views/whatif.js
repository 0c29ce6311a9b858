// What-if: move a domain's slider (the others rescale to stay on the simplex) and watch the prediction.
import { api } from '../api.js';
import { card, clear, debounce, fill, h, num, pct, problemBox } from '../dom.js';
import { bestRun, domainNames, objectiveLabel, objectiveValue, prior, sign } from '../model.js';
import { fidelityChooser, mixerPicker, offlineOrNote } from '../mixerpicker.js';
import { domainColor, domainGroup, domainLabel, familyColor } from '../palette.js';
import { setWeight, uniform } from '../simplex.js';
import { transferOf } from '../defaults.js';
import { bindInput, getList, setState } from '../urlstate.js';
import { runLabel, transferBadge } from '../widgets.js';

const STEP = 0.0005;

export async function mount(root, ctx) {
  const { project, store } = ctx;
  const { offline, note } = offlineOrNote(await ctx.mixers());
  if (!offline.length) {
    root.append(card('What-if explorer', note));
    return null;
  }
  const domains = domainNames(project);
  const picker = mixerPicker(ctx, offline, 'wi', await ctx.availability().catch(() => null));
  const fid = fidelityChooser(project, store.list(), 'wi');
  const best = bestRun(project, store.list());
  // The mixture explored lives in the URL (?w=<weights in domain order>), with the mixer and fidelity.
  const fromUrl = getList('w').map(Number);
  let weights = fromUrl.length === domains.length && fromUrl.every((x) => x >= 0) && fromUrl.some((x) => x > 0)
    ? Object.fromEntries(domains.map((d, i) => [d, fromUrl[i] / fromUrl.reduce((a, b) => a + b, 0)]))
    : ctx.shared.whatif || (ctx.shared.recommendation ? { ...ctx.shared.recommendation.weights } : prior(project));
  bindInput(picker.head.querySelector('#wi-mixer'), 'mixer');
  bindInput(fid.el.querySelector('#wi-fidelity'), 'fidelity');
  const saveWeights = () => setState({ w: domains.map((d) => Number((weights[d] ?? 0).toPrecision(4))) });
  let reference = null; // prediction at the mixture the user started from
  let seq = 0;
  let controller = null;

  const readout = h('div', { class: 'big', id: 'whatif-predicted' }, '…');
  const refLine = h('div', { class: 'tile-sub', id: 'whatif-ref' });
  const transferLine = h('div', { id: 'whatif-transfer-box' });
  const status = h('div', { class: 'whatif-status' });
  const errorBox = h('div', { id: 'whatif-error' });
  const sliders = h('div', { class: 'sliders', id: 'whatif-sliders' });
  const rows = new Map();

  // With families: a heading with each outermost family's total before its members (kept current by show()).
  const familyTotalsEl = new Map();
  for (const d of domains) {
    const g = domainGroup(d);
    if (g !== null && !familyTotalsEl.has(g)) {
      const out = h('span', { class: 'family-total' });
      const fam = (project.families || []).find((f) => f.name === g);
      const lo = fam?.min_weight ?? null;
      const hi = fam?.max_weight ?? null;
      familyTotalsEl.set(g, { out, lo, hi });
      sliders.append(h('div', { class: 'slider-family', dataset: { family: g } },
        h('span', { class: 'swatch', style: { background: familyColor(g) } }), g, out,
        lo !== null || hi !== null ? h('span', { class: 'muted small family-bounds' }, `bounds ${lo === null ? '0' : pct(lo)}–${hi === null ? '100%' : pct(hi)}`) : null));
    }
    const range = h('input', { type: 'range', min: 0, max: 1, step: STEP, 'aria-label': `${d} weight`, dataset: { domain: d } });
    const box = h('input', { type: 'number', min: 0, max: 1, step: 0.001, class: 'weight-box', 'aria-label': `${d} weight value` });
    range.addEventListener('input', () => update(d, Number(range.value)));
    box.addEventListener('change', () => update(d, Number(box.value)));
    const fill = h('span', { class: 'fill', style: { background: domainColor(d) } });
    const dom = project.domains.find((x) => x.name === d);
    const bounds = [dom.min_weight !== null && dom.min_weight !== undefined ? `min ${dom.min_weight}` : null,
      dom.max_weight !== null && dom.max_weight !== undefined ? `max ${dom.max_weight}` : null].filter(Boolean).join(', ');
    sliders.append(h('div', { class: 'slider-row' },
      h('span', { class: 'swatch', style: { background: domainColor(d) } }),
      h('label', { class: 'dname', title: bounds ? `${d} (${bounds})` : d }, domainLabel(d)),
      h('div', { class: 'range-wrap' }, h('div', { class: 'track' }, fill), range),
      box,
      h('span', { class: 'pctcell' })));
    rows.set(d, { range, box, fill, pct: sliders.lastChild.lastChild });
  }

  const startButtons = h('div', { class: 'row wrap' }, h('span', { class: 'label' }, 'Start from'),
    h('button', { class: 'small', onclick: () => start(prior(project)) }, 'token-share prior'),
    h('button', { class: 'small', onclick: () => start(uniform(domains)) }, 'uniform'),
    best ? h('button', { class: 'small', onclick: () => start(best.weights) }, `best run (${runLabel(best)})`) : null,
    ctx.shared.recommendation ? h('button', { class: 'small', onclick: () => start(ctx.shared.recommendation.weights) }, 'the recommendation') : null);

  root.append(h('div', { class: 'split' },
    card('Model', h('div', { class: 'stack' }, picker.head, fid.el, picker.form,
      h('p', { class: 'muted small' }, 'Predictions come from ', h('code', {}, 'POST …/predictions'), ' with this mixer and config (fitted once, then cached by the server).'))),
    h('div', { class: 'stack' },
      card('What-if explorer', h('div', { class: 'stack' },
        h('div', { class: 'headline sticky' },
          h('div', {}, h('div', { class: 'tile-label' }, `predicted ${objectiveLabel(project)}`), readout, refLine, transferLine),
          best ? h('div', {}, h('div', { class: 'tile-label' }, 'best observed'), h('div', { class: 'big muted-big' }, num(objectiveValue(project, best.metrics), 5)),
            h('div', { class: 'tile-sub' }, runLabel(best))) : null,
          status),
        errorBox,
        startButtons,
        sliders,
        h('p', { class: 'muted small' }, 'Moving one weight rescales all the others in proportion, so the mixture always sums to 1.')),
      null, { id: 'whatif-card' }))));

  function show() {
    for (const [g, { out, lo, hi }] of familyTotalsEl) {
      const t = domains.filter((d) => domainGroup(d) === g).reduce((s, d) => s + (weights[d] ?? 0), 0);
      out.textContent = `${(100 * t).toFixed(1)}%`;
      out.classList.toggle('warn-text', (lo !== null && t < lo - 1e-9) || (hi !== null && t > hi + 1e-9));
      out.title = out.classList.contains('warn-text') ? 'outside the family’s bounds: mixers would not propose this mixture' : '';
    }
    for (const d of domains) {
      const r = rows.get(d);
      const w = weights[d] ?? 0;
      r.range.value = String(w);
      if (document.activeElement !== r.box) r.box.value = w.toFixed(4);
      r.fill.style.width = `${100 * w}%`;
      r.pct.textContent = `${(100 * w).toFixed(1)}%`;
    }
  }

  function update(d, v) {
    weights = setWeight(weights, d, v);
    ctx.shared.whatif = weights;
    saveWeights();
    show();
    predictSoon();
  }

  function start(w) {
    const total = domains.reduce((s, d) => s + (w[d] ?? 0), 0) || 1;
    weights = Object.fromEntries(domains.map((d) => [d, (w[d] ?? 0) / total]));
    ctx.shared.whatif = weights;
    saveWeights();
    reference = null;
    show();
    predict();
  }

  async function predict() {
    const mine = ++seq;
    if (controller) controller.abort();
    controller = new AbortController();
    const { mixer, config, errors } = picker.read();
    if (errors.length) return;
    const body = { mixer, mixtures: [weights] };
    if (Object.keys(config).length) body.config = config;
    let f = null;
    try {
      f = fid.read();
      if (f) body.fidelity = f;
      status.textContent = 'predicting…';
      status.className = 'whatif-status working';
      const resp = await api.predict(project.name, body, controller.signal);
      if (mine !== seq) return;
      const p = resp.predictions[0];
      clear(errorBox);
      const said = resp.transfer ? resp : p.transfer ? p : null;
      fill(transferLine, transferBadge(transferOf(said, f, store.list()), store.list(), 'whatif-transfer'));
      fill(readout, num(p.mean, 5), p.std !== null ? h('small', {}, ` ± ${num(p.std, 3)}`) : null);
      if (reference === null) reference = p.mean;
      const delta = p.mean - reference;
      const better = sign(project) * delta < 0;
      refLine.textContent = Math.abs(delta) < 1e-12 ? 'at the starting mixture' : `${delta > 0 ? '+' : ''}${num(delta, 3)} vs the starting mixture`;
      refLine.className = `tile-sub ${Math.abs(delta) < 1e-12 ? '' : better ? 'good' : 'bad'}`;
      status.textContent = '';
      status.className = 'whatif-status';
    } catch (err) {
      if (err.name === 'AbortError' || mine !== seq) return;
      status.textContent = '';
      fill(errorBox, err.problem ? problemBox(err) : h('p', { class: 'error-text' }, err.message));
      if (err.problem) picker.showErrors(err.problem);
    }
  }

  const predictSoon = debounce(predict, 200);
  picker.onChange(() => { reference = null; predict(); });
  fid.el.addEventListener('change', () => { reference = null; predict(); });
  show();
  predict();
  return () => {
    predictSoon.cancel();
    if (controller) controller.abort();
  };
}
