// Partners: the list (admins) and one partner's endpoints with their health.

import { get, post, path } from '../api.js';
import {
  h, link, when, badge, breakerBadge, endpointState, percent, pageHeader, pagedTable, emptyState,
  errorState, field, select, showFieldError, card, loading, buttonLink, endpointName, age, formatTime,
} from '../dom.js';

const accessWords = {
  party: 'Shipments it is a party to',
  all: 'Every shipment',
};

// list is the partners page (admins): every partner with how its
// deliveries stand, and a form to add one.
export async function list(ctx) {
  ctx.title('Partners');
  ctx.main.append(
    pageHeader({ title: 'Partners', subtitle: 'The organisations that receive shipment webhooks, and how their deliveries stand.' }),
    createForm(ctx),
    pagedTable({
      noun: 'partners',
      load: (cursor) => get('/partners', { cursor, limit: 50, include: 'health' }, { signal: ctx.signal }),
      empty: emptyState('No partners yet', 'Add the first partner with the form above.'),
      columns: [
        { label: 'Partner', cell: (p) => [link(`/partners/${encodeURIComponent(p.id)}`, p.name || p.id), h('span', { class: 'sub mono' }, p.id)] },
        { label: 'Receives', cell: (p) => badge(accessWords[p.access] || p.access, p.access === 'all' ? 'info' : '') },
        { label: 'Endpoints', cell: (p) => endpointsHealth(p.health), class: 'health-endpoints' },
        { label: 'Breakers', cell: (p) => breakersHealth(p.health), class: 'health-breakers' },
        { label: 'Oldest pending', cell: (p) => pendingHealth(p.health), class: 'health-pending nowrap' },
        { label: 'Created', cell: (p) => when(p.created_at), class: 'nowrap' },
        { label: '', cell: (p) => h('span', { class: 'actions' }, link(`/partners/${encodeURIComponent(p.id)}/messages`, 'Messages')) },
      ],
    }));
}

// endpointsHealth shows how many endpoints a partner has, and how many
// of them fail or are disabled.
function endpointsHealth(hl) {
  if (!hl) return h('span', { class: 'muted' }, '—');
  const chips = [];
  if (hl.endpoints_failing) chips.push(badge(`${hl.endpoints_failing} failing`, 'bad'));
  if (hl.endpoints_disabled) chips.push(badge(`${hl.endpoints_disabled} disabled`, 'warn'));
  if (hl.endpoints && !chips.length) chips.push(badge('all healthy', 'ok'));
  return h('span', { class: 'chips' }, String(hl.endpoints), chips);
}

function breakersHealth(hl) {
  if (!hl) return h('span', { class: 'muted' }, '—');
  return hl.breakers_open ? badge(`${hl.breakers_open} open`, 'bad') : h('span', { class: 'muted' }, 'all closed');
}

// pendingHealth shows how long the partner's oldest message not yet
// delivered has waited, when it was made as the tooltip.
function pendingHealth(hl) {
  if (!hl || hl.oldest_pending_age_seconds === null || hl.oldest_pending_age_seconds === undefined) return h('span', { class: 'muted' }, 'none');
  const s = hl.oldest_pending_age_seconds;
  return h('span', { title: `created ${formatTime(hl.oldest_pending_at)}` }, badge(age(s), s > 3600 ? 'bad' : s > 300 ? 'warn' : ''));
}

function createForm(ctx) {
  const out = h('div');
  const form = h('form', {
    class: 'form-narrow',
    onsubmit: async (e) => {
      e.preventDefault();
      const fd = new FormData(form);
      const body = { name: fd.get('name').trim(), access: fd.get('access') };
      const id = fd.get('id').trim();
      if (id) body.id = id;
      out.replaceChildren();
      try {
        const p = await post('/partners', body);
        ctx.navigate(`/partners/${encodeURIComponent(p.id)}`, { notice: { text: `Partner ${p.id} created.` } });
      } catch (err) {
        showFieldError(form, err);
        out.append(errorState(err, 'The partner was not created'));
      }
    },
  },
  h('div', { class: 'row' },
    field('Name', h('input', { type: 'text', name: 'name', required: true, placeholder: 'Acme Imports' })),
    field('ID', h('input', { type: 'text', name: 'id', placeholder: 'acme', pattern: '[a-z0-9_-]{1,64}' }), 'Up to 64 of a–z, 0–9, _ and -. A random id is made when left empty.'),
    field('Receives', select('access', [['party', accessWords.party], ['all', accessWords.all]], 'party'))),
  h('button', { type: 'submit', class: 'primary' }, 'Create partner'),
  out);
  return h('details', { class: 'card' }, h('summary', null, 'New partner'), form);
}

// show is one partner's page: its endpoints with their state and health.
export async function show(ctx) {
  const pid = ctx.params.pid;
  ctx.title(`Partner ${pid}`);
  const head = h('div', null, loading());
  ctx.main.append(head);
  let partner;
  try {
    partner = await get(path`/partners/${pid}`, undefined, { signal: ctx.signal });
  } catch (err) {
    head.replaceChildren(errorState(err, `Could not load partner ${pid}`));
    return;
  }
  const base = `/partners/${encodeURIComponent(pid)}`;
  ctx.title(`Partner ${partner.name || partner.id}`);
  head.replaceChildren(pageHeader({
    crumbs: ctx.admin ? [link('/partners', 'Partners'), h('span', { title: partner.id }, partner.name || partner.id)] : [],
    title: ctx.admin ? partner.name || partner.id : 'Endpoints',
    badges: ctx.admin ? [badge(accessWords[partner.access] || partner.access, partner.access === 'all' ? 'info' : '')] : [],
    subtitle: ctx.admin ? h('span', null, 'Partner ', h('code', null, partner.id)) : `Where ${partner.name || partner.id} receives shipment webhooks.`,
    actions: [
      link(`${base}/messages`, 'Messages'),
      link(`${base}/attempts`, 'Attempts'),
      buttonLink(`${base}/endpoints/new`, 'New endpoint', 'primary'),
    ],
  }));

  ctx.main.append(card('Endpoints', pagedTable({
    noun: 'endpoints',
    load: (cursor) => get(path`/partners/${pid}/endpoints`, { cursor, limit: 50 }, { signal: ctx.signal }),
    empty: emptyState('No endpoints yet', 'An endpoint is a URL that receives signed webhooks for the event types it subscribes to.',
      buttonLink(`${base}/endpoints/new`, 'Create an endpoint', 'primary')),
    columns: [
      {
        label: 'Endpoint',
        class: 'url',
        cell: (ep) => [link(`${base}/endpoints/${encodeURIComponent(ep.id)}`, endpointName(ep)), ep.description ? h('span', { class: 'sub' }, ep.description) : null],
      },
      { label: 'State', cell: (ep) => endpointState(ep) },
      { label: 'Breaker', cell: (ep) => breakerBadge(ep.breaker) },
      { label: 'Success, last hour', class: 'num', cell: (ep) => healthCell(ctx, pid, ep, 'hour') },
      { label: 'Success, last day', class: 'num', cell: (ep) => healthCell(ctx, pid, ep, 'day') },
      { label: 'Failing since', cell: (ep) => when(ep.failing_since), class: 'nowrap' },
    ],
  })));
}

// healthCell fills in, once it arrives, one success rate of an endpoint.
// Both cells of a row share one request.
function healthCell(ctx, pid, ep, span) {
  const cell = h('span', { class: 'muted' }, '…');
  ep.health ??= get(path`/partners/${pid}/endpoints/${ep.id}/health`, undefined, { signal: ctx.signal });
  ep.health.then((hl) => {
    const rate = span === 'hour' ? hl.success_rate_last_hour : hl.success_rate_last_day;
    const n = span === 'hour' ? hl.attempts_last_hour : hl.attempts_last_day;
    cell.className = '';
    cell.replaceChildren(rate === null || rate === undefined
      ? h('span', { class: 'muted', title: 'No attempts' }, '—')
      : h('span', { title: `${n} attempts` }, badge(percent(rate), rate >= 0.99 ? 'ok' : rate >= 0.9 ? 'warn' : 'bad')));
  }, (err) => {
    if (err.name === 'AbortError') return;
    cell.replaceChildren(h('span', { class: 'muted', title: `${err.code}: ${err.message}` }, 'unavailable'));
  });
  return cell;
}
