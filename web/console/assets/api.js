// The console's client of the shiphook /v1 API. Every request carries the
// signed-in key as "Authorization: Bearer <key>"; every error becomes an
// ApiError with the API's code and message.

const storageKey = 'shiphook.console.key';

// session keeps the API key for this browser tab only.
export const session = {
  key: () => sessionStorage.getItem(storageKey),
  save: (key) => sessionStorage.setItem(storageKey, key),
  clear: () => sessionStorage.removeItem(storageKey),
};

// ApiError is an error answer of the API ({"error": {code, message, field}}),
// or a failure to reach it (status 0, code "network_error").
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field || '';
  }
}

let unauthorized = () => {};

// onUnauthorized sets what happens when the API refuses the key (401).
export function onUnauthorized(fn) {
  unauthorized = fn;
}

// path builds an API path from a template, escaping every value:
// path`/partners/${id}/endpoints`.
export function path(strings, ...values) {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ''), '');
}

// request sends one request to /v1 + p and returns the decoded JSON answer
// (null when there is none). query values that are empty are left out.
// body is encoded as JSON; raw, a JSON text, is sent as it is instead (so
// that numbers keep every digit typed).
export async function request(method, p, { query, body, raw, key, signal } = {}) {
  const url = new URL('/v1' + p, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  }
  const headers = { Accept: 'application/json' };
  const k = key ?? session.key();
  if (k) headers.Authorization = 'Bearer ' + k;
  if (body !== undefined || raw !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(url, {
      method,
      headers,
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      signal,
      cache: 'no-store',
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network_error', `Could not reach shiphook (${err.message}).`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const e = (data && data.error) || {};
    const err = new ApiError(resp.status, e.code || `http_${resp.status}`,
      e.message || `${method} ${url.pathname} answered ${resp.status} ${resp.statusText}`, e.field);
    if (resp.status === 401 && key === undefined) unauthorized(err);
    throw err;
  }
  return data;
}

export const get = (p, query, opts) => request('GET', p, { ...opts, query });
export const post = (p, body, opts) => request('POST', p, { ...opts, body: body ?? {} });
export const patch = (p, body, opts) => request('PATCH', p, { ...opts, body });
export const del = (p, opts) => request('DELETE', p, opts);

// eventTypes returns the event catalog, fetched once per page load.
let catalog;
export function eventTypes() {
  catalog ??= get('/event-types').then((r) => r.data, (err) => {
    catalog = undefined;
    throw err;
  });
  return catalog;
}

// partnerName returns the name of partner id, or id when it has none or
// cannot be read, for a page that names one partner.
export async function partnerName(id, signal) {
  try {
    const p = await get(path`/partners/${id}`, undefined, { signal });
    return p.name || id;
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    return id;
  }
}

// namesOfPage holds the partners' names each page (its ctx) has read.
const namesOfPage = new WeakMap();

// partnerNames returns, by id, the names of the partners the page ctx may
// show: every partner's for an admin (GET /v1/partners, page by page),
// its own for a partner key. A page reads them once, however many rows
// name a partner; when they cannot be read there are none, and the ids
// show instead.
export function partnerNames(ctx) {
  let names = namesOfPage.get(ctx);
  if (!names) {
    names = readPartnerNames(ctx);
    namesOfPage.set(ctx, names);
  }
  return names;
}

async function readPartnerNames(ctx) {
  const names = {};
  try {
    if (!ctx.admin) {
      names[ctx.me.partner_id] = await partnerName(ctx.me.partner_id, ctx.signal);
      return names;
    }
    let cursor = null;
    do {
      const page = await get('/partners', { cursor, limit: 250 }, { signal: ctx.signal });
      for (const p of page.data) names[p.id] = p.name || p.id;
      cursor = page.has_more ? page.next_cursor : null;
    } while (cursor);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
  }
  return names;
}
