// Sources (admins): the systems that post their own payloads, each with
// its settings and its recent items — every element of a payload, with
// the original as sent, what it became, and a replay for those that
// failed.

import { get, post, patch, request, path } from '../api.js';
import {
  h, link, idLink, when, badge, pageHeader, table, pagedTable, pagedList, emptyState, errorState, kv, card, loading,
  code, notice, field, select, showFieldError, buttonLink, base,
} from '../dom.js';

const enc = encodeURIComponent;

const formatWords = {
  shiphook: 'shiphook (canonical events)',
  'dcsa-tnt-2.2': 'DCSA Track & Trace 2.2',
  mapped: 'mapped (jq program)',
};

// itemStatuses are the statuses of a source's items, as the API names
// them, with what each means.
export const itemStatuses = [
  ['accepted', 'its events were stored'],
  ['unresolved', 'its events were stored, but name no registered shipment yet'],
  ['unmapped', 'it could not be translated'],
  ['rejected', 'an event it became is not valid; nothing was stored'],
  ['ignored', 'it became no event'],
];
const statusTones = { accepted: 'ok', unresolved: 'warn', ignored: '', rejected: 'bad', unmapped: 'bad' };

function itemBadge(status) {
  return badge(status || 'unknown', statusTones[status] ?? '');
}

// list is the sources page: every source, and a form to add one.
export async function list(ctx) {
  ctx.title('Sources');
  ctx.main.append(
    pageHeader({
      title: 'Sources',
      subtitle: 'The systems that post shipment data in their own format: carriers (DCSA), a WMS or TMS (mapped), or canonical events.',
      actions: [buttonLink('/events?status=unresolved', 'Unresolved events')],
    }),
    createForm(ctx),
    pagedTable({
      noun: 'sources',
      load: (cursor) => get('/sources', { cursor, limit: 50 }, { signal: ctx.signal }),
      empty: emptyState('No sources yet', 'Add a source with the form above; its systems then post to its own URL.'),
      columns: [
        { label: 'Source', cell: (s) => [link(`/sources/${enc(s.id)}`, s.name || s.id), h('span', { class: 'sub mono' }, s.id)] },
        { label: 'Format', cell: (s) => badge(formatWords[s.format] || s.format, s.format === 'shiphook' ? '' : 'info') },
        { label: 'Last item', cell: (s) => lastItem(ctx, s), class: 'nowrap' },
        { label: 'Created', cell: (s) => when(s.created_at), class: 'nowrap' },
        { label: '', cell: (s) => h('span', { class: 'actions' }, link(`/sources/${enc(s.id)}?status=unmapped`, 'Unmapped'), link(`/sources/${enc(s.id)}?status=rejected`, 'Rejected')) },
      ],
    }));
}

// lastItem shows when the source's newest item came and its status; the
// API's list of sources does not say, so each row asks for one item.
function lastItem(ctx, s) {
  const el = h('span', { class: 'muted' }, '…');
  get(path`/sources/${s.id}/items`, { limit: 1 }, { signal: ctx.signal }).then((r) => {
    const it = r.data[0];
    el.className = 'chips';
    el.replaceChildren(...(it ? [when(it.received_at), itemBadge(it.status)] : [h('span', { class: 'muted' }, 'none yet')]));
  }, (err) => {
    if (err.name !== 'AbortError') el.replaceChildren(h('span', { class: 'muted', title: err.message }, 'unknown'));
  });
  return el;
}

function createForm(ctx) {
  const out = h('div');
  const program = h('textarea', { name: 'mapping.program', rows: 6, placeholder: '{id: .msg_id, type: (.status | code("status")), …}' });
  const codes = h('textarea', { name: 'mapping.codes', rows: 3, placeholder: '{"status": {"RCV": "shipment.milestone.received"}}' });
  const mapped = h('div', { hidden: true }, field('Program (jq)', program), field('Code tables (JSON)', codes, 'Optional: table name → code → value, read as $codes.'));
  const format = select('format', Object.entries(formatWords), 'shiphook');
  format.addEventListener('change', () => { mapped.hidden = format.value !== 'mapped'; });
  const form = h('form', {
    class: 'form-narrow',
    onsubmit: async (e) => {
      e.preventDefault();
      out.replaceChildren();
      const fd = new FormData(form);
      const body = { name: fd.get('name').trim(), format: fd.get('format') };
      if (body.format === 'mapped') {
        body.mapping = { program: fd.get('mapping.program') };
        const c = fd.get('mapping.codes').trim();
        if (c) {
          try {
            body.mapping.codes = JSON.parse(c);
          } catch (err) {
            out.append(errorState({ message: `The code tables are not JSON: ${err.message}`, field: 'mapping.codes' }, 'The source was not created'));
            return;
          }
        }
      }
      try {
        const s = await post('/sources', body);
        ctx.navigate(`/sources/${enc(s.id)}`, { notice: { text: `Source ${s.name || s.id} created.` } });
      } catch (err) {
        showFieldError(form, err);
        out.append(errorState(err, 'The source was not created'));
      }
    },
  },
  h('div', { class: 'row' },
    field('Name', h('input', { type: 'text', name: 'name', required: true, placeholder: 'Warehouse Rotterdam' })),
    field('Format', format)),
  mapped,
  h('button', { type: 'submit', class: 'primary' }, 'Create source'),
  out);
  return h('details', { class: 'card' }, h('summary', null, 'New source'), form);
}

// show is one source: its settings, how its system posts, and its items,
// filtered by status (?status=); ?item= opens one item first.
export async function show(ctx) {
  const { srcid } = ctx.params;
  ctx.title(`Source ${srcid}`);
  const holder = h('div', null, loading());
  ctx.main.append(holder);
  let s;
  try {
    s = await get(path`/sources/${srcid}`, undefined, { signal: ctx.signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
    holder.replaceChildren(err.status === 404
      ? emptyState(`Source ${srcid} not found`, 'It may have been deleted.', buttonLink('/sources', 'All sources'))
      : errorState(err, 'Could not load the source'));
    return;
  }
  ctx.title(s.name || s.id);
  holder.replaceChildren(
    pageHeader({
      crumbs: [link('/sources', 'Sources')],
      title: s.name || s.id,
      badges: [badge(formatWords[s.format] || s.format, 'info')],
      subtitle: h('span', { class: 'mono' }, s.id),
    }),
    settings(ctx, s),
    s.format === 'mapped' ? mappingTest(ctx, s) : null,
    items(ctx, s));
}

function settings(ctx, s) {
  const url = `${location.origin}/v1/sources/${enc(s.id)}/events`;
  const how = {
    shiphook: 'Its system posts canonical events (one, or an array) to this URL with an ingest key bound to the source.',
    'dcsa-tnt-2.2': 'Give the carrier this URL as the callback of its DCSA subscription, with the source\'s secret; notifications are checked by their signature, no API key.',
    mapped: 'Its system posts its own JSON (one payload, or an array) to this URL with an ingest key bound to the source; the mapping makes canonical events of each payload.',
  }[s.format];
  const parts = [
    kv([
      ['Format', formatWords[s.format] || s.format],
      [s.format === 'dcsa-tnt-2.2' ? 'Callback URL' : 'Posts to', h('code', { id: 'source-url' }, url)],
      ['Created', when(s.created_at)],
      ['Updated', when(s.updated_at)],
    ]),
    how ? h('p', { class: 'muted' }, how) : null,
  ];
  if (s.format === 'dcsa-tnt-2.2') parts.push(secretBox(s));
  if (s.format === 'mapped' && s.mapping) {
    parts.push(h('h3', null, 'Program'), h('div', { id: 'source-program' }, code(s.mapping.program)));
    parts.push(h('h3', null, 'Code tables'), codeTables(s.mapping.codes));
  }
  return card('Settings', parts);
}

function secretBox(s) {
  const out = h('div', { class: 'secret-box' });
  const button = h('button', {
    type: 'button',
    class: 'small',
    onclick: async () => {
      button.disabled = true;
      try {
        const r = await get(path`/sources/${s.id}/secret`);
        out.replaceChildren(h('span', null, 'Secret: '), h('code', { id: 'source-secret' }, r.secret));
      } catch (err) {
        button.disabled = false;
        out.append(errorState(err, 'Could not load the secret'));
      }
    },
  }, 'Reveal secret');
  out.append(button);
  return out;
}

function codeTables(codes) {
  const names = Object.keys(codes || {}).sort();
  if (!names.length) return h('p', { class: 'muted' }, 'No code tables.');
  return h('div', { class: 'code-tables', id: 'source-codes' }, names.map((n) => h('div', null,
    h('div', { class: 'mono' }, `$codes.${n}`),
    table([
      { label: 'Code', cell: ([k]) => h('span', { class: 'mono' }, k) },
      { label: 'Value', cell: ([, v]) => h('span', { class: 'mono' }, v) },
    ], Object.entries(codes[n]).sort(([a], [b]) => a.localeCompare(b))))));
}

// mappingTest runs a mapping (the source's, or one edited here) over a
// payload pasted in and shows what each item becomes; nothing is stored
// until "Save mapping".
function mappingTest(ctx, s) {
  const m = s.mapping || { program: '' };
  const program = h('textarea', { name: 'mapping.program', id: 'mapping-program', rows: 8, value: m.program });
  const codes = h('textarea', { name: 'mapping.codes', id: 'mapping-codes', rows: 6, value: JSON.stringify(m.codes || {}, null, 2) });
  const payload = h('textarea', { name: 'payload', id: 'mapping-payload', rows: 6, placeholder: '{"msg_id": "W-1", "status": "RCV", …}' });
  const out = h('div', { id: 'mapping-result' });
  // mapping returns the mapping in the form, or shows why it cannot.
  const mapping = (what) => {
    try {
      return { program: program.value, codes: JSON.parse(codes.value || '{}') };
    } catch (err) {
      out.replaceChildren(errorState({ message: `The code tables are not JSON: ${err.message}`, field: 'mapping.codes' }, what));
      return null;
    }
  };
  const fail = (err, what) => {
    if (err.name === 'AbortError') return;
    showFieldError(form, err);
    out.replaceChildren(errorState(err, what));
  };
  const save = h('button', {
    type: 'button',
    onclick: async () => {
      const mp = mapping('The mapping was not saved');
      if (!mp) return;
      try {
        await patch(path`/sources/${s.id}`, { mapping: mp }, { signal: ctx.signal });
      } catch (err) {
        fail(err, 'The mapping was not saved');
        return;
      }
      ctx.navigate(`/sources/${enc(s.id)}${location.search}`, { replace: true, notice: { text: 'Mapping saved. Replay the items that failed to translate them with it.' } });
    },
  }, 'Save mapping');
  const form = h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      out.replaceChildren();
      const mp = mapping('Nothing was translated');
      if (!mp) return;
      try {
        JSON.parse(payload.value);
      } catch (err) {
        out.append(errorState({ message: `The payload is not JSON: ${err.message}`, field: 'payload' }, 'Nothing was translated'));
        return;
      }
      let r;
      try {
        // The payload goes as typed, so that its numbers keep their digits.
        r = await request('POST', path`/sources/${s.id}/mapping/test`, { raw: `{"mapping": ${JSON.stringify(mp)}, "payload": ${payload.value}}`, signal: ctx.signal });
      } catch (err) {
        fail(err, 'Nothing was translated');
        return;
      }
      out.append(...r.items.map((it, i) => h('div', { class: 'tested-item' },
        h('div', { class: 'chips' }, h('strong', null, `Item ${i + 1}`), itemBadge(it.status)),
        itemError(it.error),
        it.events.length ? [h('h3', null, it.events.length === 1 ? 'Event' : `${it.events.length} events`), it.events.map((ev) => code(ev))]
          : h('p', { class: 'muted' }, 'No event.'))));
    },
  },
  h('p', { class: 'card-intro' }, 'Run the mapping over a payload to see what it becomes. Edit the program or the code tables to try a fix; nothing changes until you save.'),
  h('div', { class: 'grid-2' }, field('Program (jq)', program), field('Code tables (JSON)', codes, 'Table name → code → value, read as $codes.')),
  field('Payload', payload, 'One payload as the source sends it, or an array of them.'),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Try the mapping'), save), out);
  return h('details', { class: 'card' }, h('summary', null, 'Try or change the mapping'), form);
}

function itemError(e) {
  if (!e) return null;
  return h('div', { class: 'item-error', role: 'note' },
    h('code', { class: 'error-code' }, e.code), ' ', e.message,
    e.field ? [' · field ', h('code', null, e.field)] : null);
}

// items lists the source's items, newest first, with a status filter.
function items(ctx, s) {
  const status = ctx.query.get('status') || '';
  const here = `/sources/${enc(s.id)}`;
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Item status' },
    [['', 'All'], ...itemStatuses].map(([st, what]) => h('a', {
      href: `${base}${here}${st ? `?status=${st}` : ''}`,
      title: st ? `Items where ${what}` : null,
      'aria-current': st === status ? 'page' : null,
    }, st || 'All')));
  const openItem = ctx.query.get('item');
  return card('Items',
    h('p', { class: 'card-intro' }, 'Each element of a payload the source posted, newest first, with the original as it was sent.'),
    openItem ? oneItem(ctx, s, openItem) : null,
    tabs,
    pagedList({
      noun: 'items',
      cls: 'item-list',
      load: (cursor) => get(path`/sources/${s.id}/items`, { status, cursor, limit: 25 }, { signal: ctx.signal }),
      empty: status
        ? emptyState(`No ${status} items`, `None where ${Object.fromEntries(itemStatuses)[status] || status}.`)
        : emptyState('No items yet', 'Nothing has been posted to this source.'),
      item: (it) => itemView(ctx, s, it, false),
    }));
}

// oneItem shows the item that ?item= names, open.
function oneItem(ctx, s, id) {
  const el = h('div', { class: 'item-list' }, loading());
  get(path`/sources/${s.id}/items/${id}`, undefined, { signal: ctx.signal }).then(
    (it) => el.replaceChildren(itemView(ctx, s, it, true)),
    (err) => { if (err.name !== 'AbortError') el.replaceChildren(errorState(err, `Could not load item ${id}`)); });
  return el;
}

// itemView is one item: a summary line (status, id, time, error) that
// opens on its original, error, events and, when it failed, Replay.
function itemView(ctx, s, it, open) {
  const summary = h('summary');
  const body = h('div', { class: 'item-body' });
  const el = h('details', { class: 'item', open, dataset: { item: it.id } }, summary, body);
  const show = (x, note) => {
    el.dataset.status = x.status;
    summary.replaceChildren(...summaryParts(x));
    const failed = x.status === 'rejected' || x.status === 'unmapped';
    body.replaceChildren(...[
      note,
      itemError(x.error),
      x.status === 'unresolved'
        ? h('p', { class: 'muted' }, 'Its events name no registered shipment yet; they are delivered to its parties once it is registered. ',
          link('/events?status=unresolved', 'Unresolved events'))
        : null,
      h('div', { class: 'item-events' }, 'Events: ', x.event_ids?.length
        ? x.event_ids.map((id, i) => [i ? ', ' : null, idLink(`/events/${enc(id)}`, id)])
        : h('span', { class: 'muted' }, 'none')),
      h('h3', null, 'Original payload'),
      h('div', { class: 'item-original' }, code(x.original)),
      failed ? replayButton(ctx, s, x, show) : null,
    ].filter(Boolean));
  };
  show(it, null);
  return el;
}

function summaryParts(it) {
  return [
    itemBadge(it.status),
    h('span', { class: 'mono' }, it.id),
    when(it.received_at),
    it.error ? h('span', { class: 'item-why' }, it.error.message) : null,
    it.event_ids?.length ? h('span', { class: 'muted' }, it.event_ids.length === 1 ? '1 event' : `${it.event_ids.length} events`) : null,
  ].filter(Boolean);
}

// replayButton translates the item's original again, as the source's
// format and mapping are now, and shows the item as it became.
function replayButton(ctx, s, it, show) {
  const out = h('div');
  const b = h('button', {
    type: 'button',
    class: 'small',
    onclick: async () => {
      b.disabled = true;
      b.textContent = 'Replaying…';
      out.replaceChildren();
      let r;
      try {
        r = await post(path`/sources/${s.id}/items/${it.id}/replay`, {}, { signal: ctx.signal });
      } catch (err) {
        if (err.name === 'AbortError') return;
        b.disabled = false;
        b.textContent = 'Replay';
        out.append(errorState(err, 'The item was not replayed'));
        return;
      }
      const events = r.events || [];
      const dup = events.filter((e) => e.duplicate).length;
      const n = events.length === 1 ? '1 event' : `${events.length} events`;
      show({ ...it, status: r.status, error: r.error, event_ids: events.map((e) => e.id) }, notice(
        r.status === 'accepted' || r.status === 'unresolved'
          ? `Replayed: ${r.status}, ${n}${dup ? ` (${dup} stored before, not delivered again)` : ''}.`
          : `Replayed: still ${r.status}${r.error ? `: ${r.error.message}` : ''}.`,
        r.status === 'accepted' ? 'info' : 'warn'));
    },
  }, 'Replay');
  return h('div', { class: 'actions replay' }, b,
    h('span', { class: 'muted' }, 'Translate the original again with the source as it is now.'), out);
}
