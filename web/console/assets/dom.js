// Building blocks of the console's pages. Everything the API returns is put
// on the page as text (never as HTML).

export const base = '/console';

// h creates an element. attrs may hold properties (class, href, on…
// handlers, boolean attributes); children are nodes, strings or arrays of
// them, and null, undefined and false are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

// fill replaces the children of el, skipping what h skips.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// link is a link to a console page; to is the path after /console.
export function link(to, ...children) {
  return h('a', { href: base + to }, ...children);
}

// shortID shows an id as its prefix and last eight characters, with the
// whole id as a tooltip.
export function shortID(id) {
  if (!id) return '—';
  const i = id.indexOf('_');
  const text = i > 0 && id.length > i + 12 ? id.slice(0, i + 1) + '…' + id.slice(-8) : id;
  return h('span', { class: 'mono', title: id }, text);
}

// buttonLink is a link to a console page that looks like a button.
export function buttonLink(to, text, tone = '') {
  return h('a', { href: base + to, class: `button ${tone}`.trim() }, text);
}

export function idLink(to, id) {
  return h('a', { href: base + to, class: 'mono', title: id }, shortID(id).textContent);
}

const pad = (n, w = 2) => String(Math.abs(n)).padStart(w, '0');

// formatTime is the one way the console writes a time: the local date and
// time to the second, with the year and the zone as its offset from UTC,
// "2026-12-06 15:42:07 UTC" or "2026-12-06 16:42:07 UTC+01:00"; "" for a
// value that is not a time.
export function formatTime(ts) {
  const d = ts instanceof Date ? ts : new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? 'UTC' : `UTC${off < 0 ? '-' : '+'}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
    + `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone}`;
}

// when shows a timestamp as formatTime writes it, with the exact RFC 3339
// value as a tooltip; "—" when there is none.
export function when(ts) {
  if (!ts) return h('span', { class: 'muted' }, '—');
  const text = formatTime(ts);
  if (!text) return String(ts);
  return h('time', { datetime: ts, title: ts }, text);
}

// age says how long ago a number of seconds is, roughly: "45 s", "12 min",
// "3 h 20 min", "2 d 4 h".
export function age(seconds) {
  if (seconds === undefined || seconds === null) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function duration(ms) {
  if (ms === undefined || ms === null) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function percent(rate) {
  if (rate === undefined || rate === null) return '—';
  const p = rate * 100;
  return `${Number.isInteger(p) ? p : p.toFixed(1)} %`;
}

export function badge(text, tone = '') {
  return h('span', { class: `badge ${tone}`.trim() }, text);
}

const statusTones = {
  succeeded: 'ok', failed: 'bad', delivering: 'info', pending: 'warn', held: 'warn', waiting: 'warn', disabled: '', discarded: '',
  running: 'info', done: 'ok',
};

// statusBadge shows a message's status: pending, held, waiting,
// delivering, succeeded, failed, disabled or discarded.
export function statusBadge(status, { id, big } = {}) {
  return h('span', { class: ['badge', statusTones[status], big && 'big'].filter(Boolean).join(' '), id }, status || 'unknown');
}

const breakerTones = { closed: 'ok', open: 'bad', half_open: 'warn' };
const breakerWords = { closed: 'breaker closed', open: 'breaker open', half_open: 'breaker half-open' };

export function breakerBadge(breaker) {
  if (!breaker || !breaker.state) return h('span', { class: 'muted' }, '—');
  return h('span', { class: `badge ${breakerTones[breaker.state] ?? ''}`, title: breaker.reason || null },
    breakerWords[breaker.state] ?? breaker.state);
}

// endpointName names an endpoint for people: a webhook endpoint by its
// URL, a pull endpoint, which has none, as its feed.
export function endpointName(ep) {
  return ep.kind === 'pull' ? `pull feed ${ep.id}` : ep.url;
}

// endpointText names an endpoint for people in a few words: by its
// description, else as endpointName does.
export function endpointText(ep) {
  return ep.description || endpointName(ep);
}

// endpointLabel shows the endpoint of a message, attempt or delivery
// (item, with the API's labels) by its description or URL, linked to its
// page, the id as the link's tooltip and the URL below a description; a
// deleted endpoint as its id and "(deleted)".
export function endpointLabel(item) {
  const id = item.endpoint_id;
  if (!id) return '—';
  if (item.endpoint_deleted) return deleted(id);
  const url = item.endpoint_url || (item.endpoint_kind === 'pull' ? 'pull feed' : '');
  if (!url && !item.endpoint_description) return idLink(`/partners/${encodeURIComponent(item.partner_id)}/endpoints/${encodeURIComponent(id)}`, id);
  const a = h('a', { href: `${base}/partners/${encodeURIComponent(item.partner_id)}/endpoints/${encodeURIComponent(id)}`, title: id, class: 'endpoint-label' },
    item.endpoint_description || url);
  return item.endpoint_description && url ? [a, h('span', { class: 'sub url' }, url)] : a;
}

// partnerLabel shows the partner of an item (with the API's labels) by its
// name, linked to its page for an admin (linked false: plain text), the id
// as the tooltip; a deleted partner as its id and "(deleted)".
export function partnerLabel(item, linked = true) {
  const id = item.partner_id;
  if (!id) return '—';
  if (item.partner_deleted) return deleted(id);
  const name = item.partner_name || id;
  return linked ? h('a', { href: `${base}/partners/${encodeURIComponent(id)}`, title: id }, name) : h('span', { title: id }, name);
}

// partyChips shows a shipment's or an event's parties, each as its
// partner's name (names, by id; the id when it has none there) and role,
// the id as the tooltip.
export function partyChips(parties, names) {
  if (!parties?.length) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'chips party-chips' }, parties.map((p) => h('span', { title: p.partner_id },
    badge(`${names[p.partner_id] || p.partner_id} · ${p.role}`, 'info'))));
}

function deleted(id) {
  return h('span', { class: 'deleted', title: 'deleted' }, h('span', { class: 'mono' }, id), ' (deleted)');
}

// failure shows why a message's last attempt failed: its status code and
// error class, and the start of its error text (all of it as a tooltip).
export function failure(statusCode, errorClass, error) {
  const chips = result(statusCode, errorClass);
  if (!error) return chips;
  const short = error.length > 120 ? `${error.slice(0, 117)}…` : error;
  return h('span', { class: 'failure' }, chips, h('span', { class: 'error-text', title: error }, short));
}

export function endpointState(ep) {
  if (ep.disabled) return h('span', { class: 'badge', title: ep.disabled_reason || null }, ep.disabled_reason ? `disabled: ${ep.disabled_reason}` : 'disabled');
  return badge('enabled', 'ok');
}

// result shows how an attempt or a message's last attempt ended: its HTTP
// status and error class.
export function result(statusCode, errorClass) {
  const parts = [];
  if (statusCode) parts.push(badge(String(statusCode), statusCode >= 200 && statusCode < 300 ? 'ok' : 'bad'));
  if (errorClass) parts.push(badge(errorClass, 'bad'));
  if (!parts.length) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'chips' }, parts);
}

export function triggerBadge(trigger) {
  return badge(trigger || 'scheduled', trigger === 'manual' || trigger === 'read' ? 'info' : '');
}

export function loading(what = 'Loading…') {
  return h('div', { class: 'loading', role: 'status' }, what);
}

// emptyState is shown where a list has nothing to show.
export function emptyState(title, detail, ...actions) {
  return h('div', { class: 'state empty', role: 'status' },
    h('div', { class: 'state-title' }, title),
    detail ? h('div', null, detail) : null,
    actions.length ? h('div', { class: 'actions' }, actions) : null);
}

// errorState shows an API error: what failed, the API's message, its code
// and HTTP status.
export function errorState(err, title = 'Something went wrong') {
  const meta = [];
  if (err && err.code) meta.push(h('span', null, 'Code ', h('code', { class: 'error-code' }, err.code)));
  if (err && err.status) meta.push(h('span', null, ` · HTTP ${err.status}`));
  if (err && err.field) meta.push(h('span', null, ' · field ', h('code', null, err.field)));
  return h('div', { class: 'error-state', role: 'alert' },
    h('div', { class: 'state-title' }, title),
    h('p', { class: 'error-message' }, (err && err.message) || String(err)),
    meta.length ? h('div', { class: 'error-meta' }, meta) : null);
}

export function notice(content, tone = '') {
  return h('div', { class: `notice ${tone}`.trim(), role: 'status' }, content);
}

// kv is a definition list of [label, value] pairs; pairs that are null are
// left out.
export function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '—')]));
}

export function card(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h2', null, title) : null, children);
}

// pageHeader is a page's crumbs, title, badges, subtitle and actions.
export function pageHeader({ crumbs = [], title, badges = [], subtitle, actions = [] }) {
  return h('header', { class: 'page-header' },
    h('div', null,
      crumbs.length ? h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumbs' }, crumbs.map((c) => h('span', null, c))) : null,
      h('div', { class: 'title-row' }, h('h1', { tabindex: '-1' }, title), badges),
      subtitle ? h('div', { class: 'subtitle' }, subtitle) : null),
    actions.length ? h('div', { class: 'actions' }, actions) : null);
}

// table renders rows with columns [{label, cell(row), class}]; when there
// are no rows it shows empty instead.
export function table(columns, rows, empty) {
  const tbody = h('tbody');
  const t = h('table', null,
    h('thead', null, h('tr', null, columns.map((c) => h('th', { class: c.class || null, scope: 'col' }, c.label)))),
    tbody);
  addRows(tbody, columns, rows);
  const wrap = h('div', { class: 'table-wrap' }, t);
  if (!rows.length && empty) {
    t.hidden = true;
    wrap.append(empty);
  }
  return wrap;
}

function addRows(tbody, columns, rows) {
  for (const row of rows) {
    tbody.append(h('tr', null, columns.map((c) => h('td', { class: c.class || null }, c.cell(row)))));
  }
}

// pagedTable shows the pages that load(cursor) returns ({data,
// next_cursor, has_more}), with a "Load more" button while there are more.
export function pagedTable({ columns, load, empty, noun = 'items' }) {
  return paged({
    load,
    noun,
    first: (rows) => {
      const wrap = table(columns, rows, empty);
      const tbody = wrap.querySelector('tbody');
      return { el: wrap, add: (more) => addRows(tbody, columns, more) };
    },
  });
}

// pagedList is pagedTable for rows that are not a table's: each row
// becomes item(row), an element of a list (class cls).
export function pagedList({ item, load, empty, noun = 'items', cls = 'item-list' }) {
  return paged({
    load,
    noun,
    first: (rows) => {
      const list = h('ul', { class: cls }, rows.map((r) => h('li', null, item(r))));
      if (!rows.length && empty) return { el: empty, add: () => {} };
      return { el: list, add: (more) => list.append(...more.map((r) => h('li', null, item(r)))) };
    },
  });
}

// paged loads pages with load(cursor), shows the first with first(rows),
// which returns the element and how to add the rows of later pages.
function paged({ load, noun, first }) {
  const el = h('div', null, loading());
  let shown = 0;
  let add = null;
  const footer = h('div', { class: 'list-footer' });
  const more = async (cursor, button) => {
    let page;
    try {
      page = await load(cursor);
    } catch (err) {
      if (err.name === 'AbortError') return;
      if (!add) {
        el.replaceChildren(errorState(err, `Could not load the ${noun}`));
      } else {
        button.disabled = false;
        button.textContent = 'Load more';
        footer.append(errorState(err, `Could not load more ${noun}`));
      }
      return;
    }
    if (!add) {
      const f = first(page.data);
      add = f.add;
      el.replaceChildren(f.el, footer);
    } else {
      add(page.data);
    }
    shown += page.data.length;
    const what = shown === 1 ? noun.replace(/s$/, '') : noun;
    footer.replaceChildren(h('span', null, shown ? `Showing ${shown} ${what}` : ''));
    if (page.has_more && page.next_cursor) {
      const b = h('button', { type: 'button', onclick: () => { b.disabled = true; b.textContent = 'Loading…'; more(page.next_cursor, b); } }, 'Load more');
      footer.append(b);
    }
  };
  more(null, null);
  return el;
}

// code shows a payload, pretty-printed when it is JSON.
export function code(value) {
  let text = value;
  if (typeof value === 'string') {
    try {
      text = JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      text = value;
    }
  } else {
    text = JSON.stringify(value, null, 2);
  }
  if (text === '' || text === undefined || text === null) return h('span', { class: 'muted' }, '(empty)');
  return h('pre', { class: 'code' }, text);
}

export function headersTable(headers) {
  const names = Object.keys(headers || {}).sort((a, b) => a.localeCompare(b));
  if (!names.length) return h('p', { class: 'muted' }, 'No headers.');
  return table([
    { label: 'Header', cell: (n) => h('span', { class: 'mono' }, n), class: 'nowrap' },
    { label: 'Value', cell: (n) => h('span', { class: 'mono' }, headers[n]), class: 'url' },
  ], names);
}

// field wraps a form control with its label, a hint and a place for the
// API's complaint about it.
export function field(label, control, hint) {
  const id = control.id || (control.id = `f-${control.name || Math.random().toString(36).slice(2)}`);
  return h('div', { class: 'field', dataset: { field: control.name || '' } },
    h('label', { for: id }, label),
    control,
    hint ? h('div', { class: 'hint' }, hint) : null,
    h('div', { class: 'field-error', hidden: true }));
}

// showFieldError marks the control that err.field names (its first
// segment: "filter.shipment.mode" marks "filter") and returns whether one
// was found.
export function showFieldError(form, err) {
  for (const el of form.querySelectorAll('.field-error')) el.hidden = true;
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  if (!err || !err.field) return false;
  const names = [err.field, err.field.split(/[.[]/)[0]];
  for (const name of names) {
    const wrap = form.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
    if (!wrap) continue;
    const msg = wrap.querySelector('.field-error');
    msg.textContent = err.message;
    msg.hidden = false;
    wrap.querySelector('input, select, textarea')?.setAttribute('aria-invalid', 'true');
    return true;
  }
  return false;
}

// select is a <select> of [value, label] options with value chosen.
export function select(name, options, value) {
  return h('select', { name }, options.map(([v, label]) => h('option', { value: v, selected: v === (value ?? '') }, label)));
}

// filterForm is a list's filter form: the controls, then Apply filters and
// Clear. Applying goes to here with the filled-in fields of names as its
// query; since and until, datetime-local inputs, go as RFC 3339.
export function filterForm(ctx, here, names, controls) {
  const form = h('form', {
    class: 'filters',
    role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      const fd = new FormData(form);
      const out = new URLSearchParams();
      for (const n of names) {
        let v = String(fd.get(n) ?? '').trim();
        if (n === 'since' || n === 'until') v = toRFC3339(v);
        if (v) out.set(n, v);
      }
      const s = out.toString();
      ctx.navigate(here + (s ? `?${s}` : ''));
    },
  }, controls, h('div', { class: 'buttons' },
    h('button', { type: 'submit', class: 'primary' }, 'Apply filters'),
    buttonLink(here, 'Clear')));
  return form;
}

// toRFC3339 turns a datetime-local value (local time) into RFC 3339.
export function toRFC3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

// toLocalInput turns an RFC 3339 timestamp into a datetime-local value.
export function toLocalInput(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// sleep waits ms milliseconds, or rejects with an AbortError when signal
// aborts first.
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException('aborted', 'AbortError'));
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); reject(new DOMException('aborted', 'AbortError')); }, { once: true });
  });
}
