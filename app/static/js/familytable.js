// Tables of per-domain numbers grouped by family: a family row with its subtotal before its members, members
// indented under it, a click on the family's arrow folds them away. A project without families gets the plain rows.
import { h } from './dom.js';
import { familyRows, hasFamilies } from './families.js';
import { domainColor, domainLabel, familyColor } from './palette.js';

/**
 * Table rows for `names` (display order; with families, grouped in order of first appearance, so names sorted by
 * weight give families by their heaviest member). `cells(d)` gives a domain's cells after the name cell,
 * `familyCells(members, family)` a family row's (its subtotals); `swatch` puts the domain's colour before its name.
 * Rows carry data-domain or data-family; members carry data-in (their families, space-separated).
 */
export function groupedRows(names, cells, familyCells, { swatch = false, nameCell = 'td' } = {}) {
  const name = (d) => [swatch ? h('span', { class: 'swatch', style: { background: domainColor(d) } }) : null, swatch ? ' ' : null, domainLabel(d)];
  if (!hasFamilies(names)) return names.map((d) => h('tr', { dataset: { domain: d } }, h(nameCell, { title: d }, name(d)), cells(d)));
  const rows = [];
  const inside = [];
  for (const r of familyRows(names)) {
    inside.length = r.depth;
    const indent = { paddingLeft: `${0.4 + 1.1 * r.depth}em` };
    const attrs = inside.length ? { in: inside.join(' ') } : {};
    if (r.kind === 'family') {
      const toggle = h('button', { class: 'fold', type: 'button', 'aria-expanded': 'true', title: `fold ${r.name}`, 'aria-label': `fold ${r.name}` }, '▾');
      rows.push(h('tr', { class: 'family-row', dataset: { family: r.name, ...attrs } },
        h(nameCell, { style: indent, title: `${r.name}: ${r.members.length} domains` }, toggle,
          h('span', { class: 'swatch', style: { background: familyColor(r.name) } }), ` ${r.name}`),
        familyCells(r.members, r.name)));
      inside.push(r.name);
    } else {
      rows.push(h('tr', { class: 'member-row', dataset: { domain: r.name, ...attrs } }, h(nameCell, { style: indent, title: r.name }, name(r.name)), cells(r.name)));
    }
  }
  return rows;
}

/** Folding for the family rows under `tbody` (call once the rows are in it): a folded family hides its members. */
export function foldable(tbody) {
  tbody.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button.fold');
    if (!btn) return;
    ev.stopPropagation();
    const row = btn.closest('tr');
    const folded = !row.classList.contains('folded');
    row.classList.toggle('folded', folded);
    btn.textContent = folded ? '▸' : '▾';
    btn.setAttribute('aria-expanded', String(!folded));
    const closed = new Set([...tbody.querySelectorAll('tr.family-row.folded')].map((tr) => tr.dataset.family));
    for (const tr of tbody.querySelectorAll('tr[data-in]')) tr.hidden = tr.dataset.in.split(' ').some((f) => closed.has(f));
  });
  return tbody;
}

/** The sum of `weights` over `members`. */
export function total(weights, members) {
  return members.reduce((s, d) => s + (weights[d] ?? 0), 0);
}
