// Domain families: the hierarchy that "/" in domain names implies ("dclm/web/high" is in "dclm/web" and "dclm"),
// by the rules of mixers/families.py (family_path, top_family), for ordering, colouring and subtotals in the page.

/** The families of one domain name, outermost first: "a/b/c" -> ["a", "a/b"]; "a" -> []. */
export function familyPath(name) {
  const parts = name.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** The outermost family of a name, or the name itself when it has none (what colours go by). */
export function topFamily(name) {
  return name.split('/', 1)[0];
}

/** Whether any of `names` is in a family. */
export function hasFamilies(names) {
  return names.some((n) => n.includes('/'));
}

/** The key a family's total goes by among domain keys ("Σ dclm/web": no domain name holds a space). */
export function familyKey(family) {
  return `Σ ${family}`;
}

/** The prefix tree of `names`: nodes {path, domain (a name or null), children: Map(segment -> node)}. */
function tree(names) {
  const root = { path: '', domain: null, children: new Map() };
  for (const name of names) {
    let node = root;
    for (const seg of name.split('/')) {
      const path = node.path ? `${node.path}/${seg}` : seg;
      if (!node.children.has(seg)) node.children.set(seg, { path, domain: null, children: new Map() });
      node = node.children.get(seg);
    }
    node.domain = name;
  }
  return root;
}

/**
 * `names` as rows of a grouped table, in family order (each family's members together, families and members in
 * order of first appearance): {kind: 'family', name, depth, members: [domain names]} before its members, and
 * {kind: 'domain', name, depth, family: the innermost family or null}. `depth` counts the families above.
 */
export function familyRows(names) {
  const rows = [];
  const leaves = (node) => [...(node.domain !== null ? [node.domain] : []), ...[...node.children.values()].flatMap(leaves)];
  const walk = (node, depth, family) => {
    if (node.domain !== null) rows.push({ kind: 'domain', name: node.domain, depth, family });
    for (const child of node.children.values()) {
      if (child.children.size) {
        rows.push({ kind: 'family', name: child.path, depth, members: leaves(child), family });
        walk(child, depth + 1, child.path);
      } else walk(child, depth, family);
    }
  };
  walk(tree(names), 0, null);
  return rows;
}

/** `names` in family order (see familyRows). */
export function familyOrder(names) {
  return familyRows(names).filter((r) => r.kind === 'domain').map((r) => r.name);
}

/** Every family of `names` with its members, outer before inner, in family order: [{name, depth, members}]. */
export function families(names) {
  return familyRows(names).filter((r) => r.kind === 'family');
}

/** Each family's total weight in `weights` ({domain: weight}): a Map family -> sum of its members. */
export function familyTotals(weights, names) {
  const totals = new Map();
  for (const f of families(names)) totals.set(f.name, f.members.reduce((s, d) => s + (weights[d] ?? 0), 0));
  return totals;
}
