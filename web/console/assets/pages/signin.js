// The sign-in page: an API key, checked with GET /v1/me.

import { get } from '../api.js';
import { h, base, field, errorState } from '../dom.js';

// signInPage asks for an API key and calls onSignedIn(key, me) once the API
// accepts it as an admin or partner key. error, when set, is why a saved
// key could not be checked.
export function signInPage({ flash, error, onSignedIn }) {
  const input = h('input', {
    type: 'password', name: 'key', id: 'api-key', autocomplete: 'off', spellcheck: 'false',
    required: true, placeholder: 'shk_…', autofocus: true,
  });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const out = h('div', null, error ? errorState(error, 'Could not check the saved key') : null);

  const form = h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      out.replaceChildren();
      button.disabled = true;
      button.textContent = 'Signing in…';
      try {
        const me = await get('/me', undefined, { key });
        if (me.role === 'ingest') {
          out.append(errorState({ message: 'This is an ingest key: it posts shipment events and cannot use the console. Sign in with an admin key or a partner key.' },
            'Ingest keys cannot use the console'));
          return;
        }
        if (me.role !== 'admin' && me.role !== 'partner') {
          out.append(errorState({ message: `Keys with the role "${me.role}" cannot use the console.` }, 'This key cannot use the console'));
          return;
        }
        onSignedIn(key, me);
      } catch (err) {
        out.append(errorState(err, err.status === 401 ? 'That key was not accepted' : 'Could not sign in'));
      } finally {
        button.disabled = false;
        button.textContent = 'Sign in';
      }
    },
  },
  field('API key', input, 'An admin key or a partner key. It is kept in this browser tab only, and sent with each request to the API.'),
  button);

  return h('main', { class: 'signin' },
    h('div', { class: 'brand-large' }, h('img', { src: base + '/assets/favicon.svg', alt: '' }), 'shiphook console'),
    flash,
    h('section', { class: 'card' },
      h('h1', { tabindex: '-1' }, 'Sign in'),
      h('p', null, 'Inspect deliveries, endpoints and shipments.'),
      form,
      out));
}
