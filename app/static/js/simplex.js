// Mixtures edited by hand stay on the simplex: setting one weight rescales the others.

/**
 * Set `w[name] = value` (clipped to [0, 1]) and scale every other weight by the same factor so the
 * sum stays 1. When the others are all zero, the rest is shared evenly among them.
 * Returns a new object; `w` is unchanged.
 */
export function setWeight(w, name, value) {
  const v = Math.min(Math.max(Number(value) || 0, 0), 1);
  const others = Object.keys(w).filter((k) => k !== name);
  const rest = others.reduce((s, k) => s + w[k], 0);
  const out = { [name]: v };
  for (const k of others) out[k] = rest > 1e-12 ? (w[k] * (1 - v)) / rest : (1 - v) / others.length;
  if (!others.length) out[name] = 1;
  return out;
}

/** Rescale to sum 1 (uniform when everything is zero). */
export function normalize(w) {
  const keys = Object.keys(w);
  const total = keys.reduce((s, k) => s + Math.max(w[k], 0), 0);
  return Object.fromEntries(keys.map((k) => [k, total > 0 ? Math.max(w[k], 0) / total : 1 / keys.length]));
}

export function uniform(names) {
  return Object.fromEntries(names.map((n) => [n, 1 / names.length]));
}
