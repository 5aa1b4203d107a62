// Events (admins): the events accepted, with those whose shipment is not
// known yet (unresolved) and the references that matched no registered
// shipment; one event with the source item it came from.

import { get, path, eventTypes, partnerNames } from '../api.js';
import {
  h, link, idLink, when, badge, pageHeader, pagedTable, emptyState, errorState, kv, card, loading, select, field,
  code, buttonLink, filterForm, partyChips,
} from '../dom.js';

const enc = encodeURIComponent;

// referenceKinds are the kinds of a shipment's references, in the order
// the API gives them, with their names.
export const referenceKinds = [
  ['booking', 'Booking'],
  ['bill_of_lading', 'Bill of lading'],
  ['containers', 'Containers'],
  ['purchase_orders', 'Purchase orders'],
  ['customer_references', 'Customer references'],
];

// referenceList shows references ({booking, bill_of_lading, containers,
// …}) as "Kind: value, value" lines; with search, each value links to the
// shipments that have it.
export function referenceList(refs, { search = false } = {}) {
  const lines = [];
  for (const [k, label] of referenceKinds) {
    const v = refs?.[k];
    const values = Array.isArray(v) ? v : v ? [v] : [];
    if (!values.length) continue;
    lines.push(h('div', { class: 'ref-line', dataset: { kind: k } },
      h('span', { class: 'ref-kind' }, `${label}: `),
      values.map((x, i) => [i ? ', ' : null,
        search ? link(`/shipments?q=${enc(x)}`, h('span', { class: 'mono' }, x)) : h('span', { class: 'mono' }, x)])));
  }
  return lines.length ? h('div', { class: 'refs' }, lines) : h('span', { class: 'muted' }, '—');
}

const reasonWords = {
  no_match: 'No registered shipment has these references',
  ambiguous: 'These references name more than one registered shipment',
};

// eventStatus shows whether an event's shipment is known.
export function eventStatus(ev) {
  return ev.status === 'unresolved' ? badge('unresolved', 'warn') : badge(ev.status || 'resolved', 'ok');
}

// unresolvedWhy says why an event is unresolved, with the references at
// fault and, when ambiguous, the shipments they name.
function unresolvedWhy(un) {
  if (!un) return null;
  return h('div', { class: 'unresolved' },
    h('div', null, reasonWords[un.reason] || un.reason),
    referenceList(un.references, { search: true }),
    un.shipments?.length
      ? h('div', null, 'Shipments: ', un.shipments.map((s, i) => [i ? ', ' : null, link(`/shipments/${enc(s)}`, s)]))
      : null);
}

function shipmentCell(ev) {
  const s = ev.shipment || {};
  if (s.id) return link(`/shipments/${enc(s.id)}`, s.id);
  return referenceList(s.references);
}

const filterNames = ['status', 'type', 'shipment_id'];

// list is the events page: every event, newest first, filtered by status
// (resolved or unresolved), type and shipment.
export async function list(ctx) {
  ctx.title('Events');
  const q = Object.fromEntries(filterNames.map((n) => [n, ctx.query.get(n) || '']));
  const unresolved = q.status === 'unresolved';
  ctx.main.append(pageHeader({
    title: unresolved ? 'Unresolved events' : 'Events',
    subtitle: unresolved
      ? 'Events that name their shipment by references no registered shipment has (or several have). They are delivered once the shipment is registered.'
      : 'Every event the sources sent, newest first.',
  }));
  const filters = h('div', { class: 'card' }, loading('Loading filters…'));
  ctx.main.append(filters);
  const [types, names] = await Promise.all([eventTypes().catch(() => []), partnerNames(ctx)]);
  const form = filterForm(ctx, '/events', filterNames, [
    field('Status', select('status', [['', 'Any status'], ['resolved', 'resolved'], ['unresolved', 'unresolved']], q.status)),
    field('Event type', select('type', [['', 'Any type'], ...types.map((t) => [t.name, t.name])], q.type)),
    field('Shipment ID', h('input', { type: 'search', name: 'shipment_id', value: q.shipment_id, placeholder: 'SHP-0001' })),
  ]);
  filters.replaceChildren(form);

  ctx.main.append(pagedTable({
    noun: 'events',
    load: (cursor) => get('/events', { ...q, cursor, limit: 50 }, { signal: ctx.signal }),
    empty: unresolved
      ? emptyState('No unresolved events', 'Every event names a registered shipment.')
      : emptyState('No events match', 'Clear some filters.', buttonLink('/events', 'Clear filters')),
    columns: [
      { label: 'Event', cell: (ev) => idLink(`/events/${enc(ev.id)}`, ev.id), class: 'nowrap' },
      { label: 'Type', cell: (ev) => h('span', { class: 'mono' }, ev.type) },
      { label: 'Status', cell: eventStatus },
      { label: 'Shipment', cell: shipmentCell },
      { label: 'Parties', cell: (ev) => partyChips(ev.parties, names), class: 'parties' },
      unresolved ? { label: 'Why', cell: (ev) => unresolvedWhy(ev.unresolved) } : null,
      { label: 'Occurred', cell: (ev) => when(ev.occurred_at), class: 'nowrap' },
      { label: 'Received', cell: (ev) => when(ev.created_at), class: 'nowrap' },
    ].filter(Boolean),
  }));
}

// show is one event: its shipment, parties, data and, if it came through
// a source, the item it came from with the original payload.
export async function show(ctx) {
  const { evid } = ctx.params;
  ctx.title(`Event ${evid}`);
  const holder = h('div', null, loading());
  ctx.main.append(pageHeader({ crumbs: [link('/events', 'Events')], title: `Event ${evid}` }), holder);
  let ev;
  let names;
  try {
    [ev, names] = await Promise.all([get(path`/events/${evid}`, undefined, { signal: ctx.signal }), partnerNames(ctx)]);
  } catch (err) {
    if (err.name === 'AbortError') return;
    holder.replaceChildren(err.status === 404 ? emptyState(`Event ${evid} not found`) : errorState(err, 'Could not load the event'));
    return;
  }
  const s = ev.shipment || {};
  const it = ev.source_item;
  holder.replaceChildren(
    card(null, kv([
      ['Type', h('span', { class: 'mono' }, ev.type)],
      ['Status', h('span', { id: 'event-status' }, eventStatus(ev))],
      ['Shipment', s.id ? link(`/shipments/${enc(s.id)}`, s.id) : h('span', { class: 'muted' }, 'not known yet')],
      ['References', referenceList(s.references, { search: true })],
      ev.unresolved ? ['Unresolved', unresolvedWhy(ev.unresolved)] : null,
      ['Parties', h('span', { id: 'event-parties' }, partyChips(ev.parties, names))],
      ev.source_id ? ['Source event id', h('code', null, ev.source_id)] : null,
      ['Occurred', when(ev.occurred_at)],
      ['Received', when(ev.created_at)],
      ['Fanned out', when(ev.fanned_out_at)],
    ])),
    card('Data', ev.purged_at ? h('p', { class: 'muted' }, 'Purged by retention.') : code(ev.data)),
    it ? card('Source item',
      kv([
        ['Source', link(`/sources/${enc(it.source_id)}`, it.source_id)],
        ['Item', link(`/sources/${enc(it.source_id)}?item=${enc(it.id)}`, h('span', { class: 'mono' }, it.id))],
        ['Received', when(it.received_at)],
      ]),
      h('h3', null, 'Original payload'),
      h('div', { id: 'event-original' }, code(it.original))) : null);
}
