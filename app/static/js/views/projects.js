// The list of projects.
import { api } from '../api.js';
import { card, dateTime, fidelityLabel, h } from '../dom.js';
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
  const rows = list.map((p) => {
    const href = `#/p/${encodeURIComponent(p.name)}/runs`;
    return h('tr', { class: 'clickable', onclick: () => { location.hash = href; } },
      h('td', {}, h('a', { href, class: 'strong' }, p.name),
        p.description ? h('div', { class: 'muted clamp' }, p.description) : null),
      h('td', { class: 'num' }, p.domains.length),
      h('td', {}, h('span', { class: 'muted' }, p.objective.direction, ' '), h('code', {}, objectiveLabel(p))),
      h('td', {}, h('code', {}, fidelityLabel(p.target_fidelity))),
      h('td', { class: 'nowrap muted' }, dateTime(p.created_at)));
  });
  root.append(card(`Projects (${list.length})`, h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'projects-table' },
    h('thead', {}, h('tr', {}, ['Project', 'Domains', 'Objective', 'Target fidelity', 'Created'].map((c) => h('th', {}, c)))),
    h('tbody', {}, rows)))));
  return null;
}
