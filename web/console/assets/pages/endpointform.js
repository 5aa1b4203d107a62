// The endpoint form, which creates or edits an endpoint, and its pages;
// the names of the endpoint's settings that the endpoint page shows too.

import { get, post, patch, path, eventTypes, partnerName } from '../api.js';
import {
  h, link, pageHeader, errorState, field, select, showFieldError, endpointName, endpointText,
} from '../dom.js';
import { pullEndpointBody } from './feed.js';

const enc = encodeURIComponent;

// filterKeys are the shipment fields an endpoint filter may test.
const filterKeys = ['shipment.mode', 'shipment.origin', 'shipment.destination', 'shipment.carrier', 'role'];

// schemes names each signature scheme for people.
export const schemes = {
  v1: 'v1 — HMAC-SHA256, a secret shared with the receivers',
  v1a: 'v1a — ed25519, receivers verify with a public key',
};

// formats names each delivery format for people.
export const formats = {
  shiphook: 'shiphook — the event as shiphook shapes it',
  'dcsa-tnt-2.2': 'DCSA Track & Trace 2.2 — the DCSA event, for a DCSA client',
};

// traceContextHint says what the trace_context option does.
export const traceContextHint = "Each delivery carries a W3C traceparent header naming its attempt's span, so that the receiver's traces join the event's (while shiphook's tracing is on).";

// crumbs leads from the partners (an admin's, the partner by its name) or
// a partner's endpoints to an endpoint's pages.
export function crumbs(ctx, pid, name) {
  return ctx.admin
    ? [link('/partners', 'Partners'), link(`/partners/${enc(pid)}`, h('span', { title: pid }, name || pid))]
    : [link(`/partners/${enc(pid)}`, 'Endpoints')];
}
// create is the page with the form for a new endpoint.
export async function create(ctx) {
  const { pid } = ctx.params;
  ctx.title('New endpoint');
  const name = await partnerName(pid, ctx.signal);
  ctx.main.append(pageHeader({ crumbs: crumbs(ctx, pid, name), title: 'New endpoint', subtitle: `For partner ${name}` }));
  ctx.main.append(await endpointForm(ctx, pid, null));
}

// edit is the page with the form for an existing endpoint.
export async function edit(ctx) {
  const { pid, eid } = ctx.params;
  ctx.title('Edit endpoint');
  let ep;
  let name;
  try {
    [ep, name] = await Promise.all([
      get(path`/partners/${pid}/endpoints/${eid}`, undefined, { signal: ctx.signal }),
      ctx.admin ? partnerName(pid, ctx.signal) : pid,
    ]);
  } catch (err) {
    if (err.name === 'AbortError') return;
    ctx.main.append(errorState(err, `Could not load endpoint ${eid}`));
    return;
  }
  ctx.main.append(pageHeader({
    crumbs: [...crumbs(ctx, pid, name), link(`/partners/${enc(pid)}/endpoints/${enc(eid)}`, h('span', { title: ep.id }, endpointText(ep)))],
    title: 'Edit endpoint',
    subtitle: ep.kind === 'pull' ? endpointName(ep) : h('code', null, ep.url),
  }));
  ctx.main.append(await endpointForm(ctx, pid, ep));
}

// endpointForm is the form that creates an endpoint of partner pid, or,
// given ep, edits it.
async function endpointForm(ctx, pid, ep) {
  let types = [];
  let typesError = null;
  try {
    types = await eventTypes();
  } catch (err) {
    typesError = err;
  }
  const out = h('div');
  const urlInput = h('input', { type: 'url', name: 'url', required: true, value: ep?.url || '', placeholder: 'https://partner.example.com/webhooks/shiphook' });
  // The kind is chosen when the endpoint is made, and kept.
  const kinds = [['webhook', 'Webhook: shiphook POSTs each message to a URL'], ['pull', 'Pull: the partner reads a feed, GET …/feed']];
  const kindField = ep
    ? h('input', { type: 'hidden', name: 'kind', value: ep.kind || 'webhook' })
    : field('Kind', select('kind', kinds, 'webhook'), 'A pull endpoint has no URL: its partner reads its messages, and reading acknowledges them. The kind cannot change later.');

  const form = h('form', {
    class: 'card form-narrow',
    onsubmit: (e) => {
      e.preventDefault();
      save(ctx, pid, ep, form, out);
    },
  },
  kindField,
  h('div', { class: 'webhook-only' },
    field('URL', urlInput, 'Where shiphook POSTs the webhooks. Redirects are not followed.')),
  field('Description', h('input', { type: 'text', name: 'description', value: ep?.description || '', maxlength: 1000 })),
  ep ? null : h('div', { class: 'webhook-only' }, field('Signature scheme', select('signature_scheme', Object.entries(schemes), 'v1'),
    'v1 signs with a secret the receivers share; v1a with a private key only shiphook holds, verified with its public key. A secret rotation can switch it later.')),
  h('div', { class: 'webhook-only' }, field('Format', select('format', Object.entries(formats), ep?.format || 'shiphook'),
    'DCSA Track & Trace 2.2 sends each event as the DCSA event a carrier would, signed with Notification-Signature too; it takes only the event types that have a DCSA form, and a v1 secret.')),
  eventTypesField(ep, types, typesError),
  h('fieldset', { class: 'field', dataset: { field: 'filter' } },
    h('legend', null, 'Filter'),
    h('div', { class: 'hint' }, 'Only shipments whose field equals one of the values (comma-separated). Empty fields test nothing.'),
    h('div', { class: 'row' }, filterKeys.map((k) => field(k, h('input', { type: 'text', name: `filter.${k}`, value: [ep?.filter?.[k] ?? []].flat().join(', ') })))),
    h('div', { class: 'field-error', hidden: true })),
  deliveryFields(ep),
  h('div', { class: 'field inline' },
    h('input', { type: 'checkbox', name: 'disabled', id: 'f-disabled', checked: !!ep?.disabled }),
    h('label', { for: 'f-disabled' }, 'Disabled (messages are kept, not sent)')),
  h('div', { class: 'actions' },
    h('button', { type: 'submit', class: 'primary' }, ep ? 'Save endpoint' : 'Create endpoint'),
    ep ? link(`/partners/${enc(pid)}/endpoints/${enc(ep.id)}`, 'Cancel') : link(`/partners/${enc(pid)}`, 'Cancel')),
  out);
  // The parts of a webhook endpoint are hidden, and not sent, for a pull
  // endpoint.
  const showKind = () => {
    const pull = form.querySelector('[name="kind"]').value === 'pull';
    for (const el of form.querySelectorAll('.webhook-only')) el.hidden = pull;
    urlInput.required = !pull;
  };
  form.addEventListener('change', (e) => { if (e.target.name === 'kind') showKind(); });
  showKind();
  return form;
}

// save sends the endpoint form: it creates the endpoint, or changes ep,
// and goes to its page; what went wrong shows in out.
async function save(ctx, pid, ep, form, out) {
  out.replaceChildren();
  showFieldError(form, null);
  let body;
  try {
    body = readForm(form);
  } catch (err) {
    showFieldError(form, err);
    out.append(errorState(err, 'Check the form'));
    return;
  }
  try {
    if (ep) {
      await patch(path`/partners/${pid}/endpoints/${ep.id}`, body);
      ctx.navigate(`/partners/${enc(pid)}/endpoints/${enc(ep.id)}`, { notice: { text: 'Endpoint saved.' } });
    } else {
      const made = await post(path`/partners/${pid}/endpoints`, body);
      ctx.navigate(`/partners/${enc(pid)}/endpoints/${enc(made.id)}`, {
        notice: { text: createdNotice(pid, made) },
      });
    }
  } catch (err) {
    showFieldError(form, err);
    out.append(errorState(err, ep ? 'The endpoint was not saved' : 'The endpoint was not created'));
  }
}

// eventTypesField chooses the event types of the catalog (types) ep has,
// and the other types or patterns it names.
function eventTypesField(ep, types, typesError) {
  const names = new Set(types.map((t) => t.name));
  const chosen = new Set(ep?.event_types || []);
  const others = [...chosen].filter((t) => !names.has(t));
  return h('fieldset', { class: 'field', dataset: { field: 'event_types' } },
    h('legend', null, 'Event types'),
    typesError ? errorState(typesError, 'Could not load the event catalog') : null,
    h('div', { class: 'checks' }, types.map((t) => h('label', { title: t.description },
      h('input', { type: 'checkbox', name: 'event_type', value: t.name, checked: chosen.has(t.name) }), t.name))),
    field('Other types or patterns', h('input', { type: 'text', name: 'event_patterns', value: others.join(', '), placeholder: 'shipment.milestone.*' }),
      'Comma-separated. With nothing chosen, the endpoint gets every type.'),
    h('div', { class: 'field-error', hidden: true }));
}

// deliveryFields are how ep's messages are delivered: a webhook's headers,
// limits and trace context, and the order of any endpoint's messages.
function deliveryFields(ep) {
  const num = (name, max, value) => h('input', { type: 'number', name, min: 0, max, value: value || '', placeholder: 'default' });
  return [
    h('div', { class: 'webhook-only' },
      field('Custom headers', h('textarea', { name: 'headers', rows: 3, placeholder: 'X-Partner-Account: 1234' },
        Object.entries(ep?.headers || {}).map(([k, v]) => `${k}: ${v}`).join('\n')), 'One "Name: value" a line, sent with every delivery. Saved values are shown masked (••••••); leave one as shown to keep it.'),
      h('div', { class: 'row' },
        field('Timeout (seconds)', num('timeout_seconds', 60, ep?.timeout_seconds), '1–60'),
        field('Max. concurrency', num('max_concurrency', 1000, ep?.max_concurrency), 'Deliveries in flight at once'),
        field('Rate limit', num('rate_limit', 100000, ep?.rate_limit), 'Deliveries started per second'))),
    h('div', { class: 'row' },
      field('Ordering', select('ordering', [['none', 'None'], ['shipment', 'By shipment']], ep?.ordering || 'none'),
        'By shipment: one shipment\'s messages go one at a time, in the order their events were accepted, each with its sequence.'),
      field('On failure', select('on_failure', [['skip', 'Skip: the next goes on'], ['block', 'Block: the shipment waits']], ep?.on_failure || 'skip'),
        'At an ordered endpoint, what a failed message does to those after it. Blocked, it waits until retried or discarded.')),
    h('div', { class: 'webhook-only' }, h('div', { class: 'field inline', dataset: { field: 'trace_context' } },
      h('input', { type: 'checkbox', name: 'trace_context', id: 'f-trace-context', checked: !!ep?.trace_context }),
      h('label', { for: 'f-trace-context' }, 'Trace context'),
      h('div', { class: 'hint' }, traceContextHint),
      h('div', { class: 'field-error', hidden: true }))),
  ];
}

// createdNotice says what to do with an endpoint just made: read a pull
// endpoint's feed, or verify a webhook endpoint's signatures with the
// secret or public key it shows once here.
function createdNotice(pid, made) {
  if (made.kind === 'pull') {
    return h('span', null, 'Pull endpoint created. Its partner reads its messages with GET ',
      h('code', null, `/v1/partners/${pid}/endpoints/${made.id}/feed`), '; reading with a cursor acknowledges them.');
  }
  if (made.signature_scheme === 'v1a') {
    return h('span', null, 'Endpoint created. Its public key is ', h('code', null, made.public_key),
      '. Receivers use it to verify signatures (v1a, ed25519); only shiphook holds the private key. It can be shown again on this page.');
  }
  return h('span', null, 'Endpoint created. Its signing secret is ', h('code', null, made.secret),
    '. Receivers use it to verify signatures; it can be revealed again on this page.');
}

// readForm returns the API body of the endpoint form; it throws a
// field error for a header line it cannot read.
function readForm(form) {
  const fd = new FormData(form);
  const list = (s) => String(s || '').split(',').map((x) => x.trim()).filter(Boolean);
  if (fd.get('kind') === 'pull') return pullEndpointBody(fd, list, filterKeys);
  const body = {
    kind: 'webhook',
    url: fd.get('url').trim(),
    description: fd.get('description').trim(),
    event_types: [...fd.getAll('event_type'), ...list(fd.get('event_patterns'))],
    filter: {},
    headers: {},
    disabled: fd.get('disabled') === 'on',
    format: fd.get('format'),
    trace_context: fd.get('trace_context') === 'on',
  };
  if (fd.has('signature_scheme')) body.signature_scheme = fd.get('signature_scheme');
  for (const k of filterKeys) {
    const vs = list(fd.get(`filter.${k}`));
    if (vs.length) body.filter[k] = vs;
  }
  for (const line of String(fd.get('headers') || '').split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf(':');
    if (i <= 0) throw { field: 'headers', message: `"${line.trim()}" is not a "Name: value" line.` };
    body.headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  for (const k of ['timeout_seconds', 'max_concurrency', 'rate_limit']) body[k] = Number(fd.get(k) || 0);
  for (const k of ['ordering', 'on_failure']) body[k] = fd.get(k);
  return body;
}
