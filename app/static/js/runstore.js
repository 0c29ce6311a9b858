// Every run of one project, kept current by polling. Emits 'change' events ({detail: {added, updated}}).
//
// Runs are listed in id order with keyset page tokens, so new runs appear after the last one seen. The
// API hands out a token only when more runs follow, so after reading the last page (k runs, from token T)
// the store asks once more for T with max_results = k - 1: that answer's next_page_token resumes right
// before the last run seen. Each poll reads from there (one known run plus whatever is new) and follows
// next_page_token: an incremental fetch that stays inside the API's opaque-token contract. Runs that were
// pending or running are re-read by status, since their results land on old ids.
import { api } from './api.js';
import { OPEN } from './model.js';

const PAGE = 1000;
const MAX_REFRESH = 100;

export class RunStore extends EventTarget {
  constructor(project) {
    super();
    this.project = project;
    this.runs = new Map();
    this.tailToken = null;
    this.loaded = false;
    this.lastPoll = null;
    this.timer = null;
    this.polling = false;
    this.error = null;
    this.ready = Promise.resolve();
  }

  /** Runs sorted by id. */
  list() {
    return [...this.runs.values()].sort((a, b) => a.id - b.id);
  }

  /**
   * Read every run, page by page: `onProgress(count)` after each page, and a 'change' event (detail.initial)
   * for each page's runs, so a view can show the first page while the rest arrive. `this.ready` settles
   * when every page is read.
   */
  load(onProgress = () => {}) {
    this.ready = (async () => {
      await this.readFrom(null, (n, fresh) => {
        onProgress(n);
        if (fresh.length) this.emit(fresh, [], true);
      });
      this.loaded = true;
      this.lastPoll = Date.now();
      this.emit([], [], true);
    })();
    return this.ready;
  }

  /** Read pages from `token` on, then find the resume token; returns the ids of new and changed runs. */
  async readFrom(token, onProgress = () => {}) {
    const added = [];
    const updated = [];
    let next = token;
    for (;;) {
      const page = await api.runs(this.project.name, { max_results: PAGE, page_token: next });
      const before = added.length;
      for (const r of page.runs) this.put(r, added, updated);
      onProgress(this.runs.size, added.slice(before));
      if (!page.next_page_token) {
        this.tailToken = page.runs.length >= 2 ? await this.resumeToken(next, page.runs.length) : next;
        break;
      }
      next = page.next_page_token;
    }
    return { added, updated };
  }

  /** The token that starts right before the last of the `count` runs read from `token`. */
  async resumeToken(token, count) {
    const page = await api.runs(this.project.name, { max_results: count - 1, page_token: token });
    return page.next_page_token || token;
  }

  put(run, added, updated) {
    const old = this.runs.get(run.id);
    if (!old) added.push(run.id);
    else if (old.updated_at !== run.updated_at || old.status !== run.status) updated.push(run.id);
    this.runs.set(run.id, run);
  }

  /** One incremental refresh: new runs after the last page, and the fate of open runs. */
  async poll() {
    if (this.polling) return;
    this.polling = true;
    try {
      const { added, updated } = await this.readFrom(this.tailToken);
      const open = new Set();
      for (const status of OPEN) {
        let token = null;
        do {
          const page = await api.runs(this.project.name, { status, max_results: PAGE, page_token: token });
          for (const r of page.runs) {
            open.add(r.id);
            this.put(r, added, updated);
          }
          token = page.next_page_token;
        } while (token);
      }
      const closed = this.list().filter((r) => OPEN.has(r.status) && !open.has(r.id)).slice(0, MAX_REFRESH);
      for (const r of closed) this.put(await api.run(this.project.name, r.id), added, updated);
      this.lastPoll = Date.now();
      this.error = null;
      const fresh = added.filter((id, i) => added.indexOf(id) === i);
      const changed = updated.filter((id) => !fresh.includes(id));
      if (fresh.length || changed.length) this.emit(fresh, changed);
      this.dispatchEvent(new CustomEvent('polled'));
    } finally {
      this.polling = false;
    }
  }

  emit(added, updated, initial = false) {
    this.dispatchEvent(new CustomEvent('change', { detail: { added, updated, initial } }));
  }

  /** Poll every `ms` while the tab is visible. */
  start(ms = 5000) {
    this.stop();
    this.timer = setInterval(() => {
      if (document.visibilityState !== 'visible') return;
      this.poll().catch((err) => {
        this.error = err;
        this.dispatchEvent(new CustomEvent('error', { detail: err }));
      });
    }, ms);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }
}
