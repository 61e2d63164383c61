/**
 * The access token, when the server has them: asked for once, when the API first answers 401, and
 * kept for this tab only (sessionStorage). Every API request sends it in the Authorization header —
 * never in a URL, which would end up in logs and the browser's history.
 */
import { h } from './dom.js';

const STORAGE_KEY = 'histoseek-token';

/** The header to send, or none before a token is known. */
export function authHeaders(): Record<string, string> {
  const token = sessionStorage.getItem(STORAGE_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** The one form on screen; every request refused meanwhile waits for it. */
let pending: Promise<void> | null = null;

function askForToken(message: string): Promise<void> {
  return new Promise((done) => {
    const input = h('input', {
      type: 'password',
      id: 'token',
      name: 'token',
      autocomplete: 'off',
      required: true,
      'aria-describedby': 'login-message',
    });
    const form = h(
      'form',
      { class: 'login panel', 'aria-labelledby': 'login-title' },
      h('h2', { id: 'login-title' }, 'Sign in'),
      h('p', { id: 'login-message' }, message),
      h('label', { for: 'token' }, 'Access token'),
      input,
      h('button', { type: 'submit' }, 'Sign in'),
    );
    const overlay = h(
      'div',
      { class: 'login-overlay', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'login-title' },
      form,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      sessionStorage.setItem(STORAGE_KEY, input.value.trim());
      overlay.remove();
      done();
    });
    document.body.append(overlay);
    input.focus();
  });
}

/** fetch with the token; a 401 asks for a (new) token and sends the request again. */
export async function authorizedFetch(url: string, init: RequestInit = {}): Promise<Response> {
  for (;;) {
    const sent = sessionStorage.getItem(STORAGE_KEY);
    const response = await fetch(url, {
      ...init,
      headers: { ...(init.headers as Record<string, string> | undefined), ...authHeaders() },
    });
    if (response.status !== 401) return response;
    // Another request's form may have brought a newer token meanwhile: try that first.
    if (sessionStorage.getItem(STORAGE_KEY) !== sent) continue;
    if (sent !== null) sessionStorage.removeItem(STORAGE_KEY);
    pending ??= askForToken(
      sent === null ? 'This server needs an access token.' : 'That token was not accepted: try again.',
    ).finally(() => (pending = null));
    await pending;
  }
}
