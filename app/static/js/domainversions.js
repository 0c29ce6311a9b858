// Versions of a project's domain set in words: a change ("split web into web/high, web/low") and how a mixer
// mapped runs from earlier versions (diagnostics.domain_mapping).
import { h } from './dom.js';

const list = (names) => names.join(', ');

/** One change of the domain set in words; null (version 1) is "created". */
export function changeWords(change) {
  if (!change) return 'created';
  switch (change.op) {
    case 'add': return `add ${list(change.domains.map((d) => d.name))}`;
    case 'remove': return `remove ${list(change.names)}`;
    case 'split': return `split ${change.name} into ${list(change.into.map((d) => d.name))}`;
    case 'merge': return `merge ${list(change.names)} into ${change.into.name}`;
    default: return JSON.stringify(change);
  }
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * "12 runs from earlier domain sets: 8 exact, 3 assumed ('web' divided by its parts' token shares), 1 dropped
 * (trained on removed domain 'x')" from diagnostics.domain_mapping ({version, counts, notes, ...}); '' without one.
 */
export function mappingText(mapping) {
  if (!mapping?.counts) return '';
  const { exact = 0, assumed = 0, dropped = 0 } = mapping.counts;
  const notes = mapping.notes || [];
  const droppedNotes = notes.filter((n) => /^trained on removed/.test(n));
  const assumedNotes = notes.filter((n) => !droppedNotes.includes(n));
  const why = (ns) => (ns.length ? ` (${ns.join('; ')})` : '');
  return `${plural(exact + assumed + dropped, 'run')} from earlier domain sets, mapped to version ${mapping.version}: `
    + `${exact} exact, ${assumed} assumed${assumed ? why(assumedNotes) : ''}, ${dropped} dropped${dropped ? why(droppedNotes) : ''}`;
}

/**
 * The mapping line of a mixer's answer (`id` for the element; a `tag` of 'span' inside a paragraph), or null when
 * every run is at the current version.
 */
export function mappingNote(diagnostics, id, tag = 'p') {
  const text = mappingText(diagnostics?.domain_mapping);
  return text ? h(tag, { class: 'mapping-note', id, dataset: { version: diagnostics.domain_mapping.version } }, text) : null;
}

/** A run's domain-set version as a badge, marked when it is older than the project's current one. */
export function versionBadge(run, project) {
  const v = run.domain_version ?? 1;
  const old = v < (project.domain_version ?? 1);
  return h('span', { class: `version-badge ${old ? 'old' : ''}`, title: old ? `trained on domain set version ${v}; the project is at ${project.domain_version}` : `domain set version ${v}` }, `v${v}`);
}

/**
 * "kept the ratios of web/high, code (from recommendation #4, version 1) as one block; varied math" from a reuse
 * proposal's diagnostics.reuse ({frozen: {name: ratio}, free: [names], from_version, source}); '' without one.
 */
export function reuseText(reuse) {
  if (!reuse?.frozen) return '';
  const frozen = Object.keys(reuse.frozen);
  const whence = [reuse.source, reuse.from_version ? `version ${reuse.from_version}` : null].filter(Boolean).join(', ');
  return `Reuse: kept the ratios of ${frozen.length ? list(frozen) : 'no domain'}${whence ? ` (from ${whence})` : ''} as one block; `
    + `varied ${reuse.free?.length ? list(reuse.free) : 'nothing'}`;
}
