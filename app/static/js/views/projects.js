// The list of projects, with each one's runs, best objective value at one labelled fidelity and last activity
// (from the server's one-query summary, so the list stays fast with tens of thousands of runs).
import { api } from '../api.js';
import { card, dateTime, duration, fidelityKey, fidelityLabel, h, num } from '../dom.js';
import { objectiveLabel } from '../model.js';

const logSize = (fid) => Object.values(fid || {}).reduce((t, v) => t + (v > 0 ? Math.log(v) : 0), 0);

/**
 * The best to show for a project: at the target fidelity when runs completed there, else at the largest
 * fidelity with completed runs (values at different scales are never compared). {entry, why} or null.
 */
export function shownBest(project) {
  const bests = project.summary?.best_by_fidelity || [];
  if (!bests.length) return null;
  const target = project.target_fidelity ? fidelityKey(project.target_fidelity) : null;
  const atTarget = bests.find((b) => fidelityKey(b.fidelity) === target);
  if (atTarget) return { entry: atTarget, why: 'the best completed run at the target fidelity' };
  const largest = bests.reduce((a, b) => (logSize(b.fidelity) > logSize(a.fidelity) ? b : a));
  return { entry: largest, why: 'no completed run at the target fidelity yet: the best run at the largest fidelity with runs' };
}

function bestCell(p) {
  const shown = shownBest(p);
  if (!shown) return h('td', { class: 'num', dataset: { col: 'best' } }, '—');
  const { entry, why } = shown;
  const at = Object.keys(entry.fidelity).length ? `at ${fidelityLabel(entry.fidelity)}` : 'runs without a fidelity';
  const others = (p.summary.best_by_fidelity.length - 1);
  return h('td', { class: 'num', dataset: { col: 'best' }, title: `${why} (run #${entry.run_id}, ${entry.n_completed} completed runs there)` },
    h('span', { class: 'best-value' }, num(entry.value, 5)),
    h('div', { class: 'muted small best-fidelity' }, at, others > 0 ? ` · +${others} other fidelit${others === 1 ? 'y' : 'ies'}` : ''));
}

export async function mount(root) {
  const list = [];
  let token = null;
  do {
    const page = await api.projects({ page_token: token });
    list.push(...page.projects);
    token = page.next_page_token;
  } while (token);
  if (!list.length) {
    root.append(card('No projects yet', h('div', { class: 'empty' },
      h('p', {}, 'Create one through the API (', h('code', {}, 'POST /api/v1/projects'), ') or start the server with ',
        h('code', {}, 'mixopt serve --demo'), ' for the RegMix demo project.'))));
    return null;
  }
  const ago = (iso) => (iso ? `${duration(Date.now() - new Date(iso).getTime())} ago` : '—');
  const rows = list.map((p) => {
    const href = `#/p/${encodeURIComponent(p.name)}/runs`;
    const s = p.summary;
    return h('tr', { class: 'clickable', onclick: () => { location.hash = href; }, dataset: { project: p.name } },
      h('td', {}, h('a', { href, class: 'strong' }, p.name),
        p.description ? h('div', { class: 'muted clamp' }, p.description) : null),
      h('td', { class: 'num', dataset: { col: 'runs' } }, s ? s.runs.toLocaleString('en-US') : '—',
        s && s.open ? h('div', { class: 'muted small' }, `${s.open} open`) : null),
      bestCell(p),
      h('td', { class: 'hide-narrow' }, h('span', { class: 'muted' }, p.objective.direction, ' '), h('code', {}, objectiveLabel(p))),
      h('td', { class: 'num hide-narrow' }, p.domains.length),
      h('td', { class: 'hide-narrow' }, h('code', {}, fidelityLabel(p.target_fidelity))),
      h('td', { class: 'nowrap muted', dataset: { col: 'activity' }, title: s?.last_activity ? dateTime(s.last_activity) : 'no runs yet' },
        s?.last_activity ? ago(s.last_activity) : `created ${dateTime(p.created_at)}`));
  });
  const head = [['Project', ''], ['Runs', 'num'], ['Best', 'num'], ['Objective', 'hide-narrow'], ['Domains', 'num hide-narrow'],
    ['Target fidelity', 'hide-narrow'], ['Last activity', '']];
  root.append(card(`Projects (${list.length})`, h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'projects-table' },
    h('thead', {}, h('tr', {}, head.map(([c, cls]) => h('th', { class: cls }, c)))),
    h('tbody', {}, rows)))));
  return null;
}
