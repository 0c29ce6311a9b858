// The list of projects, with each one's runs, best objective value and last activity (from the server's
// one-query summary, so the list stays fast with tens of thousands of runs).
import { api } from '../api.js';
import { card, dateTime, duration, fidelityLabel, h, num } from '../dom.js';
import { objectiveLabel } from '../model.js';

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
      h('td', { class: 'num', dataset: { col: 'best' } }, s && s.best_value !== null ? num(s.best_value, 5) : '—'),
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
