// One WebSocket per page to /api/ws. Reconnects with backoff (0.5 s doubling to 10 s) behind a
// visible banner; each connection's first message is a snapshot that replaces the page's state.
import { t, onLanguage } from './i18n.js';
import { api } from './api.js';

const MIN_DELAY = 500;
const MAX_DELAY = 10000;
const PING_EVERY = 25000;

export function connect(onMessage) {
  const banner = document.querySelector('[data-testid="connection"]');
  let delay = MIN_DELAY;
  let state = 'closed';
  let lost = false; // a connection was lost (not the first attempt)

  function show() {
    if (!banner) return;
    banner.dataset.state = state;
    banner.textContent = t(state === 'open' ? 'connection.open' : lost ? 'connection.retry' : 'connection.connecting');
  }
  onLanguage(show);

  function open() {
    show();
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/ws`;
    const ws = new WebSocket(url);
    let pinger = 0;
    ws.addEventListener('open', () => {
      state = 'open';
      show();
      pinger = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('{"type":"ping"}'), PING_EVERY);
    });
    ws.addEventListener('message', (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg && msg.type === 'snapshot') delay = MIN_DELAY; // a working connection: back off from scratch
      if (msg && typeof msg.type === 'string') onMessage(msg);
    });
    ws.addEventListener('close', async () => {
      clearInterval(pinger);
      state = 'closed';
      lost = true;
      show();
      const retryAt = Date.now() + delay;
      delay = Math.min(delay * 2, MAX_DELAY);
      // A session that expired cannot reconnect: this sends the user to the login page.
      try { await api('GET', '/api/session', undefined, { quiet: true }); } catch { /* offline: keep trying */ }
      setTimeout(open, Math.max(0, retryAt - Date.now()));
    });
  }
  open();
}
