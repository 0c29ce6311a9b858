// The dashboard shell: a hash router (#/ and #/p/<project>/<tab>[/<arg>]), the project header and tabs,
// and one RunStore per open project that keeps polling for new runs.
import { api, download, token } from './api.js';
import { rememberProject } from './defaults.js';
import { card, clear, duration, fidelityLabel, fill, h, problemBox, toast } from './dom.js';
import { objectiveLabel, registerVersions } from './model.js';
import { ensurePlotly, purge } from './plots.js';
import { RunStore } from './runstore.js';
import { routePath } from './urlstate.js';
import * as analysis from './views/analysis.js';
import * as compare from './views/compare.js';
import * as domainsView from './views/domains.js';
import * as history from './views/history.js';
import * as optimize from './views/optimize.js';
import * as projects from './views/projects.js';
import * as runs from './views/runs.js';
import * as sessions from './views/sessions.js';
import * as whatif from './views/whatif.js';

const TABS = [
  { id: 'runs', label: 'Runs', view: runs },
  { id: 'analysis', label: 'Analysis', view: analysis },
  { id: 'compare', label: 'Compare mixers', view: compare },
  { id: 'optimize', label: 'Recommend & propose', view: optimize },
  { id: 'whatif', label: 'What-if', view: whatif },
  { id: 'sessions', label: 'Online sessions', view: sessions },
  { id: 'history', label: 'History', view: history },
  { id: 'domains', label: 'Domains', view: domainsView },
];

const root = document.getElementById('app');
const crumbs = document.getElementById('crumbs');
const live = document.getElementById('live');

let mixersPromise = null;
/** The registered mixers, asked once per page load. */
export function mixers() {
  mixersPromise ||= api.mixers().catch((err) => {
    mixersPromise = null;
    throw err;
  });
  return mixersPromise;
}

let current = { name: null, ctx: null, cleanup: null, tabEl: null, liveTimer: null };

function unmountTab() {
  if (current.cleanup) current.cleanup();
  current.cleanup = null;
  if (current.tabEl) purge(current.tabEl);
}

function closeProject() {
  unmountTab();
  if (current.ctx) current.ctx.store.stop();
  clearInterval(current.liveTimer);
  current = { name: null, ctx: null, cleanup: null, tabEl: null, liveTimer: null };
  clear(live);
}

async function route() {
  const parts = routePath().replace(/^\//, '').split('/').filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === 'p' && parts[1]) await showProject(parts[1], parts[2] || 'runs', parts[3]);
    else await showProjects();
  } catch (err) {
    fill(root, card('Something went wrong', problemBox(err)));
  }
}

async function showProjects() {
  closeProject();
  fill(crumbs, h('span', {}, 'Projects'));
  document.title = 'mixopt · projects';
  clear(root);
  current.cleanup = await projects.mount(root);
}

async function showProject(name, tabId, arg) {
  const tab = TABS.find((t) => t.id === tabId) || TABS[0];
  const hashNow = location.hash;
  if (current.name !== name) {
    closeProject();
    fill(root, h('p', { class: 'muted pad' }, `Loading ${name}…`));
    const project = await api.project(name);
    rememberProject(project);
    // Runs from earlier domain sets are shown mapped onto the current one (model.inCurrentSet): the change log.
    registerVersions(project, (project.domain_version ?? 1) > 1 ? (await api.domainVersions(name).catch(() => null))?.items ?? null : null);
    const store = new RunStore(project);
    current.name = name;
    let availabilityPromise = null;
    // Which mixers can answer on this project and why not; null from a server without the endpoint.
    const availability = () => {
      availabilityPromise ||= api.projectMixers(name).catch((err) => {
        availabilityPromise = null;
        if (err.status === 404 && err.problem?.code !== 'project_not_found') return null;
        throw err;
      });
      return availabilityPromise;
    };
    // After a change of the project itself (its domain set, its family bounds): open it afresh, on the same view.
    const reload = async () => {
      closeProject();
      await route();
    };
    current.ctx = { project, store, mixers, availability, reload, shared: { configs: {}, choice: null, recommendation: null, evaluation: null, whatif: null } };
    const progress = h('p', { class: 'muted pad' }, 'Loading runs…');
    fill(root, progress);
    // The first page of runs is enough to open the project; the rest stream in (the runs table grows and
    // other views wait for them), so a project with 10,000+ runs opens at once.
    let firstPage;
    const opened = new Promise((resolve) => { firstPage = resolve; });
    store.addEventListener('change', firstPage, { once: true });
    const ready = store.load((n) => {
      progress.textContent = `Loading runs… ${n}`;
      store.loadedCount = n;
      if (current.ctx?.store === store) setLive(store);
    });
    ready.then(() => {
      if (current.ctx?.store !== store) return;
      store.start(5000);
      setLive(store);
      // Load plotly.js while the user reads the runs table, so the first chart of another tab draws at once.
      setTimeout(() => ensurePlotly().catch(() => {}), 500);
    }, (err) => {
      store.error = err;
      if (current.ctx?.store === store) setLive(store);
    });
    await Promise.race([opened, ready]);
    store.addEventListener('change', () => { availabilityPromise = null; });
    store.addEventListener('error', () => setLive(store));
    store.addEventListener('polled', () => setLive(store));
    current.liveTimer = setInterval(() => setLive(store), 1000);
    renderShell(current.ctx);
  }
  unmountTab();
  const { ctx } = current;
  document.title = `mixopt · ${name} · ${tab.label}`;
  for (const a of root.querySelectorAll('.tabs a')) a.classList.toggle('active', a.dataset.tab === tab.id);
  const el = clear(current.tabEl);
  el.dataset.view = tab.id;
  if (!ctx.store.loaded && tab.id !== 'runs') {
    // Views that fit or plot every run wait for all of them.
    el.append(h('p', { class: 'muted pad', id: 'tab-loading' }, 'Loading runs…'));
    try {
      await ctx.store.ready;
    } catch (err) {
      fill(el, card('Could not load the runs', problemBox(err)));
      return;
    }
    if (current.ctx !== ctx || current.tabEl !== el || el.dataset.view !== tab.id || routePath() !== routePath(hashNow)) return;
    clear(el);
  }
  current.cleanup = (await tab.view.mount(el, ctx, arg)) || null;
}

function setLive(store) {
  if (store.error) {
    fill(live, h('span', { class: 'dot dot-error' }), ` polling failed: ${store.error.message} · retrying`);
    return;
  }
  if (!store.loaded) {
    fill(live, h('span', { class: 'dot dot-loading' }), ` loading runs · ${store.runs.size} so far`);
    return;
  }
  const ago = store.lastPoll ? duration(Date.now() - store.lastPoll) : '—';
  fill(live, h('span', { class: 'dot dot-live', title: 'new runs appear without reloading (polled every 5 s)' }),
    ` live · ${store.runs.size} runs · checked ${ago} ago`);
}

function renderShell(ctx) {
  const { project } = ctx;
  const enc = encodeURIComponent(project.name);
  fill(crumbs, h('a', { href: '#/' }, 'Projects'), h('span', { class: 'sep' }, '/'), h('span', {}, project.name));
  const exportLink = (fmt) => h('a', {
    class: 'button small', href: api.exportUrl(project.name, fmt), download: `${project.name}.${fmt}`,
    onclick: (ev) => {
      if (!token()) return; // a plain link works without auth; with a token, fetch sends the header
      ev.preventDefault();
      download(api.exportUrl(project.name, fmt), `${project.name}.${fmt}`).catch((err) => toast(err.message, 'error'));
    },
  }, `Export ${fmt.toUpperCase()}`);
  const head = h('section', { class: 'project-head' },
    h('div', {},
      h('h1', {}, project.name),
      project.description ? h('p', { class: 'description' }, project.description) : null,
      h('div', { class: 'facts' },
        h('span', {}, h('b', {}, project.objective.direction), ' ', h('code', {}, objectiveLabel(project))),
        h('span', { id: 'project-domains' }, h('b', {}, project.domains.length), ' domains',
          (project.domain_version ?? 1) > 1 ? h('span', { class: 'muted' }, ` · version ${project.domain_version}`) : null),
        h('span', {}, 'target ', h('code', {}, fidelityLabel(project.target_fidelity))))),
    h('div', { class: 'head-tools' }, exportLink('csv'), exportLink('jsonl')));
  const tabs = h('nav', { class: 'tabs' },
    TABS.map((t) => h('a', { href: `#/p/${enc}/${t.id}`, dataset: { tab: t.id } }, t.label)));
  current.tabEl = h('div', { class: 'tab-body' });
  fill(root, head, tabs, current.tabEl);
  setLive(ctx.store);
}

window.addEventListener('hashchange', route);
route();
