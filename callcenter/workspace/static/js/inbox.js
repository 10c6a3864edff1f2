// The inbox on the agent page (docs/web.md, "The inbox"): my work, my queues' work and a search, in
// the server's order (GET /api/inbox; most urgent first), my live calls above them; offers pushed on
// the page's socket ("offer") with Accept / Decline and a countdown, a chime (WebAudio) and a desktop
// notification; "Next" takes the most urgent item of my queues. "inbox" messages refetch (debounced),
// so does every snapshot. Keys: j/k or arrows move, Enter opens, a accepts, d declines, n next,
// / searches. Everything customers wrote goes in as text.
import { t } from './i18n.js';
import { api, explain, status } from './api.js';
import { $, h, dur, fillSelect } from './dom.js';

const enc = encodeURIComponent;
const REFETCH_AFTER = 300; // ms: a burst of "inbox" messages is one fetch
const SEARCH_AFTER = 300; // ms after the last keystroke in the search box
const VIEWS = ['mine', 'queues', 'search'];
const STATUSES = ['new', 'open', 'pending', 'resolved', 'closed'];
const CHANNELS = ['email', 'sms', 'voicemail', 'voice', 'chat'];
const SLAS = ['at_risk', 'breached'];
const NOTIFY_KEY = 'callcenter.notify'; // "asked": the browser asked once; "off": the agent turned alerts off

const I = {
  ctx: null, // from agent.js: { me(), myQueues(), agents(), openItem(item), openCall(call) }
  view: 'mine',
  calls: [], // live calls of mine / my queues, as the snapshot's
  items: [], // work items, in the server's order
  offers: new Map(), // ticket → { item, deadline (ms, this browser's clock), got (ms) }
  focused: '', // the row that has (or last had) the focus: "call:<id>" | "item:<ticket>"
  refetch: 0, // debounce timer
  seq: 0, // the newest fetch: an older answer (another view, older filters) is dropped
  audio: null, // the AudioContext, made on the first gesture (browsers play nothing before one)
  alerts: 0, // offers announced (chime + notification), for the page's own checks
};

const boss = () => ['supervisor', 'admin'].includes(I.ctx.me().role);
const myName = () => I.ctx.me().agent || I.ctx.me().name;
const nowS = () => Date.now() / 1000;
const label = (item) => (item.customer && item.customer.name) || t('inbox.noName');
const channelName = (c) => t(`channel.${c}`, null, c || '—');

async function quietly(promise) {
  try { return await promise; } catch { return undefined; }
}

// -- icons: small inline SVGs of our own (no font, nothing loaded) -------------------------------

const SVG = 'http://www.w3.org/2000/svg';
const SHAPES = {
  email: [['rect', { x: 3, y: 5, width: 18, height: 14, rx: 2 }], ['polyline', { points: '3,7 12,13 21,7' }]],
  sms: [['path', { d: 'M4 4h16v12H9l-5 4z' }], ['path', { d: 'M8 10h.01M12 10h.01M16 10h.01' }]],
  chat: [['path', { d: 'M3 4h13v9H8l-5 4z' }], ['path', { d: 'M19 8h2v11l-4-3h-7v-1' }]],
  voice: [['path', { d: 'M6 3h3l2 5-2.5 1.5a11 11 0 0 0 6 6L16 13l5 2v3a2 2 0 0 1-2 2A16 16 0 0 1 4 5a2 2 0 0 1 2-2z' }]],
  voicemail: [['circle', { cx: 6.5, cy: 12, r: 3.5 }], ['circle', { cx: 17.5, cy: 12, r: 3.5 }],
    ['line', { x1: 6.5, y1: 15.5, x2: 17.5, y2: 15.5 }]],
};

function icon(channel) {
  const svg = document.createElementNS(SVG, 'svg');
  for (const [k, v] of Object.entries({ viewBox: '0 0 24 24', width: 18, height: 18, fill: 'none',
    stroke: 'currentColor', 'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round',
    'aria-hidden': 'true', focusable: 'false', class: 'icon' })) svg.setAttribute(k, String(v));
  for (const [tag, attrs] of SHAPES[channel] || SHAPES.chat) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    svg.append(el);
  }
  return svg;
}

// -- fetching ------------------------------------------------------------------------------------

function query() {
  const q = new URLSearchParams({ view: I.view });
  if (I.view === 'search') {
    for (const [key, sel] of [['q', '#inbox-q'], ['status', '#inbox-status'], ['channel', '#inbox-channel'],
      ['queue', '#inbox-queue'], ['sla', '#inbox-sla'], ['agent', '#inbox-agent']]) {
      const value = $(sel).value.trim();
      if (value && !(key === 'agent' && !boss())) q.set(key, value);
    }
  }
  return q.toString();
}

/** Is anything asked in the search form (words or a filter)? */
const searching = () => [...new URLSearchParams(query()).keys()].some((k) => k !== 'view');

/** GET /api/inbox of the view on screen. An answer older than the newest fetch is dropped. */
async function load() {
  clearTimeout(I.refetch);
  const seq = ++I.seq;
  const started = Date.now();
  if (I.view === 'search' && !searching()) { // nothing asked yet: nothing to fetch
    I.items = [];
    I.calls = [];
    render();
    return;
  }
  let data;
  try {
    data = await api('GET', `/api/inbox?${query()}`, undefined, { quiet: true });
  } catch (err) {
    if (seq !== I.seq) return;
    if (err.status === 404 && (!err.id || err.id === 'not-found')) { // no inbox on this controller (no store)
      $('#inbox').hidden = true;
      return;
    }
    $('#inbox-error').textContent = explain(err);
    return;
  }
  if (seq !== I.seq) return;
  $('#inbox').hidden = false;
  $('#inbox-error').textContent = '';
  I.calls = Array.isArray(data && data.calls) ? data.calls : [];
  I.items = Array.isArray(data && data.items) ? data.items : [];
  const offered = Array.isArray(data && data.offers) ? data.offers : [];
  const details = await offerDetails(offered, I.items);
  if (seq !== I.seq) return;
  const fresh = new Map();
  for (const o of offered) {
    const expires = o.offer_expires ?? o.expires;
    if (o.ticket == null || (expires && expires <= nowS())) continue;
    const had = I.offers.get(o.ticket);
    const item = details.get(o.ticket) || (had && had.item) || { ticket: o.ticket, channel: '', customer: {} };
    fresh.set(o.ticket, had ? { ...had, item } : { item, deadline: deadlineOf(expires), got: Date.now() });
  }
  // An offer the socket brought after this fetch started is newer than its answer: it stays.
  for (const [ticket, offer] of I.offers) if (!fresh.has(ticket) && offer.got > started) fresh.set(ticket, offer);
  for (const [ticket, offer] of fresh) if (!I.offers.has(ticket)) announce(offer.item);
  I.offers = fresh;
  render();
}

/**
 * The items of my offers, by ticket. GET /api/inbox's `offers` may be whole items or only
 * `{ticket, expires}`: then the item is the list's (an offered item is in "My queues": nobody has
 * it), the one the socket brought, or, for one neither knows (a reload during an offer), "My
 * queues" read once more.
 */
async function offerDetails(offered, items) {
  const out = new Map();
  const byTicket = new Map(items.map((i) => [i.ticket, i]));
  const missing = [];
  for (const o of offered) {
    const item = o.customer ? o : byTicket.get(o.ticket) || (I.offers.get(o.ticket) || {}).item;
    if (item && item.customer) out.set(o.ticket, item);
    else missing.push(o.ticket);
  }
  if (missing.length && I.view !== 'queues') {
    const queues = await quietly(api('GET', '/api/inbox?view=queues', undefined, { quiet: true }));
    for (const item of (queues && queues.items) || []) if (missing.includes(item.ticket)) out.set(item.ticket, item);
  }
  return out;
}

/** Refetch soon: many "inbox" messages in a burst are one GET. */
export function schedule(delay = REFETCH_AFTER) {
  clearTimeout(I.refetch);
  I.refetch = setTimeout(load, delay);
}

/**
 * When an offer ends (`expires`, epoch seconds), in ms of this browser's clock. (The agent's computer
 * and the server are assumed to keep the same time: a message's `at` is when its event happened,
 * not when it was sent, so it cannot measure the difference.)
 */
function deadlineOf(expires) {
  if (!expires) return Date.now() + 30000;
  return Date.now() + Math.max(0, expires - nowS()) * 1000;
}

// -- rendering -----------------------------------------------------------------------------------

function renderTabs() {
  for (const view of VIEWS) {
    const tab = $(`#inbox-tab-${view}`);
    const on = view === I.view;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
  }
  $('#inbox-search').hidden = I.view !== 'search';
  $('#inbox-agent-field').hidden = !boss();
  $('#inbox-list').setAttribute('aria-labelledby', `inbox-tab-${I.view}`);
}

function renderFilters() {
  const any = ['', t('inbox.any')];
  fillSelect($('#inbox-status'), [any, ...STATUSES.map((s) => [s, t(`status.${s}`)])]);
  fillSelect($('#inbox-channel'), [any, ...CHANNELS.map((c) => [c, channelName(c)])]);
  fillSelect($('#inbox-queue'), [any, ...I.ctx.myQueues().map((q) => [q, q])]);
  fillSelect($('#inbox-sla'), [any, ...SLAS.map((s) => [s, t(`inbox.sla.${s}`)])]);
  fillSelect($('#inbox-agent'), [any, ...[...I.ctx.agents().keys()].map((a) => [a, a])]);
}

function slaBadge(sla) {
  const state = sla && sla.state;
  if (!SLAS.includes(state)) return null;
  return h('span', { class: 'badge sla', 'data-sla': state, testid: 'inbox-sla', text: t(`inbox.sla.${state}`) });
}

function priorityBadge(priority) {
  if (!priority || priority === 'normal') return null;
  return h('span', { class: 'badge prio', 'data-priority': priority, text: t(`priority.${priority}`, null, priority) });
}

/** A span that counts up from `since` (epoch seconds) every second. */
const since = (epoch, key = 'inbox.waiting') => h('span', { class: 'since', 'data-since': epoch, 'data-key': key,
  text: t(key, { time: dur(nowS() - epoch) }) });

/** The snippet of a search hit, the words searched for marked (as text nodes, never HTML). */
function snippet(text) {
  const words = $('#inbox-q').value.trim().split(/\s+/).filter((w) => w.length > 1)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (!words.length) return [text];
  return String(text).split(new RegExp(`(${words.join('|')})`, 'gi'))
    .map((part, i) => (i % 2 ? h('mark', { text: part }) : part));
}

function itemRow(item) {
  const mineOffer = I.offers.has(item.ticket);
  const subject = item.subject || '';
  const preview = item.preview || '';
  const meta = [item.queue, t('ticket.title', { id: item.ticket }), t(`status.${item.status}`, null, item.status)];
  if (item.assignee) meta.push(t('inbox.assignee', { agent: item.assignee }));
  else if (item.offered_to && item.offered_to !== myName()) meta.push(t('inbox.offeredTo', { agent: item.offered_to }));
  return h('li', { class: 'inbox-item', role: 'option', tabindex: -1, testid: 'inbox-item', 'data-key': `item:${item.ticket}`,
    'data-ticket': item.ticket, 'data-kind': item.kind, 'data-channel': item.channel, 'data-status': item.status,
    'data-sla': (item.sla && item.sla.state) || '', 'data-offered': mineOffer ? 'me' : item.offered_to || '',
    onclick: () => open(item) },
  h('div', { class: 'inbox-line' },
    h('span', { class: 'channel', 'data-channel': item.channel, title: channelName(item.channel) }, icon(item.channel),
      h('span', { class: 'channel-name', text: channelName(item.channel) })),
    h('strong', { class: 'who', testid: 'inbox-customer', text: label(item) }),
    priorityBadge(item.priority), slaBadge(item.sla),
    mineOffer ? h('span', { class: 'badge offered', text: t('inbox.offeredToYou') }) : null),
  h('div', { class: 'inbox-subject', testid: 'inbox-subject', text: subject || preview || t('ticket.noSubject') }),
  subject && preview ? h('div', { class: 'inbox-preview muted small', text: preview }) : null,
  item.snippet ? h('div', { class: 'inbox-snippet small', testid: 'inbox-snippet' },
    item.match ? h('span', { class: 'muted', text: `${t(`inbox.match.${item.match}`, null, item.match)}: ` }) : null,
    ...snippet(item.snippet)) : null,
  h('div', { class: 'muted small' }, meta.filter(Boolean).join(' · '),
    item.waiting_since ? [' · ', since(item.waiting_since)] : null));
}

function callRow(call) {
  const who = call.caller_name || call.caller_id || t('pop.unknown');
  const state = call.state || 'ringing';
  return h('li', { class: 'inbox-item live', role: 'option', tabindex: -1, testid: 'inbox-call',
    'data-key': `call:${call.call_id}`, 'data-call': call.call_id, onclick: () => I.ctx.openCall(call) },
  h('div', { class: 'inbox-line' },
    h('span', { class: 'channel', 'data-channel': 'voice' }, icon('voice'),
      h('span', { class: 'channel-name', text: t('inbox.liveCall') })),
    h('strong', { class: 'who', text: who }),
    call.caller_name && call.caller_id ? h('span', { class: 'muted', text: call.caller_id }) : null),
  h('div', { class: 'muted small' }, [call.queue, call.agent, t(`callstate.${state}`, null, state)].filter(Boolean)
    .join(' · '), call.started_at ? [' · ', since(call.started_at, 'inbox.for')] : null));
}

function offerCard(offer) {
  const item = offer.item;
  const left = Math.max(0, Math.ceil((offer.deadline - Date.now()) / 1000));
  const total = Math.max(1, Math.round((offer.deadline - offer.got) / 1000)) || 1;
  return h('div', { class: 'offer', testid: 'offer', 'data-ticket': item.ticket, 'data-channel': item.channel,
    role: 'group', 'aria-label': t('inbox.offerTitle') },
  h('div', { class: 'offer-main' },
    h('span', { class: 'channel big', 'data-channel': item.channel }, icon(item.channel)),
    h('div', {},
      h('div', { class: 'offer-head' }, h('strong', { text: t('inbox.offerTitle') }), ' ',
        h('span', { class: 'muted', text: `${channelName(item.channel)} · ${item.queue || ''} · ${t('ticket.title', { id: item.ticket })}` }),
        priorityBadge(item.priority), slaBadge(item.sla)),
      h('div', { class: 'offer-who', testid: 'offer-customer', text: label(item) }),
      h('div', { class: 'offer-subject', text: item.subject || item.preview || t('ticket.noSubject') }),
      item.subject && item.preview ? h('div', { class: 'muted small', text: item.preview }) : null)),
  h('div', { class: 'offer-actions' },
    h('span', { class: 'countdown', testid: 'offer-countdown', 'data-deadline': offer.deadline, role: 'timer',
      text: t('inbox.offerExpires', { n: left }) }),
    h('progress', { class: 'offer-left', max: total, value: left, 'aria-hidden': 'true' }),
    h('button', { type: 'button', class: 'primary', testid: 'offer-accept', onclick: () => accept(item.ticket),
      'aria-keyshortcuts': 'a' }, t('inbox.accept')),
    h('button', { type: 'button', testid: 'offer-decline', onclick: () => decline(item.ticket),
      'aria-keyshortcuts': 'd' }, t('inbox.decline'))));
}

function renderOffers() {
  const offers = [...I.offers.values()].filter((o) => o.deadline > Date.now());
  const box = $('#offers');
  box.hidden = !offers.length;
  box.dataset.alerts = String(I.alerts);
  const had = box.contains(document.activeElement) ? document.activeElement.dataset.testid : '';
  box.replaceChildren(...offers.map(offerCard));
  if (had) { // a re-render keeps the keyboard where it was
    const again = box.querySelector(`[data-testid="${had}"]`);
    if (again) again.focus();
  }
}

function render() {
  if (!I.ctx) return;
  renderTabs();
  renderOffers();
  const list = $('#inbox-list');
  const hadFocus = list.contains(document.activeElement);
  const rows = [...I.calls.map(callRow), ...I.items.map(itemRow)];
  list.replaceChildren(...rows);
  const empty = $('#inbox-empty');
  empty.hidden = rows.length > 0;
  empty.textContent = t(I.view === 'search' && !searching() ? 'inbox.searchFirst' : `inbox.empty.${I.view}`);
  $('#inbox-count').textContent = I.items.length ? String(I.items.length) : '';
  // Roving focus: one row is in the tab order (the one last focused, else the first).
  const keep = rows.find((r) => r.dataset.key === I.focused) || rows[0];
  if (keep) {
    keep.tabIndex = 0;
    keep.setAttribute('aria-selected', 'true');
    if (hadFocus) keep.focus();
  }
}

/** Every second: waiting times and countdowns; offers whose time ran out leave. */
function tick() {
  const now = nowS();
  for (const el of document.querySelectorAll('#inbox-list [data-since]')) {
    el.textContent = t(el.dataset.key, { time: dur(now - Number(el.dataset.since)) });
  }
  let gone = false;
  for (const [ticket, offer] of I.offers) {
    if (offer.deadline <= Date.now()) {
      I.offers.delete(ticket);
      status(t('inbox.expired', { id: ticket }));
      gone = true;
    }
  }
  if (gone) {
    renderOffers();
    schedule();
    return;
  }
  for (const el of document.querySelectorAll('#offers [data-deadline]')) {
    const left = Math.max(0, Math.ceil((Number(el.dataset.deadline) - Date.now()) / 1000));
    el.textContent = t('inbox.offerExpires', { n: left });
    const bar = el.parentElement.querySelector('progress');
    if (bar) bar.value = left;
  }
}

// -- offers: chime and desktop notification ------------------------------------------------------

function unlockAudio() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  try {
    if (!I.audio) I.audio = new Ctx();
    if (I.audio.state === 'suspended') I.audio.resume().catch(() => {});
  } catch { I.audio = null; }
}

/** Two short tones (A5, E6): made here, no sound file. Silent until the page had a gesture. */
function chime() {
  const ctx = I.audio;
  if (!ctx) return;
  try {
    const start = ctx.currentTime + 0.01;
    for (const [freq, at] of [[880, 0], [1318.5, 0.16]]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, start + at);
      gain.gain.exponentialRampToValueAtTime(0.2, start + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + at + 0.14);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start + at);
      osc.stop(start + at + 0.15);
    }
  } catch { /* no audio here: the banner says it */ }
}

function notifyChoice() {
  try { return localStorage.getItem(NOTIFY_KEY) || ''; } catch { return ''; }
}

function rememberNotify(value) {
  try { localStorage.setItem(NOTIFY_KEY, value); } catch { /* private mode: this page only */ }
}

const canNotify = () => 'Notification' in window;
const notifying = () => canNotify() && Notification.permission === 'granted' && notifyChoice() !== 'off';

/** The browser's permission, asked once (on a gesture of the agent's), the answer remembered by it. */
async function askNotify() {
  if (!canNotify() || Notification.permission !== 'default') return;
  rememberNotify('asked');
  try { await Notification.requestPermission(); } catch { /* an old browser: callback form only */ }
  renderNotify();
}

function renderNotify() {
  const button = $('#inbox-notify');
  if (!canNotify()) { button.hidden = true; return; }
  const permission = Notification.permission;
  button.hidden = false;
  button.disabled = permission === 'denied';
  button.dataset.state = permission === 'denied' ? 'blocked' : notifying() ? 'on' : 'off';
  button.setAttribute('aria-pressed', String(notifying()));
  button.textContent = t(permission === 'denied' ? 'inbox.notifyBlocked' : notifying() ? 'inbox.notifyOn' : 'inbox.notifyOff');
}

function announce(item) {
  I.alerts += 1;
  chime();
  $('#offers').dataset.alerts = String(I.alerts);
  if (!notifying() || document.hasFocus()) return; // on screen, the banner is enough
  try {
    const n = new Notification(t('inbox.notifyTitle', { channel: channelName(item.channel), name: label(item) }), {
      body: (item.subject || item.preview || '').slice(0, 200), tag: `offer-${item.ticket}`, renotify: true });
    n.onclick = () => {
      window.focus();
      const accept = $(`#offers [data-ticket="${item.ticket}"] [data-testid="offer-accept"]`);
      if (accept) accept.focus();
      n.close();
    };
  } catch { /* notifications refused here (some browsers: only from a service worker) */ }
}

/** An "inbox" message of the page's socket: `withdrawn` (a ticket) is an offer of mine that ended. */
export function changed(msg) {
  if (msg.withdrawn != null && I.offers.delete(msg.withdrawn)) renderOffers();
  schedule();
}

/** An "offer" message of the page's socket: {item, expires}. */
export function offer(msg) {
  const item = msg.item;
  if (!item || item.ticket == null) return;
  const expires = msg.expires ?? item.offer_expires;
  const known = I.offers.has(item.ticket);
  I.offers.set(item.ticket, { item, deadline: deadlineOf(expires), got: Date.now() });
  if (!known) announce(item);
  renderOffers();
  render();
  schedule(); // the list shows it too
}

// -- actions -------------------------------------------------------------------------------------

function gesture() {
  unlockAudio();
  if (notifyChoice() === '') askNotify(); // asked once, on the first thing the agent does here
}

function known(ticket) {
  const offer = I.offers.get(ticket);
  return offer ? offer.item : I.items.find((x) => x.ticket === ticket) || null;
}

async function accept(ticket) {
  gesture();
  const item = known(ticket);
  let answer;
  try {
    answer = await api('POST', `/api/inbox/${enc(ticket)}/accept`, {}, { quiet: true });
  } catch (err) {
    I.offers.delete(ticket);
    render();
    if (err.status !== 401) status(explain(err), 'error');
    schedule(0);
    return;
  }
  I.offers.delete(ticket);
  render();
  status(t('inbox.accepted', { id: ticket }), 'ok');
  const row = answer && answer.ticket;
  I.ctx.openItem(item || { ticket, kind: 'ticket', chat: null, channel: (row && row.channel) || '',
    customer: { id: row && row.customer_id, name: '' }, queue: (row && row.queue) || '' });
  schedule(0);
}

async function decline(ticket) {
  gesture();
  I.offers.delete(ticket);
  render();
  if (await quietly(api('POST', `/api/inbox/${enc(ticket)}/decline`, {})) !== undefined) {
    status(t('inbox.declined', { id: ticket }));
  }
  schedule(0);
}

async function next() {
  gesture();
  const button = $('#inbox-next');
  button.disabled = true;
  try {
    const answer = await api('POST', '/api/inbox/next', {}, { quiet: true });
    if (answer && answer.item) {
      I.offers.delete(answer.item.ticket);
      status(t('inbox.accepted', { id: answer.item.ticket }), 'ok');
      I.ctx.openItem(answer.item);
    }
  } catch (err) {
    if (err.id === 'no-work') status(t('inbox.noWork'));
    else if (err.status !== 401) status(explain(err), 'error');
  } finally {
    button.disabled = false;
  }
  schedule(0);
}

function open(item) {
  gesture();
  I.focused = `item:${item.ticket}`;
  I.ctx.openItem(item);
}

function setView(view, focusTab = false) {
  if (!VIEWS.includes(view)) return;
  if (view !== I.view) {
    I.view = view;
    I.items = [];
    I.calls = [];
    I.focused = '';
    render();
    load();
  }
  if (focusTab) $(`#inbox-tab-${view}`).focus();
}

// -- keyboard ------------------------------------------------------------------------------------

function rows() {
  return [...$('#inbox-list').children];
}

function move(step) {
  const all = rows();
  if (!all.length) return;
  const at = all.indexOf(document.activeElement);
  const from = at >= 0 ? at : all.findIndex((r) => r.dataset.key === I.focused);
  const to = Math.min(all.length - 1, Math.max(0, from < 0 ? 0 : from + step));
  for (const r of all) {
    r.tabIndex = -1;
    r.removeAttribute('aria-selected');
  }
  all[to].tabIndex = 0;
  all[to].setAttribute('aria-selected', 'true');
  I.focused = all[to].dataset.key;
  all[to].focus();
  all[to].scrollIntoView({ block: 'nearest' });
}

/** The ticket a/d act on: the focused row's when it is offered to me, else the offer that ends first. */
function offerInFocus() {
  const el = document.activeElement;
  const card = el && el.closest && el.closest('[data-testid="offer"], [data-testid="inbox-item"]');
  const ticket = card ? Number(card.dataset.ticket) : NaN;
  if (I.offers.has(ticket)) return ticket;
  const first = [...I.offers.entries()].sort((a, b) => a[1].deadline - b[1].deadline)[0];
  return first ? first[0] : null;
}

function onKey(ev) {
  if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || !I.ctx) return;
  const el = ev.target;
  if (el && el.closest && el.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]')) {
    if (ev.key === 'Escape' && el.id === 'inbox-q') { // out of the search box, back to the list
      ev.preventDefault();
      move(0);
    }
    return;
  }
  const inList = $('#inbox-list').contains(el);
  const inTabs = $('#inbox-tabs').contains(el);
  let done = true;
  if (inTabs && (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft')) {
    const i = VIEWS.indexOf(I.view) + (ev.key === 'ArrowRight' ? 1 : -1);
    setView(VIEWS[(i + VIEWS.length) % VIEWS.length], true);
  } else if (ev.key === 'j' || (inList && ev.key === 'ArrowDown')) move(1);
  else if (ev.key === 'k' || (inList && ev.key === 'ArrowUp')) move(-1);
  else if (inList && ev.key === 'Home') move(-Infinity);
  else if (inList && ev.key === 'End') move(Infinity);
  else if (inList && ev.key === 'Enter') el.click();
  else if (ev.key === 'a' || ev.key === 'd') {
    const ticket = offerInFocus();
    if (ticket == null) done = false;
    else if (ev.key === 'a') accept(ticket);
    else decline(ticket);
  } else if (ev.key === 'n') next();
  else if (ev.key === '/') {
    setView('search');
    $('#inbox-q').focus();
  } else done = false;
  if (done) ev.preventDefault();
}

// -- wiring --------------------------------------------------------------------------------------

function wire() {
  for (const view of VIEWS) $(`#inbox-tab-${view}`).addEventListener('click', () => { gesture(); setView(view); });
  $('#inbox-next').addEventListener('click', next);
  $('#inbox-notify').addEventListener('click', async () => {
    unlockAudio();
    if (canNotify() && Notification.permission === 'default') await askNotify();
    else if (notifying()) rememberNotify('off');
    else rememberNotify('asked');
    renderNotify();
  });
  $('#inbox-search').addEventListener('submit', (ev) => {
    ev.preventDefault();
    load();
  });
  $('#inbox-q').addEventListener('input', () => schedule(SEARCH_AFTER));
  for (const sel of ['#inbox-status', '#inbox-channel', '#inbox-queue', '#inbox-sla', '#inbox-agent']) {
    $(sel).addEventListener('change', () => load());
  }
  document.addEventListener('keydown', onKey);
  // Browsers play sound only after a gesture: the first click or key of the page opens the audio.
  for (const type of ['pointerdown', 'keydown']) document.addEventListener(type, unlockAudio, { once: true, capture: true });
  setInterval(tick, 1000);
}

/** Once, from agent.js: how to read its state and open what the inbox lists. */
export function init(ctx) {
  I.ctx = ctx;
  wire();
  renderFilters();
  renderNotify();
  renderTabs();
}

/** At each snapshot (the first, and after every reconnect): the inbox afresh. */
export function refresh() {
  renderFilters();
  load();
}

/** The language changed, or the agents and queues the filters offer. */
export function rerender() {
  renderFilters();
  renderNotify();
  render();
}
