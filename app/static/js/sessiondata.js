// An online session's history as chart series: the stretches trained at each mixture, the loss reports,
// which of them belong to probe stretches (Aioli's sweeps: short runs on near one-hot mixtures that measure
// how domains help each other), and smoothing of the loss curves.

/** A directive that only probes (the mixer says so with `phase: "sweep"`). */
export function isProbe(directive) {
  return directive?.phase === 'sweep';
}

/**
 * `history`: [{step, losses, directive}] as the API returns it (the first directive at step -1).
 * Returns {stretches: [{start, end, weights, probe}], reports: [{step, losses, afterProbe}], probes: bool}.
 */
export function sessionStretches(history) {
  const events = [...history].sort((a, b) => a.step - b.step);
  const stretches = [];
  for (const e of events) {
    const start = Math.max(e.step, 0);
    const end = e.directive.until_step;
    if (end > start || e.directive.done) stretches.push({ start, end: Math.max(end, start), weights: e.directive.weights, probe: isProbe(e.directive) });
  }
  const reports = [];
  let previous = null;
  for (const e of events) {
    if (e.losses) reports.push({ step: e.step, losses: e.losses, afterProbe: isProbe(previous?.directive) });
    previous = e;
  }
  return { stretches, reports, probes: stretches.some((s) => s.probe) };
}

/** Merge the probe stretches that follow one another into bands [start, end]. */
export function probeBands(stretches) {
  const bands = [];
  for (const s of stretches) {
    if (!s.probe) continue;
    const last = bands.at(-1);
    if (last && last[1] >= s.start) last[1] = Math.max(last[1], s.end);
    else bands.push([s.start, s.end]);
  }
  return bands;
}

/** Exponential moving average with TensorBoard's debiasing; `alpha` 0 returns the values unchanged. */
export function smooth(values, alpha) {
  if (!alpha) return values.slice();
  let acc = 0;
  let weight = 0;
  return values.map((v) => {
    if (v === null || v === undefined) return null;
    acc = alpha * acc + (1 - alpha) * v;
    weight = alpha * weight + (1 - alpha);
    return acc / weight;
  });
}
