// A mixture to take away: a table of its weights with Copy (JSON to the clipboard), Download CSV and Download
// JSON. The numbers are the server's, at full precision, in the project's domain order; with families the table
// shows each family's total above its members (the files stay one line per domain).
import { h, toast } from './dom.js';
import { foldable, groupedRows, total } from './familytable.js';

/** `domain,weight` lines with a header; a domain name holding a comma or quote is quoted (RFC 4180). */
export function weightsCsv(weights, domains) {
  const cell = (s) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  return `domain,weight\n${domains.map((d) => `${cell(d)},${weights[d] ?? 0}`).join('\n')}\n`;
}

/** The mixture as a JSON object {domain: weight}, in the domains' order. */
export function weightsJson(weights, domains) {
  return `${JSON.stringify(Object.fromEntries(domains.map((d) => [d, weights[d] ?? 0])), null, 2)}\n`;
}

/** Offer `text` as a file download named `filename`. */
export function downloadText(text, filename, type) {
  const href = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}

/** Put `text` on the clipboard (the Clipboard API, else a selected textarea and the copy command). */
export async function copyText(text) {
  if (navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // permission refused: fall through to the selection route
    }
  }
  const area = h('textarea', { style: { position: 'fixed', opacity: '0' } });
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  return ok;
}

/**
 * The weights table with its three actions. `name` prefixes the downloaded files' names; `idPrefix` the
 * element ids (`<idPrefix>-weights-table`, `-copy`, `-csv`, `-json`).
 */
export function weightsPanel(weights, domains, name, idPrefix) {
  const csv = weightsCsv(weights, domains);
  const json = weightsJson(weights, domains);
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '_');
  const copy = h('button', { class: 'small', id: `${idPrefix}-copy`, title: 'copy {domain: weight} as JSON' }, 'Copy');
  copy.addEventListener('click', async () => {
    toast(await copyText(json) ? 'Weights copied (JSON)' : 'The browser refused the clipboard', 'ok');
  });
  const csvBtn = h('button', { class: 'small', id: `${idPrefix}-csv`, onclick: () => downloadText(csv, `${safe}.csv`, 'text/csv') }, 'Download CSV');
  const jsonBtn = h('button', { class: 'small', id: `${idPrefix}-json`, onclick: () => downloadText(json, `${safe}.json`, 'application/json') }, 'Download JSON');
  const cells = (w) => [h('td', { class: 'num', dataset: { value: w } }, w.toFixed(6)), h('td', { class: 'num' }, `${(100 * w).toFixed(2)}`)];
  const table = h('table', { class: 'table compact', id: `${idPrefix}-weights-table` },
    h('thead', {}, h('tr', {}, h('th', {}, 'Domain'), h('th', { class: 'num' }, 'Weight'), h('th', { class: 'num' }, '%'))),
    foldable(h('tbody', {}, groupedRows(domains, (d) => cells(weights[d] ?? 0), (members) => cells(total(weights, members))))));
  return h('div', { class: 'weights-panel' },
    h('div', { class: 'row wrap' }, copy, csvBtn, jsonBtn),
    h('div', { class: 'table-wrap weights-wrap', style: { maxHeight: '320px', overflowY: 'auto' } }, table));
}
