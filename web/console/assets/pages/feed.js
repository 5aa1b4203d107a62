// Pull endpoints: the feed on an endpoint's page (how far its partner has
// read, and the next messages, which can be acknowledged from here), and
// what the endpoint form sends for one.

import { get, path } from '../api.js';
import { h, idLink, when, badge, card, kv, table, loading, errorState, notice, fill } from '../dom.js';

const enc = encodeURIComponent;

// age says how long ago a number of seconds is, for people.
function age(seconds) {
  if (seconds === null || seconds === undefined) return h('span', { class: 'muted' }, 'nothing unread');
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

// feedRows are the health's feed as rows of a kv list.
export function feedRows(feed) {
  if (!feed) return [];
  const behind = feed.oldest_unread_age_seconds;
  const tone = behind === null || behind === undefined ? 'ok' : behind < 3600 ? 'warn' : 'bad';
  return [
    ['Unread messages', h('span', { id: 'feed-unread' }, badge(String(feed.unread), tone))],
    ['Oldest unread', h('span', { id: 'feed-oldest' }, age(behind))],
    ['Last read', when(feed.last_read_at)],
  ];
}

// feedCard shows the feed's position and reads its next page: the
// messages after the last acknowledged one, acknowledging nothing, then,
// if asked, acknowledges them (a read after the page's cursor). changed
// is called after an acknowledgement.
export function feedCard(ctx, pid, eid, changed) {
  const feedPath = path`/partners/${pid}/endpoints/${eid}/feed`;
  const position = h('div', null, loading());
  const out = h('div', { id: 'feed-page' });
  const showPosition = async () => {
    try {
      const hl = await get(path`/partners/${pid}/endpoints/${eid}/health`, undefined, { signal: ctx.signal });
      const f = hl.feed || {};
      fill(position, kv([
        ['Acknowledged up to', h('span', { id: 'feed-position' }, `position ${f.acknowledged_position ?? 0} of ${f.last_position ?? 0} numbered`)],
        ['Cursor', f.acknowledged_cursor ? h('code', { id: 'feed-cursor' }, f.acknowledged_cursor) : h('span', { class: 'muted' }, 'none yet: nothing acknowledged')],
        ['Last acknowledged', when(f.last_acknowledged_at)],
      ]));
    } catch (err) {
      if (err.name !== 'AbortError') position.replaceChildren(errorState(err, 'Could not load the feed position'));
    }
  };
  const readNext = h('button', {
    type: 'button',
    class: 'primary',
    onclick: async () => {
      readNext.disabled = true;
      try {
        const page = await get(feedPath, { limit: 20 }, { signal: ctx.signal });
        showPage(page);
      } catch (err) {
        if (err.name !== 'AbortError') out.replaceChildren(errorState(err, 'Could not read the feed'));
      } finally {
        readNext.disabled = false;
      }
    },
  }, 'Read next page');
  const showPage = (page) => {
    if (!page.data.length) {
      fill(out, h('p', { class: 'muted' }, 'Nothing unread: the partner has acknowledged every message.'));
      return;
    }
    const ack = h('button', {
      type: 'button',
      onclick: async () => {
        if (!window.confirm(`Acknowledge these ${page.data.length} messages? They become succeeded, as if the partner had read them.`)) return;
        ack.disabled = true;
        try {
          await get(feedPath, { after: page.next_cursor, limit: 1 }, { signal: ctx.signal });
          fill(out, notice(`${page.data.length} messages acknowledged.`));
          showPosition();
          changed();
        } catch (err) {
          ack.disabled = false;
          if (err.name !== 'AbortError') out.replaceChildren(errorState(err, 'The messages were not acknowledged'));
        }
      },
    }, `Acknowledge these ${page.data.length}`);
    fill(out,
      table([
        { label: 'Message', cell: (m) => idLink(`/messages/${enc(m.id)}`, m.id), class: 'nowrap' },
        { label: 'Type', cell: (m) => [m.type, m.payload_purged ? [' ', badge('payload purged', 'warn')] : null] },
        { label: 'Shipment', cell: (m) => m.data?.shipment?.id || h('span', { class: 'muted' }, '—'), class: 'nowrap' },
      ], page.data),
      h('div', { class: 'actions' }, ack));
  };
  showPosition();
  return card('Feed',
    h('p', { class: 'card-intro' }, 'The partner reads this endpoint with GET …/feed; reading with a cursor acknowledges every message before it. The next page is shown here without acknowledging it.'),
    position,
    h('div', { class: 'actions' }, readNext),
    out);
}

// pullEndpointBody returns the API body of the endpoint form (its
// FormData fd) for a pull endpoint: no URL, signing or delivery options.
// list splits a comma-separated field; filterKeys are the filter's fields.
export function pullEndpointBody(fd, list, filterKeys) {
  const body = {
    kind: 'pull',
    description: fd.get('description').trim(),
    event_types: [...fd.getAll('event_type'), ...list(fd.get('event_patterns'))],
    filter: {},
    disabled: fd.get('disabled') === 'on',
    ordering: fd.get('ordering'),
  };
  for (const k of filterKeys) {
    const vs = list(fd.get(`filter.${k}`));
    if (vs.length) body.filter[k] = vs;
  }
  return body;
}
