// The console's entry point: the session, the router and the page frame.
//
// Pages are functions of a context (see render) that fill ctx.main. A page
// that keeps working after it is drawn (polling, say) stops when ctx.signal
// aborts, which happens as soon as another page is shown.

import { session, get, onUnauthorized, partnerName } from './api.js';
import { h, base, link, errorState, notice } from './dom.js';
import { signInPage } from './pages/signin.js';
import * as partners from './pages/partners.js';
import * as endpoints from './pages/endpoints.js';
import * as endpointForm from './pages/endpointform.js';
import * as messages from './pages/messages.js';
import * as attempts from './pages/attempts.js';
import * as shipments from './pages/shipments.js';
import * as sources from './pages/sources.js';
import * as events from './pages/events.js';

// routes are the console's pages; admin marks the pages only admins see.
const routes = [
  { path: '/partners', page: partners.list, admin: true },
  { path: '/partners/:pid', page: partners.show },
  { path: '/partners/:pid/endpoints/new', page: endpointForm.create },
  { path: '/partners/:pid/endpoints/:eid', page: endpoints.show },
  { path: '/partners/:pid/endpoints/:eid/edit', page: endpointForm.edit },
  { path: '/partners/:pid/endpoints/:eid/dead-letters', page: messages.endpointDeadLetters },
  { path: '/partners/:pid/messages', page: messages.partnerLog },
  { path: '/partners/:pid/attempts', page: attempts.partnerLog },
  { path: '/messages', page: messages.allLog, admin: true },
  { path: '/messages/:mid', page: messages.show },
  { path: '/attempts', page: attempts.allLog, admin: true },
  { path: '/attempts/:aid', page: attempts.show },
  { path: '/dead-letters', page: messages.allDeadLetters, admin: true },
  { path: '/shipments', page: shipments.search },
  { path: '/shipments/:sid', page: shipments.timeline },
  { path: '/sources', page: sources.list, admin: true },
  { path: '/sources/:srcid', page: sources.show, admin: true },
  { path: '/events', page: events.list, admin: true },
  { path: '/events/:evid', page: events.show, admin: true },
];

const app = document.getElementById('app');
let me = null; // the answer of GET /v1/me for the signed-in key
let flash = null; // a notice for the next page drawn: {text, tone}
let bootError = null; // why the saved key could not be checked
let afterSignIn = '/';
let current = null; // aborts the page on screen

// navigate shows the page at to (a path after /console, with its query).
function navigate(to, { replace = false, notice: n } = {}) {
  if (n) flash = n;
  if (replace) history.replaceState(null, '', base + to);
  else history.pushState(null, '', base + to);
  window.scrollTo(0, 0);
  render();
}

function home() {
  if (!me) return '/sign-in';
  return me.role === 'admin' ? '/partners' : `/partners/${encodeURIComponent(me.partner_id)}`;
}

function match(rel) {
  const parts = rel.split('/').filter(Boolean);
  for (const r of routes) {
    const pattern = r.path.split('/').filter(Boolean);
    if (pattern.length !== parts.length) continue;
    const params = {};
    const ok = pattern.every((seg, i) => {
      if (seg.startsWith(':')) {
        try {
          params[seg.slice(1)] = decodeURIComponent(parts[i]);
        } catch {
          return false;
        }
        return true;
      }
      return seg === parts[i];
    });
    if (ok) return { route: r, params };
  }
  return null;
}

function takeFlash() {
  const f = flash;
  flash = null;
  return f ? notice(f.text, f.tone) : null;
}

async function render() {
  current?.abort();
  const ctrl = (current = new AbortController());
  const { pathname, search } = location;
  const rel = pathname.startsWith(base + '/') ? pathname.slice(base.length) : '/';

  if (!me) {
    if (rel !== '/sign-in') {
      afterSignIn = rel + search;
      history.replaceState(null, '', base + '/sign-in');
    }
    document.title = 'Sign in · shiphook';
    app.replaceChildren(signInPage({ flash: takeFlash(), error: bootError, onSignedIn }));
    bootError = null;
    return;
  }
  if (rel === '/' || rel === '/sign-in') {
    navigate(home(), { replace: true });
    return;
  }

  const main = h('main', { id: 'main' });
  app.replaceChildren(topbar(rel), main);
  const found = match(rel);
  if (!found) {
    document.title = 'Not found · shiphook';
    main.append(h('section', { class: 'admin-only' },
      h('h1', { tabindex: '-1' }, 'No such page'),
      h('p', null, `The console has no page at ${pathname}.`),
      link(home(), 'Go to the start page')));
    return;
  }
  if (found.route.admin && me.role !== 'admin') {
    document.title = 'For admins · shiphook';
    main.append(adminOnly());
    return;
  }
  const f = takeFlash();
  if (f) main.append(f);
  const ctx = {
    main,
    me,
    params: found.params,
    query: new URLSearchParams(search),
    signal: ctrl.signal,
    navigate,
    admin: me.role === 'admin',
    title: (t) => { document.title = `${t} · shiphook`; },
  };
  try {
    await found.route.page(ctx);
  } catch (err) {
    if (err.name === 'AbortError' || ctrl.signal.aborted) return;
    main.append(errorState(err, 'This page could not be shown'));
  }
  // Screen readers start on the new page's heading, unless the person
  // already moved on.
  if (!ctrl.signal.aborted && !main.contains(document.activeElement)) {
    main.querySelector('h1')?.focus({ preventScroll: true });
  }
}

function topbar(rel) {
  const pid = encodeURIComponent(me.partner_id || '');
  // [href, label, other paths under which the item is the current one]
  const items = me.role === 'admin'
    ? [['/partners', 'Partners', []], ['/messages', 'Messages', []], ['/attempts', 'Attempts', []],
      ['/dead-letters', 'Dead letters', []], ['/shipments', 'Shipments', []], ['/sources', 'Sources', ['/events']]]
    : [[`/partners/${pid}`, 'Endpoints', []], [`/partners/${pid}/messages`, 'Messages', ['/messages']],
      [`/partners/${pid}/attempts`, 'Attempts', ['/attempts']], ['/shipments', 'Shipments', []]];
  const under = (p) => rel === p || rel.startsWith(p + '/');
  let active = null;
  let best = -1;
  for (const [href, , also] of items) {
    for (const p of [href, ...also]) {
      if (under(p) && p.length > best) {
        active = href;
        best = p.length;
      }
    }
  }
  const who = me.role === 'admin'
    ? h('span', null, h('span', { class: 'role' }, 'Admin'))
    : h('span', null, h('span', { class: 'role' }, 'Partner '), h('span', { title: me.partner_id }, me.partner_name || me.partner_id));
  return h('header', { class: 'topbar' },
    h('a', { class: 'brand', href: base + home() },
      h('img', { src: base + '/assets/favicon.svg', alt: '' }), 'shiphook', h('small', null, 'console')),
    h('nav', { class: 'nav', 'aria-label': 'Main' },
      items.map(([href, label]) => h('a', { href: base + href, 'aria-current': href === active ? 'page' : null }, label))),
    h('div', { class: 'whoami' }, who,
      h('button', { type: 'button', class: 'small', onclick: signOut }, 'Sign out')));
}

function adminOnly() {
  return h('section', { class: 'admin-only', role: 'alert' },
    h('h1', { tabindex: '-1' }, 'This page is for admins'),
    h('p', null, `You are signed in with a partner key for ${me.partner_name || me.partner_id}. The partners list, the message and attempt logs of every partner, the dead letters of every endpoint, the sources and their events are shown to admins only.`),
    link(home(), 'Go to your endpoints'));
}

// named returns who (the answer of GET /v1/me) with, for a partner key,
// its partner's name.
async function named(who) {
  if (who.role !== 'partner') return who;
  return { ...who, partner_name: await partnerName(who.partner_id) };
}

async function onSignedIn(key, who) {
  session.save(key);
  me = await named(who);
  const to = afterSignIn && afterSignIn !== '/sign-in' ? afterSignIn : '/';
  afterSignIn = '/';
  navigate(to, { replace: true });
}

function signOut() {
  session.clear();
  me = null;
  afterSignIn = '/';
  navigate('/sign-in', { notice: { text: 'Signed out. The key was removed from this tab.', tone: 'info' } });
}

async function boot() {
  onUnauthorized(() => {
    if (!me) return;
    session.clear();
    me = null;
    flash = { text: 'The API no longer accepts your key. Sign in again.', tone: 'warn' };
    render();
  });
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
    if (!a.pathname.startsWith(base + '/') || a.pathname.startsWith(base + '/assets/')) return;
    e.preventDefault();
    navigate(a.pathname.slice(base.length) + a.search);
  });
  window.addEventListener('popstate', render);

  const key = session.key();
  if (key) {
    try {
      const who = await get('/me');
      if (who.role === 'admin' || who.role === 'partner') me = await named(who);
      else session.clear();
    } catch (err) {
      if (err.status === 401) session.clear();
      else bootError = err;
    }
  }
  render();
}

boot();
