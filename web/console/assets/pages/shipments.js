// Shipments: look a shipment up by its id or any of its references, and
// see what the registry holds of it (attributes, references, parties)
// above its events in order, with where each was delivered.

import { get, path, partnerNames } from '../api.js';
import {
  h, link, idLink, when, statusBadge, pageHeader, table, emptyState, errorState, loading, field, code,
  card, kv, notice, endpointLabel, partnerLabel, failure, partyChips,
} from '../dom.js';
import { referenceList } from './events.js';

const enc = encodeURIComponent;

function searchForm(ctx, value) {
  const input = h('input', { type: 'search', name: 'q', value: value || '', required: true, placeholder: 'SHP-0001, a booking, a container…' });
  const form = h('form', {
    class: 'row',
    role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      const q = input.value.trim();
      if (q) ctx.navigate(`/shipments?q=${enc(q)}`);
    },
  }, field('Shipment ID or reference', input, 'A booking, bill of lading, container, purchase order or customer reference finds the registered shipments that have it.'),
  h('div', { class: 'field shrink' }, h('button', { type: 'submit', class: 'primary' }, 'Find')));
  return h('div', { class: 'card' }, form);
}

// orNull returns what p resolves to, or null when the API answers 404.
async function orNull(p) {
  try {
    return await p;
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

function route(s) {
  return [s.origin, s.destination].filter(Boolean).join(' → ');
}

// search is the page that looks a shipment up (?q=): by its id, and among
// the references of the registered shipments. One match opens it.
export async function search(ctx) {
  ctx.title('Shipments');
  const q = (ctx.query.get('q') || '').trim();
  ctx.main.append(
    pageHeader({ title: 'Shipments', subtitle: ctx.admin ? 'The registered shipments, and the events of each, in order, with every delivery.' : 'The shipments you are party to, and their events, in order, with your deliveries.' }),
    searchForm(ctx, q));
  if (!q) {
    ctx.main.append(emptyState('Look up a shipment', 'Enter its shipment ID, or one of its references, such as the one in a message.'));
    return;
  }
  const holder = h('div', null, loading('Searching…'));
  ctx.main.append(holder);
  let byID;
  let byRef;
  let names;
  try {
    [byID, byRef, names] = await Promise.all([
      orNull(get(path`/shipments/${q}`, undefined, { signal: ctx.signal })),
      orNull(get('/shipments', { reference: q }, { signal: ctx.signal })),
      partnerNames(ctx),
    ]);
  } catch (err) {
    if (err.name === 'AbortError') return;
    holder.replaceChildren(errorState(err, 'Could not search the shipments'));
    return;
  }
  const found = [...(byID ? [byID] : []), ...(byRef?.data || []).filter((s) => !byID || s.id !== byID.id)];
  if (found.length === 1) {
    ctx.navigate(`/shipments/${enc(found[0].id)}`, { replace: true });
    return;
  }
  if (!found.length) {
    holder.replaceChildren(emptyState(`No registered shipment has the ID or reference ${q}`,
      'Events may still name it: its timeline shows the events sent for a shipment ID.',
      link(`/shipments/${enc(q)}`, `Timeline of shipment ${q}`)));
    return;
  }
  holder.replaceChildren(table([
    { label: 'Shipment', cell: (s) => link(`/shipments/${enc(s.id)}`, s.id), class: 'nowrap' },
    { label: 'Mode', cell: (s) => s.mode || '—' },
    { label: 'Route', cell: (s) => route(s) || '—' },
    { label: 'References', cell: (s) => referenceList(s.references) },
    { label: 'Parties', cell: (s) => partyChips(s.parties, names) },
  ], found));
}

// registered shows what the registry holds of a shipment; names are the
// partners' names by id.
function registered(ctx, s, names) {
  return h('div', { class: 'grid-2', id: 'shipment-registered' },
    card('Shipment', kv([
      ['Mode', s.mode || '—'],
      ['Origin', s.origin ? h('span', { class: 'mono' }, s.origin) : '—'],
      ['Destination', s.destination ? h('span', { class: 'mono' }, s.destination) : '—'],
      ['Carrier', s.carrier ? h('span', { class: 'mono' }, s.carrier) : '—'],
      ['Registered', when(s.created_at)],
      ['Updated', when(s.updated_at)],
    ])),
    h('div', null,
      card('References', h('div', { id: 'shipment-references' }, referenceList(s.references, { search: true }))),
      card('Parties', h('div', { id: 'shipment-parties' }, table([
        { label: 'Partner', cell: (p) => partnerLabel({ partner_id: p.partner_id, partner_name: names[p.partner_id] }, ctx.admin) },
        { label: 'Role', cell: (p) => p.role },
      ], s.parties || [], emptyState('No parties', 'No partner is named on this shipment.'))))));
}

// timeline is one shipment: what the registry holds of it, then its
// events in the order they happened. A partner sees a shipment it is
// party to, or has events of; "not found" otherwise.
export async function timeline(ctx) {
  const { sid } = ctx.params;
  ctx.title(`Shipment ${sid}`);
  ctx.main.append(pageHeader({ crumbs: [link('/shipments', 'Shipments')], title: `Shipment ${sid}` }));
  const holder = h('div', null, loading());
  ctx.main.append(holder);
  let ship;
  let tl;
  try {
    [ship, tl] = await Promise.all([
      orNull(get(path`/shipments/${sid}`, undefined, { signal: ctx.signal })),
      orNull(get(path`/shipments/${sid}/timeline`, undefined, { signal: ctx.signal })),
    ]);
  } catch (err) {
    if (err.name === 'AbortError') return;
    holder.replaceChildren(errorState(err, 'Could not load the shipment'));
    return;
  }
  if (!ship && !tl) {
    holder.replaceChildren(h('div', { id: 'shipment-not-found' }, emptyState(`Shipment ${sid} not found`,
      ctx.admin ? 'It is not registered, and no source system has sent an event for it.' : 'No shipment with this ID is shared with you.')));
    return;
  }
  const events = [...(tl?.events || [])].sort((a, b) => new Date(a.occurred_at) - new Date(b.occurred_at));
  holder.replaceChildren(
    ship ? registered(ctx, ship, tl?.partner_names || {}) : notice(h('span', { id: 'shipment-unregistered' }, `Shipment ${sid} is not registered: its events are shown as the sources sent them.`), 'warn'),
    h('h2', null, 'Timeline'),
    events.length
      ? h('ol', { class: 'timeline', id: 'timeline' }, events.map((ev) => h('li', null, eventCard(ctx, ev, tl.partner_names || {}))))
      : emptyState(`No events for shipment ${sid}`, ctx.admin ? 'No source system has sent an event for this shipment yet.' : 'No event of this shipment was shared with you yet.'));
}

// eventCard is one event of the timeline with its deliveries; names are
// the partners' names by id.
function eventCard(ctx, ev, names) {
  const s = ev.shipment || {};
  const route = [s.origin, s.destination].filter(Boolean).join(' → ');
  const facts = [s.mode, route, s.carrier && `carrier ${s.carrier}`].filter(Boolean).join(' · ');
  return h('article', { class: 'card' },
    h('div', { class: 'event-head' },
      h('span', { class: 'event-type' }, ev.type),
      when(ev.occurred_at)),
    h('div', { class: 'event-meta' }, facts || null, facts ? ' · ' : null, 'event ', ctx.admin ? idLink(`/events/${enc(ev.id)}`, ev.id) : h('code', null, ev.id)),
    ev.parties?.length ? h('div', { class: 'chips' }, 'Parties: ', partyChips(ev.parties, names)) : null,
    h('h3', null, 'Deliveries'),
    table([
      { label: 'Endpoint', cell: (d) => endpointLabel(d), class: 'label endpoint' },
      ctx.admin ? { label: 'Partner', cell: (d) => partnerLabel(d), class: 'partner' } : null,
      { label: 'Status', cell: (d) => statusBadge(d.status) },
      { label: 'Attempts', cell: (d) => String(d.attempts ?? 0), class: 'num' },
      { label: 'Last result', cell: (d) => failure(d.last_status_code, d.last_error_class, d.last_error) },
      { label: 'Message', cell: (d) => idLink(`/messages/${enc(d.message_id)}`, d.message_id), class: 'nowrap' },
    ].filter(Boolean), ev.deliveries || [], emptyState('Not delivered to any endpoint', 'No endpoint subscribed to this event.')),
    ev.data ? h('details', null, h('summary', null, 'Event data'), code(ev.data)) : null);
}
