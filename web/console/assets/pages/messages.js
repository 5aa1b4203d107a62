// Messages: the message log with its filters, one message with its
// attempts, and dead letters (messages that failed for good).

import { get, post, path, eventTypes, partnerName } from '../api.js';
import {
  h, link, idLink, when, duration, statusBadge, result, triggerBadge, pageHeader, pagedTable, table, emptyState,
  errorState, notice, kv, card, loading, select, field, toLocalInput, sleep, buttonLink, filterForm, endpointName,
  endpointLabel, partnerLabel, failure, endpointText,
} from '../dom.js';

const enc = encodeURIComponent;

export const statuses = ['pending', 'held', 'waiting', 'delivering', 'succeeded', 'failed', 'disabled', 'discarded'];
export const errorClasses = ['dns', 'connect', 'tls', 'timeout', 'http_status', 'redirect', 'ssrf_blocked'];

// messageColumns are the columns of every list of messages; withPartner
// adds the partner. The endpoint and partner show by name, the last
// result with the error of a failed attempt.
export function messageColumns(withPartner) {
  return [
    { label: 'Message', cell: (m) => idLink(`/messages/${enc(m.id)}`, m.id), class: 'nowrap' },
    { label: 'Status', cell: (m) => statusBadge(m.status) },
    { label: 'Event type', cell: (m) => h('span', { class: 'mono' }, m.event_type) },
    { label: 'Shipment', cell: (m) => (m.shipment_id ? link(`/shipments/${enc(m.shipment_id)}`, m.shipment_id) : '—'), class: 'nowrap' },
    { label: 'Endpoint', cell: (m) => endpointLabel(m), class: 'label endpoint' },
    withPartner ? { label: 'Partner', cell: (m) => partnerLabel(m), class: 'partner' } : null,
    { label: 'Attempts', cell: (m) => String(m.attempts ?? 0), class: 'num' },
    { label: 'Last result', cell: (m) => failure(m.last_status_code, m.last_error_class, m.last_error), class: 'last-result' },
    { label: 'Created', cell: (m) => when(m.created_at), class: 'nowrap' },
  ].filter(Boolean);
}

// allLog is the message log of every partner (admins).
export function allLog(ctx) {
  return messageLog(ctx, null);
}

// partnerLog is the message log of the partner in the path.
export function partnerLog(ctx) {
  return messageLog(ctx, ctx.params.pid);
}

// The filters of the message log, as query parameters of both the page and
// the API.
const filterNames = ['partner_id', 'endpoint_id', 'shipment_id', 'event_type', 'status', 'error_class', 'since', 'until'];

async function messageLog(ctx, pid) {
  ctx.title('Messages');
  const q = Object.fromEntries(filterNames.map((n) => [n, ctx.query.get(n) || '']));
  if (pid) q.partner_id = '';
  const name = pid ? await partnerName(pid, ctx.signal) : '';
  const here = pid ? `/partners/${enc(pid)}/messages` : '/messages';
  ctx.main.append(pageHeader({
    crumbs: pid && ctx.admin ? [link('/partners', 'Partners'), link(`/partners/${enc(pid)}`, h('span', { title: pid }, name)), 'Messages'] : [],
    title: 'Messages',
    subtitle: pid ? `Every delivery to the endpoints of ${name}, newest first.` : 'Every delivery to every partner, newest first.',
  }));
  const filters = h('div', { class: 'card' }, loading('Loading filters…'));
  ctx.main.append(filters);
  filters.replaceChildren(await messageFilters(ctx, pid, here, q));

  const active = Object.values(q).some(Boolean);
  ctx.main.append(pagedTable({
    noun: 'messages',
    columns: messageColumns(!pid),
    load: (cursor) => get(pid ? path`/partners/${pid}/messages` : '/messages', { ...q, cursor, limit: 50 }, { signal: ctx.signal }),
    empty: active
      ? emptyState('No messages match these filters', 'Widen the time range or clear some filters.', buttonLink(here, 'Clear filters'))
      : emptyState('No messages yet', 'A message is made for each event that matches an endpoint.'),
  }));
}

// messageFilters is the message log's filter form, its choices of event
// types, partners and endpoints loaded.
async function messageFilters(ctx, pid, here, q) {
  const [types, partners, endpoints] = await Promise.all([
    eventTypes().catch(() => []),
    pid ? null : get('/partners', { limit: 250 }, { signal: ctx.signal }).then((r) => r.data, () => null),
    pid ? get(path`/partners/${pid}/endpoints`, { limit: 250 }, { signal: ctx.signal }).then((r) => r.data, () => null) : null,
  ]);
  const withCurrent = (opts, value) => (value && !opts.some(([v]) => v === value) ? [...opts, [value, value]] : opts);

  const controls = [];
  if (!pid) {
    controls.push(field('Partner', partners
      ? select('partner_id', withCurrent([['', 'All partners'], ...partners.map((p) => [p.id, p.name ? `${p.name} (${p.id})` : p.id])], q.partner_id), q.partner_id)
      : h('input', { type: 'text', name: 'partner_id', value: q.partner_id })));
  }
  controls.push(field('Endpoint', endpoints
    ? select('endpoint_id', withCurrent([['', 'All endpoints'], ...endpoints.map((e) => [e.id, e.description ? `${e.description} — ${endpointName(e)}` : endpointName(e)])], q.endpoint_id), q.endpoint_id)
    : h('input', { type: 'text', name: 'endpoint_id', value: q.endpoint_id, placeholder: 'ep_…' })));
  controls.push(
    field('Shipment ID', h('input', { type: 'search', name: 'shipment_id', value: q.shipment_id, placeholder: 'SHP-0001' })),
    field('Event type', select('event_type', withCurrent([['', 'Any type'], ...types.map((t) => [t.name, t.name])], q.event_type), q.event_type)),
    field('Status', select('status', [['', 'Any status'], ...statuses.map((s) => [s, s])], q.status)),
    field('Error class', select('error_class', [['', 'Any error'], ...errorClasses.map((s) => [s, s])], q.error_class)),
    field('Created since', h('input', { type: 'datetime-local', name: 'since', value: toLocalInput(q.since) })),
    field('Created until', h('input', { type: 'datetime-local', name: 'until', value: toLocalInput(q.until) })),
  );
  return filterForm(ctx, here, filterNames, controls);
}

// show is one message with its attempts. While the message is pending,
// held or being delivered, the page refreshes every second.
export async function show(ctx) {
  const { mid } = ctx.params;
  ctx.title(`Message ${mid}`);
  const top = h('div', null, loading());
  const out = h('div');
  const details = h('div');
  const attempts = h('div');
  ctx.main.append(top, out, details, attempts);

  let m;
  const retry = h('button', {
    type: 'button',
    class: 'primary',
    id: 'retry',
    onclick: async () => {
      retry.disabled = true;
      out.replaceChildren();
      try {
        const r = await post(path`/messages/${mid}/retry`, {});
        out.replaceChildren(notice('Retry queued: one more attempt is being made now.'));
        if (r && r.id) draw({ ...m, ...r }, null);
        follow();
      } catch (err) {
        out.replaceChildren(errorState(err, 'The message was not retried'));
      } finally {
        retry.disabled = false;
      }
    },
  }, 'Retry');
  const discard = h('button', {
    type: 'button',
    id: 'discard',
    title: 'End the message without delivering it; at an ordered endpoint the next message of its shipment goes on.',
    onclick: async () => {
      discard.disabled = true;
      out.replaceChildren();
      try {
        const r = await post(path`/messages/${mid}/discard`, {});
        out.replaceChildren(notice('Discarded: the message will not be delivered.'));
        if (r && r.id) draw({ ...m, ...r }, null);
      } catch (err) {
        out.replaceChildren(errorState(err, 'The message was not discarded'));
      } finally {
        discard.disabled = false;
      }
    },
  }, 'Discard');

  const draw = (msg, list) => {
    m = msg;
    top.replaceChildren(pageHeader({
      crumbs: [link(ctx.admin ? '/messages' : `/partners/${enc(m.partner_id)}/messages`, 'Messages'), h('span', { class: 'mono' }, m.id)],
      title: 'Message',
      badges: [statusBadge(m.status, { id: 'message-status', big: true })],
      subtitle: h('span', null, h('span', { class: 'mono' }, m.event_type), m.shipment_id ? [' for shipment ', link(`/shipments/${enc(m.shipment_id)}`, m.shipment_id)] : null),
      actions: [retry, ['failed', 'pending', 'held', 'disabled'].includes(msg.status) ? discard : null].filter(Boolean),
    }));
    details.replaceChildren(card('Details', kv([
      ['ID', h('code', null, m.id)],
      ['Status', statusBadge(m.status)],
      ['Event', h('span', null, h('span', { class: 'mono' }, m.event_type), ' ', h('code', { class: 'muted' }, m.event_id))],
      ['Shipment', m.shipment_id ? link(`/shipments/${enc(m.shipment_id)}`, m.shipment_id) : '—'],
      ['Endpoint', h('span', { id: 'message-endpoint' }, endpointLabel(m), ' ', h('code', { class: 'muted' }, m.endpoint_id))],
      ['Partner', h('span', { id: 'message-partner' }, partnerLabel(m, ctx.admin), ' ', h('code', { class: 'muted' }, m.partner_id))],
      m.sequence ? ['Sequence', h('span', { id: 'message-sequence' }, `${m.sequence} of its shipment at this endpoint`)] : null,
      ['Attempts', String(m.attempts ?? 0)],
      ['Last result', h('span', { id: 'message-last-result' }, failure(m.last_status_code, m.last_error_class, m.last_error))],
      ['Next attempt', nextAttempt(m)],
      ['Created', when(m.created_at)],
      ['Updated', when(m.updated_at)],
    ])));
    if (list) {
      attempts.replaceChildren(card('Attempts', table([
        { label: '#', cell: (a) => link(`/attempts/${enc(a.id)}`, `Attempt ${a.number}`), class: 'nowrap' },
        { label: 'Trigger', cell: (a) => triggerBadge(a.trigger) },
        { label: 'Started', cell: (a) => when(a.started_at), class: 'nowrap' },
        { label: 'Duration', cell: (a) => duration(a.duration_ms), class: 'num' },
        { label: 'Result', cell: (a) => result(a.status_code, a.error_class) },
        { label: 'Error', cell: (a) => (a.error ? h('span', { class: 'mono' }, a.error) : h('span', { class: 'muted' }, '—')), class: 'url' },
      ], list, emptyState('No attempts yet', m.next_attempt_at ? 'The first attempt is scheduled.' : null))));
    }
  };

  const load = async () => {
    const [msg, list] = await Promise.all([
      get(path`/messages/${mid}`, undefined, { signal: ctx.signal }),
      get(path`/messages/${mid}/attempts`, { limit: 250 }, { signal: ctx.signal }),
    ]);
    draw(msg, list.data);
  };

  let following = false;
  const follow = async () => {
    if (following) return;
    following = true;
    try {
      do {
        await sleep(1000, ctx.signal);
        await load();
      } while (['pending', 'held', 'delivering'].includes(m.status));
    } catch (err) {
      if (err.name !== 'AbortError') out.replaceChildren(errorState(err, 'Could not refresh the message'));
    } finally {
      following = false;
    }
  };

  try {
    await load();
  } catch (err) {
    if (err.name === 'AbortError') return;
    top.replaceChildren(errorState(err, `Could not load message ${mid}`));
    return;
  }
  if (['pending', 'held', 'delivering'].includes(m.status)) follow();
}

// nextAttempt says when message m is attempted next.
function nextAttempt(m) {
  if (m.status === 'held') return h('span', { class: 'muted' }, 'when the circuit breaker of its endpoint closes');
  if (m.status === 'waiting') return h('span', { class: 'muted' }, 'once the earlier message of its shipment to this endpoint has ended');
  return when(m.next_attempt_at);
}

// endpointDeadLetters lists an endpoint's failed messages.
export async function endpointDeadLetters(ctx) {
  const { pid, eid } = ctx.params;
  ctx.title('Dead letters');
  const ep = `/partners/${enc(pid)}/endpoints/${enc(eid)}`;
  // The crumbs name the partner and the endpoint; an id stays where they
  // cannot be read.
  const [name, endpoint] = await Promise.all([
    ctx.admin ? partnerName(pid, ctx.signal) : pid,
    get(path`/partners/${pid}/endpoints/${eid}`, undefined, { signal: ctx.signal }).catch((err) => {
      if (err.name === 'AbortError') throw err;
      return null;
    }),
  ]);
  ctx.main.append(
    pageHeader({
      crumbs: [
        ctx.admin ? link('/partners', 'Partners') : null,
        link(`/partners/${enc(pid)}`, ctx.admin ? h('span', { title: pid }, name) : 'Endpoints'),
        link(ep, endpoint ? h('span', { title: eid, id: 'crumb-endpoint' }, endpointText(endpoint)) : h('span', { class: 'mono', id: 'crumb-endpoint' }, eid)),
        'Dead letters',
      ].filter(Boolean),
      title: 'Dead letters',
      subtitle: 'Messages to this endpoint that failed after their last attempt. Retry one, or recover them all from the endpoint page.',
      actions: [buttonLink(ep, 'Recover from the endpoint page')],
    }),
    pagedTable({
      noun: 'failed messages',
      columns: messageColumns(false),
      load: (cursor) => get(path`/partners/${pid}/endpoints/${eid}/dead-letters`, { cursor, limit: 50 }, { signal: ctx.signal }),
      empty: emptyState('No failed deliveries for this endpoint', 'Every message to it was delivered or is still being tried.'),
    }));
}

// allDeadLetters lists every failed message, or one partner's (admins).
export async function allDeadLetters(ctx) {
  ctx.title('Dead letters');
  const pid = ctx.query.get('partner_id') || '';
  const partners = await get('/partners', { limit: 250 }, { signal: ctx.signal }).then((r) => r.data, () => []);
  const chooser = select('partner_id', [['', 'All partners'], ...partners.map((p) => [p.id, p.name ? `${p.name} (${p.id})` : p.id])], pid);
  chooser.addEventListener('change', () => ctx.navigate('/dead-letters' + (chooser.value ? `?partner_id=${enc(chooser.value)}` : '')));
  ctx.main.append(
    pageHeader({ title: 'Dead letters', subtitle: 'Messages that failed after their last attempt, newest first.' }),
    h('div', { class: 'card' }, h('div', { class: 'row' }, field('Partner', chooser))),
    pagedTable({
      noun: 'failed messages',
      columns: messageColumns(true),
      load: (cursor) => get('/dead-letters', { partner_id: pid, cursor, limit: 50 }, { signal: ctx.signal }),
      empty: emptyState(pid ? `No failed deliveries for ${partners.find((p) => p.id === pid)?.name || pid}` : 'No failed deliveries', 'Every message was delivered or is still being tried.'),
    }));
}
