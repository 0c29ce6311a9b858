// History: the recommendations and evaluations the server stored when it answered them, newest first; each
// opens to its details (weights, predicted value, mixer, config, when; per-mixer scores of an evaluation).
// The view's state lives in the URL (urlstate.js): `kind` (all, recommendations, evaluations) and `item`
// (r<id> for a recommendation, e<id> for an evaluation), so a reload or a shared link opens the same item.
import { api } from '../api.js';
import { busy, card, clear, dateTime, fidelityLabel, fill, h, num, problemBox } from '../dom.js';
import { mappingNote } from '../domainversions.js';
import { hasFamilies } from '../families.js';
import { foldable, groupedRows, total } from '../familytable.js';
import { domainNames, objectiveLabel } from '../model.js';
import { getState, setState } from '../urlstate.js';
import { domainLegend, kvTable, mixtureBar, transferBadge } from '../widgets.js';

const PAGE = 50;
const KINDS = [['all', 'All'], ['recommendations', 'Recommendations'], ['evaluations', 'Evaluations']];

const itemId = (it) => `${it.kind === 'recommendation' ? 'r' : 'e'}${it.answer.id}`;

/** The best-scored result of an evaluation (highest Spearman), or null. */
function topResult(evaluation) {
  const ok = evaluation.results.filter((r) => !r.error && typeof r.spearman === 'number');
  return ok.sort((a, b) => b.spearman - a.spearman)[0] ?? null;
}

export async function mount(root, ctx) {
  const { project, store } = ctx;
  const domains = domainNames(project);
  let kind = KINDS.some(([k]) => k === getState('kind')) ? getState('kind') : 'all';
  let items = [];
  let tokens = {};
  const kindSel = h('select', { id: 'history-kind' }, KINDS.map(([k, label]) => h('option', { value: k, selected: k === kind }, label)));
  const listBox = h('div', { id: 'history-list' });
  const detailBox = h('div', { id: 'history-detail' });
  const more = h('button', { class: 'small', id: 'history-more' }, 'Load older');
  const errorBox = h('div');
  root.append(h('div', { class: 'split' },
    card('Stored answers', [
      h('p', { class: 'muted small' }, 'Every recommendation and evaluation the server answered for this project, newest first. Open one to see it in full.'),
      errorBox, listBox, h('div', { class: 'row' }, more)],
    h('label', {}, 'Show ', kindSel), { id: 'history-card' }),
    detailBox));

  const wants = (k) => kind === 'all' || kind === k;

  async function load(older) {
    const asks = [];
    for (const [k, fetcher, field, itemKind] of [
      ['recommendations', api.recommendations, 'recommendations', 'recommendation'],
      ['evaluations', api.evaluations, 'evaluations', 'evaluation'],
    ]) {
      if (!wants(k) || (older && !tokens[k])) continue;
      asks.push(fetcher(project.name, { max_results: PAGE, page_token: older ? tokens[k] : null }).then((page) => {
        tokens[k] = page.next_page_token;
        return page[field].map((answer) => ({ kind: itemKind, answer }));
      }));
    }
    const got = (await Promise.all(asks)).flat();
    items = (older ? items.concat(got) : got)
      .sort((a, b) => (b.answer.created_at || '').localeCompare(a.answer.created_at || '') || b.answer.id - a.answer.id);
    more.hidden = !Object.values(tokens).some(Boolean);
  }

  function headline(it) {
    const a = it.answer;
    if (it.kind === 'recommendation') {
      return h('span', {}, `predicted ${num(a.predicted, 5)}`, a.std !== null && a.std !== undefined ? ` ± ${num(a.std, 3)}` : '',
        h('span', { class: 'muted' }, ` at ${fidelityLabel(a.predicted_fidelity)}`));
    }
    const top = topResult(a);
    const failed = a.results.filter((r) => r.error).length;
    return h('span', {}, top ? `best ρ ${num(top.spearman, 3)} (${top.mixer})` : 'no mixer scored',
      failed ? h('span', { class: 'muted' }, ` · ${failed} failed`) : null);
  }

  function renderList() {
    if (!items.length) {
      fill(listBox, h('div', { class: 'empty' }, h('p', {}, 'Nothing stored yet. Answers appear here as soon as you ',
        h('a', { href: `#/p/${encodeURIComponent(project.name)}/optimize` }, 'ask for a recommendation'), ' or ',
        h('a', { href: `#/p/${encodeURIComponent(project.name)}/compare` }, 'compare mixers'), '.')));
      return;
    }
    const selected = getState('item');
    fill(listBox, h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'history-table' },
      h('thead', {}, h('tr', {}, ['When', 'Answer'].map((c) => h('th', {}, c)))),
      h('tbody', {}, items.map((it) => h('tr', {
        class: `clickable ${itemId(it) === selected ? 'selected' : ''}`,
        dataset: { item: itemId(it), kind: it.kind },
        onclick: () => open(it),
      },
      h('td', { class: 'nowrap muted' }, dateTime(it.answer.created_at)),
      h('td', {}, h('div', {}, h('b', {}, `${it.kind} #${it.answer.id}`), ' · ',
        it.kind === 'recommendation' ? it.answer.mixer : it.answer.results.map((r) => r.mixer).join(', ')),
      h('div', { class: 'small' }, headline(it)))))))));
  }

  function open(it) {
    setState({ item: itemId(it) });
    for (const tr of listBox.querySelectorAll('tr[data-item]')) tr.classList.toggle('selected', tr.dataset.item === itemId(it));
    renderDetail(it);
  }

  function renderDetail(it) {
    const a = it.answer;
    if (it.kind === 'recommendation') {
      const sorted = domains.map((d) => [d, a.weights[d] ?? 0]).sort((x, y) => y[1] - x[1]);
      const cmp = a.comparison;
      fill(detailBox, card(`Recommendation #${a.id} · ${a.mixer}`, h('div', { class: 'stack' },
        h('p', { class: 'muted' }, `answered ${dateTime(a.created_at)}`),
        h('div', { class: 'headline' },
          h('div', {}, h('div', { class: 'tile-label' }, `predicted ${objectiveLabel(project)}`),
            h('div', { class: 'big', id: 'history-predicted' }, num(a.predicted, 5), a.std !== null && a.std !== undefined ? h('small', {}, ` ± ${num(a.std, 3)}`) : null),
            transferBadge({ fidelity: a.predicted_fidelity, transfer: a.transfer }, store.list())),
          cmp ? h('div', {}, h('div', { class: 'tile-label' }, cmp.kind === 'observed' ? 'predicted − best run, same fidelity' : 'predicted − predicted for that run'),
            h('div', { class: 'big muted-big' }, (cmp.delta > 0 ? '+' : '') + num(cmp.delta, 3)),
            h('div', { class: 'tile-sub' }, cmp.detail)) : null),
        mappingNote(a.diagnostics, 'history-domain-mapping'),
        h('div', { class: 'mixcell' }, mixtureBar(a.weights, domains)), domainLegend(domains),
        h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'history-weights' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Domain'), h('th', { class: 'num' }, 'Weight'))),
          hasFamilies(domains)
            ? foldable(h('tbody', {}, groupedRows(sorted.map(([d]) => d), (d) => h('td', { class: 'num', dataset: { value: a.weights[d] ?? 0 } }, num(a.weights[d] ?? 0, 4)),
              (members) => h('td', { class: 'num', dataset: { value: total(a.weights, members) } }, num(total(a.weights, members), 4)))))
            : h('tbody', {}, sorted.map(([d, w]) => h('tr', {}, h('td', {}, d), h('td', { class: 'num' }, num(w, 4))))))),
        h('h3', {}, 'Config'), kvTable(a.config),
        h('details', {}, h('summary', {}, 'Diagnostics'), kvTable(a.diagnostics)),
        h('div', { class: 'row' }, h('a', {
          class: 'button small', id: 'history-to-optimize', href: `#/p/${encodeURIComponent(project.name)}/optimize`,
          onclick: () => { ctx.shared.recommendation = a; },
        }, 'Show in Recommend & propose →'))), null, { id: 'history-detail-card', dataset: { item: itemId(it) } }));
      return;
    }
    fill(detailBox, card(`Evaluation #${a.id}`, h('div', { class: 'stack' },
      h('p', { class: 'muted' }, `answered ${dateTime(a.created_at)} · ${a.results[0]?.n_runs ?? 0} runs cross-validated`),
      h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'history-scores' },
        h('thead', {}, h('tr', {}, ['Mixer', 'Spearman ρ ↑', 'MAE ↓', 'Regret ↓', 'Runs'].map((c, i) => h('th', { class: i ? 'num' : '' }, c)))),
        h('tbody', {}, a.results.map((r) => h('tr', { dataset: { mixer: r.mixer } }, h('td', {}, h('b', {}, r.mixer)),
          r.error ? h('td', { colspan: 4, class: 'cmp-error' }, h('code', {}, r.error.code), ' ', r.error.detail)
            : [h('td', { class: 'num' }, num(r.spearman, 4)), h('td', { class: 'num' }, num(r.mae, 4)),
              h('td', { class: 'num' }, num(r.regret, 4)), h('td', { class: 'num' }, r.n_runs)]))))),
      a.results.map((r) => h('details', {}, h('summary', {}, `${r.mixer} config`), kvTable(r.config)))),
    null, { id: 'history-detail-card', dataset: { item: itemId(it) } }));
  }

  async function openFromUrl() {
    const wanted = getState('item');
    const match = /^([re])(\d+)$/.exec(wanted || '');
    if (!match) {
      fill(detailBox, card('Details', h('p', { class: 'empty' }, 'Choose an answer on the left to see it in full.')));
      return;
    }
    let it = items.find((x) => itemId(x) === wanted);
    if (!it) {
      try {
        const answer = match[1] === 'r' ? await api.recommendation(project.name, match[2]) : await api.evaluation(project.name, match[2]);
        it = { kind: match[1] === 'r' ? 'recommendation' : 'evaluation', answer };
      } catch (err) {
        fill(detailBox, card('Details', problemBox(err)));
        return;
      }
    }
    renderDetail(it);
  }

  async function refresh() {
    clear(errorBox);
    try {
      await load(false);
    } catch (err) {
      fill(errorBox, problemBox(err));
    }
    renderList();
  }

  kindSel.addEventListener('change', async () => {
    kind = kindSel.value;
    setState({ kind: kind === 'all' ? null : kind });
    tokens = {};
    await refresh();
  });
  more.addEventListener('click', () => busy(more, async () => {
    try {
      await load(true);
    } catch (err) {
      fill(errorBox, problemBox(err));
    }
    renderList();
  }, 'Loading…'));

  await refresh();
  await openFromUrl();
  return null;
}
