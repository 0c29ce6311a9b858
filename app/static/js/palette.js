// One order, one colour and one short label per domain, the same in every chart, bar and legend.
//
// Domains are grouped by source: after the prefix every name shares is dropped (RegMix's "train_the_pile_"),
// the part before a separator names the source ("dclm.science", "s2pdf.cs"). Sources get the most distinct hues
// and their domains shades within that hue, so a 39-domain project still reads as a few families. Without
// sources, colours are picked one by one as far as possible (in the perceptual OKLab space) from those
// already taken. Written by hand: no colour library is loaded offline, and plotly's palettes stop at 10-24
// colours whose neighbours blur together past ten.

import { families, familyKey, familyOrder, hasFamilies, topFamily } from './families.js';

// Names with a family prefix ("dclm/web/high", families.js) are grouped by their outermost family, domains without
// one a group each, in family order. Otherwise a source is the part before the first "." (else "__", "-", "_")
// when that splits the domains into real families (at most half as many sources as domains).
const SEPARATORS = ['.', '__', '-', '_'];
const styles = new Map(); // name -> {color, label, group, rank}
const familyStyles = new Map(); // family -> {color}
let registered = '';

/** The prefix every name starts with, cut back to a separator, when something is left of every name. */
function commonPrefix(names) {
  if (names.length < 2) return '';
  let p = names[0];
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  const cut = Math.max(...['_', '-', '/', ':', '.', ' '].map((c) => p.lastIndexOf(c)));
  p = cut >= 0 ? p.slice(0, cut + 1) : '';
  return names.every((n) => n.length > p.length) ? p : '';
}

function oklabToLinear(L, a, b) {
  const l = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3;
  const m = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3;
  const s = (L - 0.0894841775 * a - 1.291485548 * b) ** 3;
  return [
    4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
    -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
    -0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s,
  ];
}

/** OKLCH (L 0..1, C, h degrees) to an sRGB hex colour, clipped to the gamut. */
export function oklch(L, C, hDeg) {
  const h = (hDeg * Math.PI) / 180;
  const lin = oklabToLinear(L, C * Math.cos(h), C * Math.sin(h));
  const gamma = (x) => (x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055);
  return `#${lin.map((x) => Math.round(255 * Math.min(Math.max(gamma(Math.max(x, 0)), 0), 1)).toString(16).padStart(2, '0')).join('')}`;
}

/** The in-gamut OKLCH grid the palette picks from: {L, C, h, lab: [L, a, b]}. */
const CANDIDATES = (() => {
  const out = [];
  for (const L of [0.45, 0.55, 0.65, 0.75, 0.85]) {
    for (const C of [0.08, 0.12, 0.16, 0.2]) {
      for (let h = 0; h < 360; h += 10) {
        const r = (h * Math.PI) / 180;
        const lab = [L, C * Math.cos(r), C * Math.sin(r)];
        if (oklabToLinear(...lab).every((x) => x >= -1e-4 && x <= 1 + 1e-4)) out.push({ L, C, h, lab });
      }
    }
  }
  return out;
})();

const dist = (p, q) => Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]);

/**
 * `n` colours, each the candidate farthest (in OKLab) from white and from the ones already picked, so the
 * first colours differ the most and every pair stays apart (minimum distance 0.13 for 17, 0.10 for 39).
 * `keep(c)` restricts the candidates (a source's hue band).
 */
function farthest(n, keep = () => true) {
  const pool = CANDIDATES.filter(keep);
  const d = pool.map((c) => dist(c.lab, [1, 0, 0]));
  const picked = [];
  for (let k = 0; k < n && pool.length; k += 1) {
    let best = 0;
    for (let j = 1; j < pool.length; j += 1) if (d[j] > d[best]) best = j;
    picked.push(pool[best]);
    for (let j = 0; j < pool.length; j += 1) d[j] = Math.min(d[j], dist(pool[j].lab, pool[best].lab));
  }
  return picked;
}

const hueGap = (a, b) => Math.abs(((a - b + 540) % 360) - 180);

function gcd(a, b) {
  return b ? gcd(b, a % b) : a;
}

/**
 * Styles for `names` (the project's domain order): {order, color, label, group} where `order` keeps the
 * project's order but puts each source's domains together (sources in order of first appearance).
 */
export function domainPalette(names) {
  const prefix = commonPrefix(names);
  const label = new Map(names.map((n) => [n, n.slice(prefix.length)]));
  if (hasFamilies(names)) return familyPalette(names, label);
  const sourceBy = (sep) => (n) => {
    const short = label.get(n);
    const i = short.indexOf(sep);
    return i > 0 ? short.slice(0, i) : short;
  };
  const familiesBy = (of) => [...new Set(names.map(of))];
  const sep = SEPARATORS.find((x) => {
    const count = familiesBy(sourceBy(x)).length;
    return count >= 2 && count <= names.length / 2;
  });
  const groupOf = sep ? sourceBy(sep) : () => null;
  const groups = familiesBy(groupOf);
  const grouped = Boolean(sep);
  const order = grouped ? groups.flatMap((g) => names.filter((n) => groupOf(n) === g)) : [...names];
  const color = new Map();
  const hex = (c) => oklch(c.L, c.C, c.h);
  if (grouped) {
    // Each source a hue of its own, evenly around the wheel (neighbouring sources a third of it apart),
    // its domains the most distinct shades within that hue band.
    const { hues, band } = groupHues(groups.length);
    groups.forEach((g, gi) => {
      const members = order.filter((n) => groupOf(n) === g);
      shades(members.length, hues[gi], band).forEach((c, k) => color.set(members[k], c));
    });
  } else {
    farthest(order.length).forEach((c, i) => color.set(order[i], hex(c)));
  }
  return { order, color, label, group: new Map(names.map((n) => [n, groupOf(n)])) };
}

/** Evenly spread hues for `count` groups, neighbouring groups a third of the wheel apart; and each band's width. */
function groupHues(count) {
  let step = Math.max(1, Math.round(count / 3));
  while (count > 1 && gcd(step, count) !== 1) step += 1;
  const hues = Array.from({ length: count }, (_, gi) => (20 + (360 * ((gi * step) % count)) / count) % 360);
  return { hues, band: Math.min(25, 0.4 * (360 / count)) };
}

/** Shades of one hue band for `n` members (grey when the band runs out). */
function shades(n, hue, band) {
  const picked = farthest(n, (c) => hueGap(c.h, hue) <= band && c.C >= 0.08);
  return Array.from({ length: n }, (_, k) => (picked[k] ? oklch(picked[k].L, picked[k].C, picked[k].h) : '#94a3b8'));
}

/**
 * The palette of a project whose names carry families: domains in family order, one hue per outermost family (a
 * domain without a family is a group of its own), its members shades of it; `familyColor` maps every family (all
 * levels) to its outermost family's base colour.
 */
function familyPalette(names, label) {
  const order = familyOrder(names);
  const groups = [...new Set(order.map(topFamily))];
  const { hues, band } = groupHues(groups.length);
  const color = new Map();
  const base = new Map();
  groups.forEach((g, gi) => {
    const members = order.filter((n) => topFamily(n) === g);
    shades(members.length, hues[gi], band).forEach((c, k) => color.set(members[k], c));
    base.set(g, oklch(0.6, 0.14, hues[gi]));
  });
  const familyColor = new Map(families(names).map((f) => [f.name, base.get(topFamily(f.name))]));
  return { order, color, label, group: new Map(names.map((n) => [n, n.includes('/') ? topFamily(n) : null])), familyColor };
}

/** Make `names` the current project's domains; returns them in display order. */
export function registerDomains(names) {
  const key = names.join('\u0000');
  if (key !== registered) {
    const p = domainPalette(names);
    styles.clear();
    familyStyles.clear();
    for (const n of names) styles.set(n, { color: p.color.get(n), label: p.label.get(n), group: p.group.get(n), rank: p.order.indexOf(n) });
    // A family's total goes by familyKey(f) where domains are listed (a weight panel, a column): its colour, its name.
    for (const [f, c] of p.familyColor || []) {
      familyStyles.set(f, { color: c });
      styles.set(familyKey(f), { color: c, label: familyKey(f), group: topFamily(f), rank: -1 });
    }
    registered = key;
  }
  return [...names].sort((a, b) => styles.get(a).rank - styles.get(b).rank);
}

/** The colour of a domain (registered by the open project). */
export function domainColor(name) {
  return styles.get(name)?.color ?? '#94a3b8';
}

/** A family's colour (its outermost family's hue), grey for an unknown name. */
export function familyColor(name) {
  return familyStyles.get(name)?.color ?? '#94a3b8';
}

/** A domain's family in the legend: its outermost family, or null when it has none (or the project none). */
export function domainGroup(name) {
  return familyStyles.size ? styles.get(name)?.group ?? null : null;
}

/**
 * Plotly legend grouping for a domain's trace: {legendgroup, legendgrouptitle} by its outermost family ({} in a
 * project without families). `first`: this trace opens its group in the legend (only it carries the title).
 */
export function legendGroup(name, first = true) {
  const g = domainGroup(name);
  if (g === null) return {};
  return first ? { legendgroup: g, legendgrouptitle: { text: g } } : { legendgroup: g };
}

/** A domain's short label: its name without the prefix all the project's domains share. */
export function domainLabel(name) {
  return styles.get(name)?.label ?? name;
}
