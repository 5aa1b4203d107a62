// Endpoints: the endpoint page (health, secret, test events, recovery);
// the form that creates or edits one is in endpointform.js.

import { get, post, patch, del, path, eventTypes, partnerName } from '../api.js';
import {
  h, link, buttonLink, when, badge, breakerBadge, endpointState, percent, result, statusBadge,
  pageHeader, card, kv, loading, errorState, notice, field, select, showFieldError, toRFC3339, toLocalInput, sleep, fill,
  endpointName, endpointText,
} from '../dom.js';
import { feedCard, feedRows } from './feed.js';
import { crumbs, schemes, formats, traceContextHint } from './endpointform.js';

const enc = encodeURIComponent;

// show is the endpoint page.
export async function show(ctx) {
  const { pid, eid } = ctx.params;
  ctx.title('Endpoint');
  const holder = h('div', null, loading());
  ctx.main.append(holder);
  let ep;
  let name;
  try {
    [ep, name] = await Promise.all([
      get(path`/partners/${pid}/endpoints/${eid}`, undefined, { signal: ctx.signal }),
      ctx.admin ? partnerName(pid, ctx.signal) : pid,
    ]);
  } catch (err) {
    if (err.name === 'AbortError') return;
    holder.replaceChildren(errorState(err, `Could not load endpoint ${eid}`));
    return;
  }
  ctx.title(`Endpoint ${endpointName(ep)}`);
  const here = `/partners/${enc(pid)}/endpoints/${enc(eid)}`;
  const actionOut = h('div');

  const toggle = h('button', {
    type: 'button',
    onclick: async () => {
      toggle.disabled = true;
      try {
        await patch(path`/partners/${pid}/endpoints/${eid}`, { disabled: !ep.disabled });
        ctx.navigate(here, { replace: true, notice: { text: ep.disabled ? 'Endpoint enabled: deliveries resume.' : 'Endpoint disabled: messages are kept until it is enabled again.' } });
      } catch (err) {
        toggle.disabled = false;
        actionOut.replaceChildren(errorState(err, ep.disabled ? 'The endpoint was not enabled' : 'The endpoint was not disabled'));
      }
    },
  }, ep.disabled ? 'Enable' : 'Disable');

  const remove = h('button', {
    type: 'button',
    class: 'danger',
    onclick: async () => {
      if (!window.confirm(`Delete the endpoint ${endpointName(ep)}? Its messages and attempts stay in the log.`)) return;
      try {
        await del(path`/partners/${pid}/endpoints/${eid}`);
        ctx.navigate(`/partners/${enc(pid)}`, { notice: { text: `Endpoint ${endpointName(ep)} deleted.` } });
      } catch (err) {
        actionOut.replaceChildren(errorState(err, 'The endpoint was not deleted'));
      }
    },
  }, 'Delete');

  const health = healthCard(ctx, pid, eid);
  // scheme shows the endpoint's signature scheme; a rotation may change it.
  const scheme = h('span', { id: 'endpoint-scheme' }, schemes[ep.signature_scheme] || ep.signature_scheme);
  const pull = ep.kind === 'pull';
  holder.replaceChildren(
    pageHeader({
      crumbs: [...crumbs(ctx, pid, name), h('span', { title: ep.id }, endpointText(ep))],
      title: 'Endpoint',
      badges: pull ? [endpointState(ep), badge('pull', 'info')] : [endpointState(ep), breakerBadge(ep.breaker)],
      subtitle: h('span', null, pull ? 'A feed its partner reads' : h('code', null, ep.url), ep.description ? ` — ${ep.description}` : ''),
      actions: [buttonLink(`${here}/edit`, 'Edit'), toggle, remove],
    }),
    actionOut,
    pull
      // A pull endpoint is read, not sent to: nothing to sign, test,
      // recover or resend.
      ? h('div', { class: 'grid-2' },
        h('div', null, health, feedCard(ctx, pid, eid, health.reload)),
        h('div', null, detailsCard(ep, here, scheme)))
      : h('div', { class: 'grid-2' },
        h('div', null, health, testCard(ctx, pid, eid, health.reload), recoverCard(ctx, pid, eid, health.reload)),
        h('div', null, detailsCard(ep, here, scheme), secretCard(pid, eid, ep, scheme), resendCard(pid, eid))));
}

function detailsCard(ep, here, scheme) {
  const filter = Object.entries(ep.filter || {});
  const headers = Object.entries(ep.headers || {});
  const logs = `/partners/${enc(ep.partner_id)}`;
  const pull = ep.kind === 'pull';
  const webhookOnly = (rows) => (pull ? [] : rows);
  return card('Details', kv([
    ['ID', h('code', null, ep.id)],
    ['Kind', h('span', { id: 'endpoint-kind' }, pull ? 'pull: its partner reads a feed' : 'webhook: signed POSTs to its URL')],
    ...webhookOnly([['URL', h('code', null, ep.url)]]),
    ['Description', ep.description || h('span', { class: 'muted' }, 'None')],
    ['Event types', ep.event_types?.length
      ? h('div', { class: 'chips' }, ep.event_types.map((t) => h('span', { class: 'chip' }, t)))
      : h('span', { class: 'muted' }, 'Every type')],
    ['Filter', filter.length
      ? h('div', null, filter.map(([k, vs]) => h('div', null, h('code', null, k), ' is ', [vs].flat().join(' or '))))
      : h('span', { class: 'muted' }, 'None: every shipment')],
    ...webhookOnly([
      ['Timeout', ep.timeout_seconds ? `${ep.timeout_seconds} s` : h('span', { class: 'muted' }, 'server default')],
      ['Max. concurrency', ep.max_concurrency || h('span', { class: 'muted' }, 'server default')],
      ['Rate limit', ep.rate_limit ? `${ep.rate_limit} per second` : h('span', { class: 'muted' }, 'none')],
    ]),
    ['Ordering', h('span', { id: 'endpoint-ordering' }, ep.ordering === 'shipment'
      ? `by shipment; a failed message ${ep.on_failure === 'block' ? 'stops its shipment (block)' : 'lets the next go on (skip)'}`
      : 'none')],
    ...webhookOnly([
      ['Signature scheme', scheme],
      ['Format', formats[ep.format] || ep.format],
      ['Trace context', h('span', { id: 'endpoint-trace-context', title: traceContextHint },
        ep.trace_context ? 'on: each delivery carries a W3C traceparent header' : 'off')],
      ['Custom headers', headers.length
        ? h('div', null, headers.map(([k, v]) => h('div', { class: 'mono' }, `${k}: ${v}`)))
        : h('span', { class: 'muted' }, 'None')],
    ]),
    ep.disabled ? ['Disabled because', ep.disabled_reason || 'disabled by hand'] : null,
    ['Created', when(ep.created_at)],
    ['Updated', when(ep.updated_at)],
  ]), h('h3', null, 'Deliveries'), h('div', { class: 'actions' },
    link(`${logs}/messages?endpoint_id=${enc(ep.id)}`, 'Messages'),
    pull ? null : link(`${logs}/attempts?endpoint_id=${enc(ep.id)}&failed=true`, 'Failed attempts'),
    pull ? null : link(`${here}/dead-letters`, 'Dead letters')));
}

function healthCard(ctx, pid, eid) {
  const body = h('div', null, loading());
  const refresh = h('button', { type: 'button', class: 'small', onclick: () => load() }, 'Refresh');
  const load = async () => {
    refresh.disabled = true;
    try {
      const hl = await get(path`/partners/${pid}/endpoints/${eid}/health`, undefined, { signal: ctx.signal });
      const rate = (r, ok, n) => (r === null || r === undefined
        ? h('span', { class: 'muted' }, 'No attempts')
        : h('span', null, badge(percent(r), r >= 0.99 ? 'ok' : r >= 0.9 ? 'warn' : 'bad'), ` ${ok} of ${n} attempts`));
      const b = hl.breaker || {};
      if (hl.feed) {
        // A pull endpoint: no breaker, and every attempt is a read.
        body.replaceChildren(kv([
          ...feedRows(hl.feed),
          hl.disabled ? ['Disabled because', hl.disabled_reason || 'disabled by hand'] : null,
        ]));
        return;
      }
      body.replaceChildren(kv([
        ['Circuit breaker', h('span', null, breakerBadge(b), b.reason ? ` ${b.reason}` : '')],
        b.opened_at ? ['Opened', when(b.opened_at)] : null,
        b.next_probe_at ? ['Next probe', when(b.next_probe_at)] : null,
        ['Success, last hour', rate(hl.success_rate_last_hour, hl.succeeded_last_hour, hl.attempts_last_hour)],
        ['Success, last day', rate(hl.success_rate_last_day, hl.succeeded_last_day, hl.attempts_last_day)],
        ['Failures in a row', String(hl.consecutive_failures ?? 0)],
        ['Last success', when(hl.last_success_at)],
        ['Last failure', hl.last_failure
          ? h('span', null, link(`/attempts/${enc(hl.last_failure.id)}`, when(hl.last_failure.started_at)), ' ', result(hl.last_failure.status_code, hl.last_failure.error_class))
          : h('span', { class: 'muted' }, 'None')],
        ['Failing since', when(hl.failing_since)],
        hl.disabled ? ['Disabled because', hl.disabled_reason || 'disabled by hand'] : null,
      ]));
    } catch (err) {
      if (err.name !== 'AbortError') body.replaceChildren(errorState(err, 'Could not load the health of this endpoint'));
    } finally {
      refresh.disabled = false;
    }
  };
  load();
  const el = h('section', { class: 'card' },
    h('div', { class: 'page-header' }, h('h2', null, 'Health'), refresh),
    body);
  el.reload = load;
  return el;
}

// secretCard reveals and rotates what signs the endpoint's deliveries. A
// v1 endpoint shows its secret, which its receivers share; a v1a endpoint
// only the public key its receivers verify with: the API never gives out
// the private key. scheme is the details card's scheme, kept up to date.
function secretCard(pid, eid, ep, scheme) {
  const out = h('div');
  const copyButton = (text) => {
    const copy = h('button', {
      type: 'button',
      class: 'small',
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          copy.textContent = 'Copied';
        } catch {
          copy.textContent = 'Select and copy';
        }
      },
    }, 'Copy');
    return copy;
  };
  const show = (s, fresh) => {
    const v1a = s.signature_scheme === 'v1a';
    const key = v1a ? s.public_key : s.secret;
    scheme.textContent = schemes[s.signature_scheme] || s.signature_scheme;
    reveal.textContent = revealLabel(s.signature_scheme);
    const previous = s.previous_public_key
      ? ['The previous key also signs until ', when(s.previous_secret_expires_at), '; it verifies with public key ', h('code', null, s.previous_public_key), '.']
      : s.previous_secret
        ? ['Previous secret ', h('code', null, s.previous_secret), ' is still used until ', when(s.previous_secret_expires_at), '.']
        : null;
    fill(out,
      fresh
        ? notice(v1a || s.previous_public_key
          ? 'Key rotated. New deliveries are signed with the new key and, until the previous one expires, with both, so receivers can switch over.'
          : 'Secret rotated. New deliveries are signed with the new secret and, until it expires, the previous one too, so receivers can switch over.')
        : null,
      h('div', { class: 'secret' },
        h('span', { class: 'muted' }, v1a ? 'Public key' : 'Secret'),
        h('code', { id: v1a ? 'endpoint-public-key' : 'endpoint-secret' }, key), copyButton(key),
        h('button', { type: 'button', class: 'small', onclick: () => out.replaceChildren() }, 'Hide')),
      v1a ? h('p', { class: 'hint' }, 'Signed with an ed25519 private key that only shiphook holds (Standard Webhooks v1a).') : null,
      previous ? h('p', { class: 'muted' }, previous) : null);
  };
  const reveal = h('button', {
    type: 'button',
    onclick: async () => {
      try {
        show(await get(path`/partners/${pid}/endpoints/${eid}/secret`), false);
      } catch (err) {
        out.replaceChildren(errorState(err, 'Could not reveal the key'));
      }
    },
  }, revealLabel(ep.signature_scheme));
  const next = select('signature_scheme', Object.entries(schemes), ep.signature_scheme);
  next.id = 'rotate-scheme';
  const rotate = h('button', {
    type: 'button',
    onclick: async () => {
      if (!window.confirm('Rotate the signing key of this endpoint? The current key keeps signing for a grace period.')) return;
      try {
        show(await post(path`/partners/${pid}/endpoints/${eid}/secret/rotate`, { signature_scheme: next.value }), true);
      } catch (err) {
        out.replaceChildren(errorState(err, 'The key was not rotated'));
      }
    },
  }, 'Rotate secret');
  return card('Signing key',
    h('p', { class: 'card-intro' }, 'Receivers verify the webhook-signature header (Standard Webhooks) with the secret of a v1 endpoint, or with the public key of a v1a one.'),
    h('div', { class: 'actions' }, reveal),
    out,
    h('h3', null, 'Rotation'),
    field('Scheme of the new key', next, 'A rotation may switch the scheme; during the grace period deliveries carry both signatures.'),
    h('div', { class: 'actions' }, rotate));
}

function revealLabel(scheme) {
  return scheme === 'v1a' ? 'Show public key' : 'Reveal secret';
}

// watchMessage shows the status of message id in el until it settles
// (succeeded, failed or disabled) or the page goes away, and then
// calls done.
async function watchMessage(ctx, id, el, done) {
  for (let i = 0; i < 120 && !ctx.signal.aborted; i++) {
    try {
      const m = await get(path`/messages/${id}`, undefined, { signal: ctx.signal });
      el.replaceChildren('Delivery: ', statusBadge(m.status, { id: 'test-status' }), ' ', result(m.last_status_code, m.last_error_class));
      if (!['pending', 'held', 'delivering'].includes(m.status)) {
        done();
        return;
      }
    } catch (err) {
      if (err.name === 'AbortError') return;
      el.replaceChildren(errorState(err, 'Could not follow the delivery'));
      return;
    }
    try {
      await sleep(1000, ctx.signal);
    } catch {
      return;
    }
  }
}

function testCard(ctx, pid, eid, delivered) {
  const out = h('div');
  const body = h('div', null, loading('Loading event types…'));
  eventTypes().then((types) => {
    if (!types.length) {
      body.replaceChildren(h('p', { class: 'muted' }, 'The event catalog is empty.'));
      return;
    }
    const first = types.find((t) => t.name.startsWith('shipment.')) || types[0];
    const chooser = select('type', types.map((t) => [t.name, t.name]), first.name);
    chooser.id = 'test-type';
    const about = h('div', { class: 'hint' });
    const describe = () => { about.textContent = types.find((t) => t.name === chooser.value)?.description || ''; };
    chooser.addEventListener('change', describe);
    describe();
    const send = h('button', { type: 'submit', class: 'primary' }, 'Send test event');
    const form = h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        send.disabled = true;
        out.replaceChildren();
        try {
          const r = await post(path`/partners/${pid}/endpoints/${eid}/test`, { type: chooser.value });
          const status = h('div');
          out.replaceChildren(notice(h('span', null, `Test event ${chooser.value} sent as message `,
            link(`/messages/${enc(r.message_id)}`, r.message_id), '.')), status);
          watchMessage(ctx, r.message_id, status, delivered);
        } catch (err) {
          out.replaceChildren(errorState(err, 'The test event was not sent'));
        } finally {
          send.disabled = false;
        }
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'test-type' }, 'Event type'), chooser, about),
    send);
    body.replaceChildren(form);
  }, (err) => body.replaceChildren(errorState(err, 'Could not load the event types')));
  return card('Send a test event',
    h('p', { class: 'card-intro' }, "The catalog's example of the type, for a made-up shipment, is sent to this endpoint only."),
    body, out);
}

function recoverCard(ctx, pid, eid, finished) {
  const out = h('div');
  const since = h('input', { type: 'datetime-local', name: 'since', required: true, value: toLocalInput(new Date(Date.now() - 86400e3).toISOString()) });
  const until = h('input', { type: 'datetime-local', name: 'until' });
  const start = h('button', { type: 'submit', class: 'primary' }, 'Recover');
  const form = h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { since: toRFC3339(since.value) };
      if (until.value) body.until = toRFC3339(until.value);
      start.disabled = true;
      showFieldError(form, null);
      out.replaceChildren();
      try {
        const job = await post(path`/partners/${pid}/endpoints/${eid}/recover`, body);
        await followJob(ctx, pid, eid, job, out);
        finished();
      } catch (err) {
        if (err.name === 'AbortError') return;
        showFieldError(form, err);
        out.replaceChildren(errorState(err, 'The recovery did not start'));
      } finally {
        start.disabled = false;
      }
    },
  },
  h('div', { class: 'row' }, field('Since', since), field('Until (optional)', until)),
  start);
  return card('Recover failed messages',
    h('p', { class: 'card-intro' }, 'Puts every message to this endpoint that failed, created in this time range, back on the schedule.'),
    form, out);
}

// followJob shows a recovery job's progress in out, polling it until it is
// done.
async function followJob(ctx, pid, eid, job, out) {
  const bar = h('progress', { max: 1 });
  const text = h('span', { id: 'recover-text' });
  const state = h('span');
  const box = h('div', { class: 'progress', id: 'recover-progress', role: 'status' }, bar, h('div', { class: 'progress-text' }, text, state));
  out.replaceChildren(box);
  for (;;) {
    const total = Math.max(job.total || 0, job.requeued || 0);
    if (total > 0) {
      bar.max = total;
      bar.value = job.requeued || 0;
    } else if (job.status === 'done') {
      bar.max = 1;
      bar.value = 1;
    } else {
      bar.removeAttribute('value'); // indeterminate
    }
    state.replaceChildren(statusBadge(job.status));
    if (job.status === 'done') {
      box.classList.add('done');
      box.dataset.done = 'true';
      text.textContent = job.requeued
        ? `Done: ${job.requeued} failed ${job.requeued === 1 ? 'message' : 'messages'} requeued.`
        : 'Done: no failed messages in that time range.';
      return;
    }
    text.textContent = `Requeued ${job.requeued || 0} of ${total} failed messages…`;
    await sleep(1000, ctx.signal);
    job = await get(path`/partners/${pid}/endpoints/${eid}/recover/${job.id}`, undefined, { signal: ctx.signal });
  }
}

function resendCard(pid, eid) {
  const out = h('div');
  const input = h('input', { type: 'text', name: 'event_id', required: true, placeholder: 'evt_…' });
  const form = h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      out.replaceChildren();
      showFieldError(form, null);
      try {
        const m = await post(path`/partners/${pid}/endpoints/${eid}/resend`, { event_id: input.value.trim() });
        out.replaceChildren(notice(h('span', null, 'Event queued for this endpoint as message ', link(`/messages/${enc(m.id)}`, m.id), '.')));
      } catch (err) {
        showFieldError(form, err);
        out.replaceChildren(errorState(err, 'The event was not resent'));
      }
    },
  }, field('Event ID', input, 'Any event this partner may see, such as one from a shipment timeline.'), h('button', { type: 'submit' }, 'Resend'));
  return card('Resend an event', form, out);
}
