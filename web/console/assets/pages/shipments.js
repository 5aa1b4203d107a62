// Shipments: look a shipment up, and see its events in order with where
// each was delivered.

import { get, path } from '../api.js';
import {
  h, link, idLink, when, statusBadge, result, pageHeader, table, emptyState, errorState, loading, field, code, badge,
} from '../dom.js';

const enc = encodeURIComponent;

function searchForm(ctx, value) {
  const input = h('input', { type: 'search', name: 'shipment_id', value: value || '', required: true, placeholder: 'SHP-0001' });
  const form = h('form', {
    class: 'row',
    role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      const id = input.value.trim();
      if (id) ctx.navigate(`/shipments/${enc(id)}`);
    },
  }, field('Shipment ID', input), h('div', { class: 'field shrink' }, h('button', { type: 'submit', class: 'primary' }, 'Show timeline')));
  return h('div', { class: 'card' }, form);
}

// search is the page that asks for a shipment id.
export async function search(ctx) {
  ctx.title('Shipments');
  ctx.main.append(
    pageHeader({ title: 'Shipments', subtitle: ctx.admin ? 'The events of a shipment, in order, with every delivery of each.' : 'The events of your shipments, in order, with your deliveries of each.' }),
    searchForm(ctx, ''),
    emptyState('Look up a shipment', 'Enter the shipment ID the source systems use, such as the one in a message.'));
}

// timeline is a shipment's events in the order they happened.
export async function timeline(ctx) {
  const { sid } = ctx.params;
  ctx.title(`Shipment ${sid}`);
  ctx.main.append(
    pageHeader({ crumbs: [link('/shipments', 'Shipments')], title: `Shipment ${sid}` }),
    searchForm(ctx, sid));
  const holder = h('div', null, loading());
  ctx.main.append(holder);
  let tl;
  try {
    tl = await get(path`/shipments/${sid}/timeline`, undefined, { signal: ctx.signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
    holder.replaceChildren(err.status === 404 && err.code === 'not_found'
      ? emptyState(`No events for shipment ${sid}`, ctx.admin ? 'No source system has sent an event for this shipment.' : 'No event of this shipment was shared with you.')
      : errorState(err, 'Could not load the timeline'));
    return;
  }
  const events = [...(tl.events || [])].sort((a, b) => new Date(a.occurred_at) - new Date(b.occurred_at));
  if (!events.length) {
    holder.replaceChildren(emptyState(`No events for shipment ${sid}`));
    return;
  }
  holder.replaceChildren(h('ol', { class: 'timeline', id: 'timeline' }, events.map((ev) => h('li', null, eventCard(ctx, ev)))));
}

function eventCard(ctx, ev) {
  const s = ev.shipment || {};
  const route = [s.origin, s.destination].filter(Boolean).join(' → ');
  const facts = [s.mode, route, s.carrier && `carrier ${s.carrier}`].filter(Boolean).join(' · ');
  return h('article', { class: 'card' },
    h('div', { class: 'event-head' },
      h('span', { class: 'event-type' }, ev.type),
      when(ev.occurred_at)),
    h('div', { class: 'event-meta' }, facts || null, facts ? ' · ' : null, 'event ', h('code', null, ev.id)),
    ev.parties?.length
      ? h('div', { class: 'chips' }, 'Parties: ', ev.parties.map((p) => badge(`${p.partner_id} · ${p.role}`, 'info')))
      : null,
    h('h3', null, 'Deliveries'),
    table([
      { label: 'Endpoint', cell: (d) => idLink(`/partners/${enc(d.partner_id)}/endpoints/${enc(d.endpoint_id)}`, d.endpoint_id), class: 'nowrap' },
      ctx.admin ? { label: 'Partner', cell: (d) => link(`/partners/${enc(d.partner_id)}`, d.partner_id) } : null,
      { label: 'Status', cell: (d) => statusBadge(d.status) },
      { label: 'Attempts', cell: (d) => String(d.attempts ?? 0), class: 'num' },
      { label: 'Last result', cell: (d) => result(d.last_status_code, d.last_error_class) },
      { label: 'Message', cell: (d) => idLink(`/messages/${enc(d.message_id)}`, d.message_id), class: 'nowrap' },
    ].filter(Boolean), ev.deliveries || [], emptyState('Not delivered to any endpoint', 'No endpoint subscribed to this event.')),
    ev.data ? h('details', null, h('summary', null, 'Event data'), code(ev.data)) : null);
}
