// A run's weights over an earlier domain set mapped onto the current one, by the rules of mixers/domain_sets.py
// (apply_change, map_weights): added domains get 0 (exact), removed ones drop a run that trained on them, a split
// divides the parent's weight by its parts' token shares (assumed), a merge sums (exact).

const ZERO = 1e-12;
const RANK = { exact: 0, assumed: 1, dropped: 2 };

/** A split parent's shares: its parts' token shares, or equal shares when a part's tokens are unknown (or zero). */
export function splitShares(into) {
  const toks = into.map((c) => c.tokens);
  if (toks.some((t) => t === null || t === undefined || t <= 0)) return into.map(() => 1 / into.length);
  const total = toks.reduce((a, b) => a + b, 0);
  return toks.map((t) => t / total);
}

/** One change applied to one run's weights ({domain: weight}): {weights (null when dropped), how, reason}. */
export function applyChange(weights, change) {
  const w = { ...weights };
  if (change.op === 'add') {
    for (const d of change.domains) w[d.name] ??= 0;
    return { weights: w, how: 'exact', reason: '' };
  }
  if (change.op === 'remove') {
    const used = change.names.filter((n) => (w[n] ?? 0) > ZERO);
    if (used.length) return { weights: null, how: 'dropped', reason: `trained on removed domain '${used[0]}'` };
    for (const n of change.names) delete w[n];
    return { weights: w, how: 'exact', reason: '' };
  }
  if (change.op === 'split') {
    const parent = w[change.name] ?? 0;
    delete w[change.name];
    splitShares(change.into).forEach((share, i) => { w[change.into[i].name] = parent * share; });
    return parent > ZERO ? { weights: w, how: 'assumed', reason: `'${change.name}' divided by its parts' token shares` } : { weights: w, how: 'exact', reason: '' };
  }
  if (change.op === 'merge') {
    let total = 0;
    for (const n of change.names) {
      total += w[n] ?? 0;
      delete w[n];
    }
    w[change.into.name] = total;
    return { weights: w, how: 'exact', reason: '' };
  }
  throw new Error(`unknown domain change op ${change.op}`);
}

/** `weights` mapped through `changes` (oldest first): the worst mapping of the chain, with the first reason. */
export function mapWeights(weights, changes) {
  let out = { weights: { ...weights }, how: 'exact', reason: '' };
  for (const change of changes) {
    const step = applyChange(out.weights, change);
    if (step.how === 'dropped') return step;
    out = { weights: step.weights, how: RANK[out.how] >= RANK[step.how] ? out.how : step.how, reason: out.reason || step.reason };
  }
  return out;
}
