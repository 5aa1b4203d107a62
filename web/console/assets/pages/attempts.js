// Attempts: the attempt log with its filters, and one attempt with the
// request that was sent and the response that came back.

import { get, path, partnerName } from '../api.js';
import {
  h, link, idLink, when, duration, result, triggerBadge, badge, pageHeader, pagedTable, emptyState, errorState,
  kv, card, loading, select, field, code, headersTable, toLocalInput, buttonLink, filterForm, endpointName,
  endpointLabel, partnerLabel,
} from '../dom.js';
import { errorClasses } from './messages.js';

const enc = encodeURIComponent;

// allLog is the attempt log of every partner (admins).
export function allLog(ctx) {
  return attemptLog(ctx, null);
}

// partnerLog is the attempt log of the partner in the path.
export function partnerLog(ctx) {
  return attemptLog(ctx, ctx.params.pid);
}

const filterNames = ['partner_id', 'endpoint_id', 'message_id', 'error_class', 'failed', 'since', 'until'];

async function attemptLog(ctx, pid) {
  ctx.title('Attempts');
  const q = Object.fromEntries(filterNames.map((n) => [n, ctx.query.get(n) || '']));
  if (pid) q.partner_id = '';
  const name = pid ? await partnerName(pid, ctx.signal) : '';
  const here = pid ? `/partners/${enc(pid)}/attempts` : '/attempts';
  ctx.main.append(pageHeader({
    crumbs: pid && ctx.admin ? [link('/partners', 'Partners'), link(`/partners/${enc(pid)}`, h('span', { title: pid }, name)), 'Attempts'] : [],
    title: 'Attempts',
    subtitle: pid ? `Every HTTP request made to the endpoints of ${name}, newest first.` : 'Every HTTP request made to an endpoint, newest first.',
  }));

  const endpoints = pid
    ? await get(path`/partners/${pid}/endpoints`, { limit: 250 }, { signal: ctx.signal }).then((r) => r.data, () => null)
    : null;
  const controls = [];
  if (!pid) controls.push(field('Partner ID', h('input', { type: 'text', name: 'partner_id', value: q.partner_id })));
  controls.push(
    field('Endpoint', endpoints
      ? select('endpoint_id', [['', 'All endpoints'], ...endpoints.map((e) => [e.id, e.description ? `${e.description} — ${endpointName(e)}` : endpointName(e)])], q.endpoint_id)
      : h('input', { type: 'text', name: 'endpoint_id', value: q.endpoint_id, placeholder: 'ep_…' })),
    field('Message ID', h('input', { type: 'search', name: 'message_id', value: q.message_id, placeholder: 'msg_…' })),
    field('Error class', select('error_class', [['', 'Any error'], ...errorClasses.map((s) => [s, s])], q.error_class)),
    field('Started since', h('input', { type: 'datetime-local', name: 'since', value: toLocalInput(q.since) })),
    field('Started until', h('input', { type: 'datetime-local', name: 'until', value: toLocalInput(q.until) })),
    h('div', { class: 'field inline' },
      h('input', { type: 'checkbox', name: 'failed', id: 'f-failed', value: 'true', checked: q.failed === 'true' }),
      h('label', { for: 'f-failed' }, 'Failed attempts only')),
  );
  const form = filterForm(ctx, here, filterNames, controls);
  ctx.main.append(h('div', { class: 'card' }, form));

  const active = Object.values(q).some(Boolean);
  ctx.main.append(pagedTable({
    noun: 'attempts',
    load: (cursor) => get(pid ? path`/partners/${pid}/attempts` : '/attempts', { ...q, cursor, limit: 50 }, { signal: ctx.signal }),
    empty: active
      ? emptyState('No attempts match these filters', 'Widen the time range or clear some filters.', buttonLink(here, 'Clear filters'))
      : emptyState('No attempts yet', 'An attempt is recorded for every HTTP request made to an endpoint.'),
    columns: [
      { label: 'Attempt', cell: (a) => link(`/attempts/${enc(a.id)}`, `#${a.number}`), class: 'nowrap' },
      { label: 'Message', cell: (a) => idLink(`/messages/${enc(a.message_id)}`, a.message_id), class: 'nowrap' },
      { label: 'Endpoint', cell: (a) => endpointLabel(a), class: 'label endpoint' },
      pid ? null : { label: 'Partner', cell: (a) => partnerLabel(a), class: 'partner' },
      { label: 'Trigger', cell: (a) => triggerBadge(a.trigger) },
      { label: 'Result', cell: (a) => result(a.status_code, a.error_class) },
      { label: 'Duration', cell: (a) => duration(a.duration_ms), class: 'num' },
      { label: 'Started', cell: (a) => when(a.started_at), class: 'nowrap' },
    ].filter(Boolean),
  }));
}

// show is one attempt: what was sent, what came back.
export async function show(ctx) {
  const { aid } = ctx.params;
  ctx.title(`Attempt ${aid}`);
  const holder = h('div', null, loading());
  ctx.main.append(holder);
  let a;
  try {
    a = await get(path`/attempts/${aid}`, undefined, { signal: ctx.signal });
  } catch (err) {
    if (err.name !== 'AbortError') holder.replaceChildren(errorState(err, `Could not load attempt ${aid}`));
    return;
  }
  const req = a.request || {};
  const resp = a.response || {};
  const ok = a.status_code >= 200 && a.status_code < 300 && !a.error_class;
  const endpoint = h('span', { id: 'attempt-endpoint' }, endpointLabel(a), ' ', h('code', { class: 'muted' }, a.endpoint_id));

  holder.replaceChildren(
    pageHeader({
      crumbs: [link(`/messages/${enc(a.message_id)}`, h('span', { class: 'mono' }, a.message_id)), `Attempt ${a.number}`],
      title: `Attempt ${a.number}`,
      badges: [h('span', { id: 'attempt-result' }, ok ? badge('succeeded', 'ok big') : badge('failed', 'bad big')), triggerBadge(a.trigger)],
      subtitle: h('span', null, 'Of message ', link(`/messages/${enc(a.message_id)}`, a.message_id)),
      actions: [buttonLink(`/messages/${enc(a.message_id)}`, 'Back to the message')],
    }),
    card('Summary', kv([
      ['ID', h('code', null, a.id)],
      ['Message', link(`/messages/${enc(a.message_id)}`, a.message_id)],
      ['Endpoint', endpoint],
      ['Partner', h('span', { id: 'attempt-partner' }, partnerLabel(a, ctx.admin), ' ', h('code', { class: 'muted' }, a.partner_id))],
      ['Trigger', h('span', null, triggerBadge(a.trigger), a.trigger === 'manual' ? ' (a retry, resend or test asked for by hand)' : ' (the retry schedule)')],
      ['Started', when(a.started_at)],
      ['Duration', duration(a.duration_ms)],
      ['Status code', a.status_code ? h('span', { id: 'attempt-status-code' }, badge(String(a.status_code), ok ? 'ok' : 'bad')) : h('span', { class: 'muted' }, 'No response')],
      ['Error class', a.error_class ? h('span', { id: 'attempt-error-class' }, badge(a.error_class, 'bad')) : h('span', { class: 'muted' }, 'None')],
      a.error ? ['Error', h('code', null, a.error)] : null,
    ])),
    h('div', { class: 'grid-2' },
      card('Request',
        h('div', { class: 'request-line' }, h('span', { class: 'method' }, req.method || 'POST'), req.url || a.url),
        h('h3', null, 'Headers'), headersTable(req.headers),
        h('h3', null, 'Body'), req.body === undefined ? h('p', { class: 'muted' }, 'Not available.') : code(req.body)),
      card('Response',
        h('div', { class: 'request-line' }, resp.status_code || a.status_code
          ? h('span', null, 'HTTP ', result(resp.status_code || a.status_code, null))
          : h('span', { class: 'muted' }, `No response${a.error_class ? ` (${a.error_class})` : ''}`)),
        h('h3', null, 'Headers'), headersTable(resp.headers || a.response_headers),
        h('h3', null, 'Body excerpt'),
        code(resp.body ?? a.response_body ?? ''),
        h('p', { class: 'muted' }, 'Response bodies are kept up to 16 KiB; cookies are never kept.'))));
}
