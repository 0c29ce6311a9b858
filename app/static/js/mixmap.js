// The mixture map: runs (weight vectors on the simplex) projected to two dimensions by principal
// components, so a researcher sees where runs have been and where the next batch goes. Written by hand:
// a top-2 eigen-decomposition of a d x d covariance (d <= a few hundred) is a few lines, and no numeric
// library is loaded in the browser.

/**
 * Principal components of `rows` ((n, d) arrays). Returns {mean (d), axes [(d), (d)], explained [2]
 * (fraction of the total variance), project(w) -> [x, y]} where `w` is a (d) array.
 */
export function pca2(rows) {
  const n = rows.length;
  const d = rows[0]?.length || 0;
  const mean = new Array(d).fill(0);
  for (const r of rows) for (let j = 0; j < d; j += 1) mean[j] += r[j] / n;
  const cov = Array.from({ length: d }, () => new Array(d).fill(0));
  for (const r of rows) {
    for (let i = 0; i < d; i += 1) {
      const a = r[i] - mean[i];
      if (a === 0) continue;
      for (let j = i; j < d; j += 1) cov[i][j] += (a * (r[j] - mean[j])) / Math.max(n - 1, 1);
    }
  }
  for (let i = 0; i < d; i += 1) for (let j = 0; j < i; j += 1) cov[i][j] = cov[j][i];
  const total = cov.reduce((s, row, i) => s + row[i], 0);
  const axes = [];
  const values = [];
  const work = cov.map((row) => row.slice());
  for (let k = 0; k < Math.min(2, d); k += 1) {
    // Power iteration from a fixed start (deterministic), then deflation.
    let v = Array.from({ length: d }, (_, i) => 1 + ((i * 7919) % 13) / 13);
    let lambda = 0;
    for (let it = 0; it < 500; it += 1) {
      const w = work.map((row) => row.reduce((s, x, j) => s + x * v[j], 0));
      const norm = Math.hypot(...w);
      if (norm < 1e-15) break;
      const next = w.map((x) => x / norm);
      const delta = Math.hypot(...next.map((x, i) => x - v[i]));
      v = next;
      lambda = norm;
      if (delta < 1e-10) break;
    }
    // A fixed sign: the largest loading is positive, so the picture does not flip between renders.
    const big = v.reduce((b, x, i) => (Math.abs(x) > Math.abs(v[b]) ? i : b), 0);
    if (v[big] < 0) v = v.map((x) => -x);
    axes.push(v);
    values.push(lambda);
    for (let i = 0; i < d; i += 1) for (let j = 0; j < d; j += 1) work[i][j] -= lambda * v[i] * v[j];
  }
  while (axes.length < 2) {
    axes.push(new Array(d).fill(0));
    values.push(0);
  }
  const project = (w) => axes.map((a) => a.reduce((s, x, j) => s + x * (w[j] - mean[j]), 0));
  return { mean, axes, explained: values.map((l) => (total > 0 ? l / total : 0)), project };
}

/** "+web −code +books": the domains that load most on an axis, for its title. */
export function axisWords(axis, labels, k = 3) {
  return axis.map((x, j) => [x, labels[j]]).sort((a, b) => Math.abs(b[0]) - Math.abs(a[0])).slice(0, k)
    .filter(([x]) => Math.abs(x) > 1e-6).map(([x, l]) => `${x > 0 ? '+' : '−'}${l}`).join(' ');
}

/** `weights` ({domain: weight}) summed per group: `groups` (k names) in order, `groupOf(domain)`; a (k) array. */
export function groupTotals(weights, domains, groups, groupOf) {
  const at = new Map(groups.map((g, i) => [g, i]));
  const out = new Array(groups.length).fill(0);
  for (const d of domains) {
    const i = at.get(groupOf(d));
    if (i !== undefined) out[i] += weights[d] ?? 0;
  }
  return out;
}
