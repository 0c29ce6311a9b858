// What matters (inside Analysis): which domains drive a fitted mixer's predicted objective (POST …/importance),
// the partial dependence on one domain, and the runs in parallel coordinates (the top domains by importance).
// Mixer, fidelity and domain live in the URL (imix, ifid, idom), so a reload or a shared link shows the same.
import { mappingNote } from '../domainversions.js';
import { request } from '../api.js';
import { defaultMixer } from '../defaults.js';
import { busy, card, clear, fidelityKey, fidelityLabel, fill, h, problemBox } from '../dom.js';
import { importanceBars, parallelRuns, partialDependence } from '../insightplots.js';
import { domainNames, inCurrentSet, objectiveLabel, scored, sign } from '../model.js';
import { domainLabel } from '../palette.js';
import { getState, setState } from '../urlstate.js';

/** Domains drawn as axes of the parallel coordinates when the project has more. */
export const PARCOORDS_TOP = 8;

/** Fidelities of the completed runs with a value, most runs first: [{key, fidelity, n}]. */
function scoredFidelities(points) {
  const seen = new Map();
  for (const p of points) {
    const k = fidelityKey(p.run.fidelity);
    const e = seen.get(k) || { key: k, fidelity: p.run.fidelity, n: 0 };
    e.n += 1;
    seen.set(k, e);
  }
  return [...seen.values()].sort((a, b) => b.n - a.n || a.key.localeCompare(b.key));
}

/** Run `fn` once `el` is on screen (now when IntersectionObserver is missing); returns a disconnect. */
function whenVisible(el, fn) {
  if (typeof IntersectionObserver === 'undefined') {
    fn();
    return () => {};
  }
  const obs = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) {
      obs.disconnect();
      fn();
    }
  });
  obs.observe(el);
  return () => obs.disconnect();
}

/** Whether the browser can draw WebGL (plotly's parallel coordinates need it). */
function hasWebGL() {
  try {
    return !!document.createElement('canvas').getContext('webgl');
  } catch {
    return false;
  }
}

export async function mount(root, ctx) {
  const { project, store } = ctx;
  const domains = domainNames(project);
  const yTitle = objectiveLabel(project).split('/').pop();
  // The panel is drawn at once; the mixer choices fill in when the catalog arrives (its first read may be slow).
  const mixerSel = h('select', { id: 'insight-mixer' });
  const fidSel = h('select', { id: 'insight-fidelity' });
  const goBtn = h('button', { class: 'small primary', id: 'btn-importance', disabled: true, title: 'fit the mixer (cached) and measure each domain’s importance' }, 'Measure');
  const method = h('p', { class: 'muted small', id: 'importance-method' },
    'Which domains drive the fitted model’s predicted objective: LightGBM’s own SHAP values (regmix), the GP’s lengthscales (mfbo), the law’s slopes (mixing_law), else permutation importance.');
  const errorBox = h('div', { id: 'importance-error' });
  const barsEl = h('div', { class: 'plot', id: 'plot-importance' });
  const domSel = h('select', { id: 'pd-domain' }, domains.map((d) => h('option', { value: d }, domainLabel(d))));
  const pdNote = h('p', { class: 'muted small', id: 'pd-note' });
  const pdEl = h('div', { class: 'plot', id: 'plot-pd' });
  const pcNote = h('p', { class: 'muted small', id: 'parcoords-note' });
  const pcEl = h('div', { class: 'plot', id: 'plot-parcoords' });

  root.append(
    h('div', { class: 'two' },
      card('What matters', [method, errorBox, barsEl],
        [h('label', {}, 'Mixer ', mixerSel), h('label', {}, 'Fidelity ', fidSel), goBtn], { id: 'importance-card' }),
      card('Partial dependence on one domain', [pdNote, pdEl], h('label', {}, 'Domain ', domSel), { id: 'pd-card' })),
    card('Runs in parallel coordinates', [pcNote, pcEl], null, { id: 'parcoords-card' }),
  );

  let importance = null; // the last answer
  let seq = 0;

  function fillFidelities() {
    const fids = scoredFidelities(scored(project, store.list()));
    const want = getState('ifid');
    const chosen = fids.some((f) => f.key === want) ? want : fids[0]?.key;
    fill(fidSel, fids.map((f) => h('option', { value: f.key, selected: f.key === chosen }, `${fidelityLabel(f.fidelity)} (${f.n})`)));
    return fids;
  }

  function chosenFidelity() {
    return scoredFidelities(scored(project, store.list())).find((f) => f.key === fidSel.value)?.fidelity ?? null;
  }

  async function measure(domain = null) {
    const mine = ++seq;
    clear(errorBox);
    const body = { mixer: mixerSel.value };
    const cfg = ctx.shared.configs[mixerSel.value];
    if (cfg && Object.keys(cfg).length) body.config = cfg;
    const fidelity = chosenFidelity();
    if (fidelity) body.fidelity = fidelity;
    if (domain) body.domain = domain;
    try {
      const out = await request('POST', `/projects/${encodeURIComponent(project.name)}/importance`, { body });
      if (mine !== seq) return;
      importance = out;
      setState({ imix: out.mixer, ifid: fidSel.value, idom: out.partial_dependence?.domain });
      render(out);
    } catch (err) {
      if (mine !== seq) return;
      fill(errorBox, problemBox(err));
    }
  }

  function render(out) {
    fill(method, h('b', {}, out.method), `: ${out.method_detail}. `,
      `Fitted by ${out.mixer}; predictions at ${fidelityLabel(out.predicted_fidelity)} (${out.transfer}).`,
      mappingNote(out.diagnostics, 'importance-domain-mapping', 'span'));
    importanceBars(barsEl, out.importance);
    const order = out.importance.map((e) => e.domain);
    const pdDomain = out.partial_dependence?.domain;
    fill(domSel, order.map((d) => h('option', { value: d, selected: d === pdDomain }, domainLabel(d))));
    const pd = out.partial_dependence;
    if (pd) {
      pdNote.textContent = `The predicted ${yTitle} as ${domainLabel(pd.domain)}’s weight moves over the range the runs span, `
        + 'the other domains scaled to fill the rest (their ratios kept), averaged over the observed mixtures'
        + (pd.std.every((s) => typeof s === 'number') ? '; the band is ±1 sd of the prediction.' : '.');
      partialDependence(pdEl, pd, yTitle);
    }
    drawParcoords();
  }

  function drawParcoords() {
    if (!hasWebGL()) {
      fill(pcEl, h('p', { class: 'empty' }, 'Parallel coordinates need WebGL, which this browser has turned off.'));
      return;
    }
    // weights in the current domain set (runs of earlier sets mapped, those trained on a removed domain left out)
    const { points } = inCurrentSet(project, scored(project, store.list()).filter((p) => fidelityKey(p.run.fidelity) === fidSel.value));
    if (!points.length) {
      fill(pcEl, h('p', { class: 'empty' }, 'No completed run has a value for the objective yet.'));
      return;
    }
    let axes = domains;
    let why = '';
    if (domains.length > PARCOORDS_TOP) {
      if (importance) {
        axes = importance.importance.slice(0, PARCOORDS_TOP).map((e) => e.domain);
        why = ` the ${PARCOORDS_TOP} most important domains (${importance.mixer}, ${importance.method});`;
      } else {
        const spread = (d) => {
          const xs = points.map((p) => p.run.weights[d] ?? 0);
          const m = xs.reduce((a, b) => a + b, 0) / xs.length;
          return xs.reduce((a, b) => a + (b - m) ** 2, 0);
        };
        axes = [...domains].sort((a, b) => spread(b) - spread(a)).slice(0, PARCOORDS_TOP);
        why = ` the ${PARCOORDS_TOP} domains whose weights vary most (measure importance to pick the most important);`;
      }
    }
    pcNote.textContent = `${points.length} completed runs at ${fidelityLabel(points[0].run.fidelity)}, one line each:${why || ' every domain’s weight,'} `
      + `the objective last and as the colour (${sign(project) > 0 ? 'low' : 'high'} is better, the brightest end). Drag along an axis to filter.`;
    parallelRuns(pcEl, axes, points, yTitle, sign(project) > 0);
  }

  goBtn.addEventListener('click', () => busy(goBtn, () => measure(getState('idom')), 'Fitting…'));
  mixerSel.addEventListener('change', () => setState({ imix: mixerSel.value }));
  fidSel.addEventListener('change', () => {
    setState({ ifid: fidSel.value });
    drawParcoords();
  });
  domSel.addEventListener('change', () => {
    setState({ idom: domSel.value });
    if (importance) measure(domSel.value);
  });

  fillFidelities();
  const offline = (await ctx.mixers()).filter((m) => m.kind === 'offline');
  const fromUrl = getState('imix');
  const mixer0 = offline.some((m) => m.name === fromUrl) ? fromUrl : (ctx.shared.choice || defaultMixer(project.name, offline).name);
  fill(mixerSel, offline.map((m) => h('option', { value: m.name, selected: m.name === mixer0 }, m.name)));
  goBtn.disabled = !offline.length;
  // Which mixers can answer here is known later (it may take a moment): it only annotates the choices.
  ctx.availability().then((avail) => {
    for (const m of avail || []) {
      const opt = [...mixerSel.options].find((o) => o.value === m.name);
      if (opt && !m.available) opt.textContent = `${m.name} (cannot answer here)`;
    }
  }, () => {});
  // the URL names a measured mixer (a reload or a shared link): measure again (the fit is cached server-side)
  if (fromUrl && offline.some((m) => m.name === fromUrl)) busy(goBtn, () => measure(getState('idom')), 'Fitting…');
  const stop = whenVisible(pcEl, drawParcoords);
  return () => {
    seq += 1;
    stop();
  };
}
