// Web chats on the agent page: the list of my chats (a supervisor's: every live one), the chat on
// screen with its reply box, canned replies, transfer, end, verifying what the visitor gave, and
// chat → call. GET /api/chats fills it at each snapshot; "chat" messages of the page's socket move it.
import { t } from './i18n.js';
import { api, explain, status } from './api.js';
import { $, h, when } from './dom.js';

const enc = encodeURIComponent;
const TYPING_SHOWN = 4000; // ms "the visitor is typing" stays up after their last keystroke
const TYPING_EVERY = 2000; // ms between our own typing notices

const C = {
  ctx: null, // from agent.js: { me(), agents(), queues(), openCustomer(chat, label) }
  chats: new Map(), // id → chat with its messages
  selected: null, // id of the chat on screen
  unread: new Set(), // ids with a visitor's message not seen yet
  typing: new Map(), // id → timer of "the visitor is typing"
  drafts: new Map(), // id → reply text kept while another chat is on screen
  canned: [],
  shown: { id: null, ids: [] }, // what #chat-lines holds: new lines are appended, not redrawn
  loading: null,
  again: false, // a load was asked for while one ran
  sending: false,
  typingSent: 0,
};

const boss = () => ['supervisor', 'admin'].includes(C.ctx.me().role);
const myName = () => C.ctx.me().agent || C.ctx.me().name;
const mine = (c) => boss() || (!!c.agent && c.agent === myName());
const current = () => C.chats.get(C.selected) || null;
const live = (c) => c.state === 'waiting' || c.state === 'active';
const contactOf = (c) => c.contact || {};
const label = (c) => contactOf(c).name || contactOf(c).email || contactOf(c).phone
  || t('chats.visitor', { id: c.visitor || c.id });
const size = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB`
  : n >= 1024 ? `${Math.round(n / 1024)} KB` : `${n || 0} B`);

/** Is `value` among what an agent verified? Phones compare by their last digits ("030 123" = "+4930123"). */
function verified(c, kind, value) {
  const digits = (s) => String(s).replace(/\D/g, '').replace(/^0+/, '');
  return (c.verified || []).some((v) => {
    const [k, ...rest] = String(v).split(':');
    const got = rest.join(':');
    if (k !== kind) return false;
    return kind === 'phone' ? !!digits(value) && digits(got).endsWith(digits(value))
      : got.toLowerCase() === String(value).trim().toLowerCase();
  });
}

/** An attachment's link: the server's url for it (a path on this server, nothing else), or none. */
function fileUrl(a) {
  return typeof a.url === 'string' && a.url.startsWith('/') && !a.url.startsWith('//') ? a.url : null;
}

// -- state -----------------------------------------------------------------------------------------

function addMessage(c, m) {
  if (!m || m.id == null || c.messages.some((x) => x.id === m.id)) return false;
  c.messages.push(m);
  c.messages.sort((a, b) => a.id - b.id);
  if (m.from === 'visitor') {
    stopTyping(c.id);
    if (c.id !== C.selected || document.hidden) C.unread.add(c.id);
  }
  return true;
}

function upsert(chat) {
  const known = C.chats.get(chat.id);
  const c = { ...known, ...chat, messages: known ? known.messages : [] };
  C.chats.set(c.id, c);
  for (const m of chat.messages || []) addMessage(c, m);
  return c;
}

function drop(id) {
  C.chats.delete(id);
  C.unread.delete(id);
  C.drafts.delete(id);
  stopTyping(id);
  if (C.selected === id) { // the next chat comes on screen at the next render
    C.selected = null;
    $('#chat-reply').value = '';
  }
}

function stopTyping(id) {
  clearTimeout(C.typing.get(id));
  C.typing.delete(id);
}

function sorted() {
  const rank = { active: 0, waiting: 1, ended: 2 };
  return [...C.chats.values()].sort((a, b) => (rank[a.state] ?? 3) - (rank[b.state] ?? 3)
    || (a.started_at || 0) - (b.started_at || 0));
}

/** GET /api/chats (at each snapshot, and for a chat we did not know): the list, merged with ours. */
async function load() {
  if (C.loading) { C.again = true; return; }
  C.loading = (async () => {
    let data;
    try {
      data = await api('GET', '/api/chats', undefined, { quiet: true });
    } catch (err) {
      $('#chats').hidden = err.status === 404; // chat turned off (no routes)
      return;
    }
    $('#chats').hidden = false;
    const list = (data && data.chats) || [];
    const ids = new Set(list.map((c) => c.id));
    for (const id of [...C.chats.keys()]) if (!ids.has(id) && live(C.chats.get(id))) drop(id);
    for (const c of list) upsert(c);
    render();
  })();
  await C.loading;
  C.loading = null;
  if (C.again) {
    C.again = false;
    load();
  }
}

async function loadCanned() {
  try {
    const data = await api('GET', '/api/chats/canned', undefined, { quiet: true });
    C.canned = (data && data.replies) || [];
  } catch { C.canned = []; }
  renderCanned();
}

/** A "chat" message of the page's socket: {event, chat, message}. */
export function event(msg) {
  const chat = msg.chat;
  if (!chat || chat.id == null) return;
  const known = C.chats.get(chat.id);
  if (!mine(chat)) { // transferred away, requeued, or taken by someone else: not on my page
    if (known) { drop(chat.id); render(); }
    return;
  }
  const c = upsert(chat);
  addMessage(c, msg.message);
  if (msg.event === 'typing') {
    stopTyping(c.id);
    C.typing.set(c.id, setTimeout(() => { C.typing.delete(c.id); render(); }, TYPING_SHOWN));
  }
  if (!known) { // new to this page: its earlier messages come with the list
    C.unread.add(c.id);
    if (c.agent === myName()) status(t('chats.assigned', { who: label(c) }), 'ok');
    load();
  }
  render();
}

// -- rendering -------------------------------------------------------------------------------------

export function render(full = false) {
  if (!C.ctx) return;
  if (!C.chats.has(C.selected) && (C.selected != null || C.chats.size)) choose(sorted()[0]?.id ?? null);
  if (full) renderCanned(); // its title is in the page's language
  renderList();
  renderView(full);
}

function renderList() {
  const list = sorted();
  $('#chats-none').hidden = list.length > 0;
  $('#chats-list').replaceChildren(...list.map((c) => h('li', {},
    h('button', { type: 'button', class: 'chat-item', testid: 'chat-item', 'data-id': c.id, 'data-state': c.state,
      'data-unread': String(C.unread.has(c.id)), 'aria-pressed': String(c.id === C.selected), onclick: () => select(c.id) },
    C.unread.has(c.id) ? h('span', { class: 'unread', text: t('chats.unread') }) : null,
    h('strong', { text: label(c) }), ' ',
    h('span', { class: 'muted small', text: [c.queue, t(`chatstate.${c.state}`, null, c.state),
      boss() && c.agent ? c.agent_name || c.agent : '', C.typing.has(c.id) ? t('chats.typingShort') : '']
      .filter(Boolean).join(' · ') })))));
}

function renderView(full) {
  const c = current();
  $('#chat-view').hidden = !c;
  if (!c) return;
  const contact = contactOf(c);
  const mark = (kind, value) => (verified(c, kind, value) ? ` ✓ ${t('chats.verified')}` : '');
  $('#chat-head').replaceChildren(
    h('h3', {}, h('span', { text: label(c) }), ' ', h('span', { class: 'muted', text: t('chats.number', { id: c.id }) })),
    h('dl', { class: 'pairs' }, [
      [t('pop.queue'), c.queue || '—'],
      [t('chats.state'), t(`chatstate.${c.state}`, null, c.state)],
      [t('chats.agent'), c.agent_name || c.agent || '—'],
      [t('chats.started'), when(c.started_at)],
      [t('chats.visitorPage'), t(c.visitor_online ? 'chats.online' : 'chats.gone')],
      contact.name ? [t('chats.name'), contact.name] : null,
      contact.email ? [t('identity.email'), `${contact.email}${mark('email', contact.email)}`] : null,
      contact.phone ? [t('identity.phone'), `${contact.phone}${mark('phone', contact.phone)}`] : null,
    ].filter(Boolean).flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])));

  const email = $('#chat-verify-email');
  email.hidden = !contact.email || verified(c, 'email', contact.email);
  email.textContent = t('chats.verifyEmail', { value: contact.email || '' });
  const phone = $('#chat-verify-phone');
  phone.hidden = !contact.phone || verified(c, 'phone', contact.phone);
  phone.textContent = t('chats.verifyPhone', { value: contact.phone || '' });
  $('#chat-call').hidden = !contact.phone && !(c.verified || []).some((v) => String(v).startsWith('phone:'));
  $('#chat-customer').hidden = c.customer_id == null && c.ticket_id == null;
  $('#chat-end-go').hidden = !live(c);
  $('#chat-dismiss').hidden = live(c);
  for (const sel of ['#chat-reply', '#chat-reply-send', '#chat-canned', '#chat-transfer', '#chat-transfer-go']) {
    $(sel).disabled = !live(c);
  }
  $('#chat-visitor-typing').hidden = !C.typing.has(c.id);
  renderLines(c, full);
  renderTransfer();
}

function line(c, m) {
  const who = m.name || t(`chats.from.${m.from}`, null, m.from);
  return h('li', { testid: 'chat-line', class: 'chat-line', 'data-from': m.from, 'data-id': m.id },
    h('div', { class: 'muted small' }, h('strong', { text: who }), ` · ${when(m.at)}`),
    m.text ? h('div', { class: 'chat-text', dir: 'auto', text: m.text }) : null,
    (m.attachments || []).map((a, n) => h('div', { class: 'small' },
      h('a', { href: fileUrl(a), testid: 'chat-attachment', target: '_blank', rel: 'noopener',
        text: a.name || `#${n + 1}` }),
      ' ', h('span', { class: 'muted', text: `${a.type || ''} ${size(a.bytes)}` }))));
}

/** The lines of the chat on screen; while it only grows, new lines are appended (no redraw, no re-read). */
function renderLines(c, full) {
  const box = $('#chat-lines');
  const ids = c.messages.map((m) => m.id);
  const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const grows = !full && C.shown.id === c.id && C.shown.ids.every((id, i) => ids[i] === id);
  if (grows) {
    box.append(...c.messages.slice(C.shown.ids.length).map((m) => line(c, m)));
  } else {
    box.replaceChildren(...(c.messages.length ? c.messages.map((m) => line(c, m))
      : [h('li', { class: 'muted', text: t('chats.noMessages') })]));
  }
  if (!grows || atEnd) box.scrollTop = box.scrollHeight;
  C.shown = { id: c.id, ids: c.messages.length ? ids : [] };
  if (!grows && !c.messages.length) C.shown.id = null; // the placeholder goes with the first line
}

/** Transfer targets: the snapshot's agents (not the chat's own) and queues. */
export function renderTransfer() {
  const select = $('#chat-transfer');
  const c = current();
  const keep = select.value;
  const agents = [...C.ctx.agents().values()].filter((a) => !c || a.name !== c.agent);
  const queues = [...C.ctx.queues().keys()];
  select.replaceChildren(h('option', { value: '', text: t('chats.transferPick') }),
    agents.length ? h('optgroup', { label: t('chats.agents') }, agents.map((a) => h('option', { value: `agent:${a.name}`,
      text: `${a.full_name || a.name} · ${t(`state.${a.state}`, null, a.state || '')}` }))) : null,
    queues.length ? h('optgroup', { label: t('chats.queues') }, queues.map((q) => h('option', { value: `queue:${q}`, text: q })))
      : null);
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

function renderCanned() {
  $('#chat-canned').replaceChildren(h('option', { value: '', text: t('chats.cannedPick') }),
    ...C.canned.map((r, i) => h('option', { value: String(i), text: `${r.key}: ${r.text.slice(0, 60)}` })));
  $('#chat-canned').hidden = !C.canned.length;
}

/** The chat on screen becomes `id`: a half-written reply stays with its own chat. */
function choose(id) {
  const box = $('#chat-reply');
  if (C.selected === id) return;
  if (C.selected != null) C.drafts.set(C.selected, box.value);
  box.value = C.drafts.get(id) || '';
  C.selected = id;
  C.unread.delete(id);
  showError('');
}

function select(id) {
  choose(id);
  render();
}

// -- actions ---------------------------------------------------------------------------------------

function showError(text) {
  $('#chat-error').textContent = text;
}

/** POST for the chat on screen; errors show in the chat view. Returns the answer, or undefined. */
async function post(path, body) {
  const c = current();
  if (!c) return undefined;
  showError('');
  try {
    return (await api('POST', `/api/chats/${enc(c.id)}${path}`, body, { quiet: true })) ?? {};
  } catch (err) {
    if (err.status !== 401) showError(explain(err));
    return undefined;
  }
}

async function sendReply() {
  const c = current();
  const box = $('#chat-reply');
  const text = box.value.trim();
  if (!c || !text || C.sending) return;
  C.sending = true;
  const m = await post('/messages', { text });
  C.sending = false;
  if (m === undefined) return;
  // The box may hold more by now, or another chat's draft: only the text sent goes.
  if (C.selected === c.id && box.value.trim() === text) box.value = '';
  C.drafts.delete(c.id);
  if (addMessage(c, m.message || m)) render();
}

function changed(answer) { // transfer, end and verify answer with the chat
  if (answer && answer.id != null) {
    if (mine(answer)) upsert(answer);
    else drop(answer.id);
  }
  render();
}

function wire() {
  $('#chat-reply-form').addEventListener('submit', (ev) => { ev.preventDefault(); sendReply(); });
  $('#chat-reply').addEventListener('keydown', (ev) => {
    // Enter sends, Shift+Enter is a new line; never while an input method is composing (Chinese).
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendReply(); }
  });
  $('#chat-reply').addEventListener('input', () => {
    const c = current();
    if (!c || !live(c) || Date.now() - C.typingSent < TYPING_EVERY || !$('#chat-reply').value.trim()) return;
    C.typingSent = Date.now();
    api('POST', `/api/chats/${enc(c.id)}/typing`, {}, { quiet: true }).catch(() => {}); // a lost notice is fine
  });
  $('#chat-canned').addEventListener('change', (ev) => {
    const reply = ev.target.value === '' ? null : C.canned[Number(ev.target.value)];
    ev.target.value = ''; // the list is a menu: it goes back to its title
    if (!reply) return;
    const box = $('#chat-reply');
    box.setRangeText(reply.text, box.selectionStart, box.selectionEnd, 'end');
    box.focus();
  });
  $('#chat-transfer-go').addEventListener('click', async () => {
    const value = $('#chat-transfer').value;
    const at = value.indexOf(':');
    if (at < 0) return showError(t('chats.transferPickFirst'));
    const [kind, name] = [value.slice(0, at), value.slice(at + 1)];
    const answer = await post('/transfer', { [kind]: name });
    if (answer === undefined) return;
    status(t('chats.transferred', { to: name }), 'ok');
    changed(answer);
  });
  $('#chat-end-go').addEventListener('click', async () => {
    const answer = await post('/end', {});
    if (answer !== undefined) changed(answer);
  });
  $('#chat-dismiss').addEventListener('click', () => {
    if (C.selected != null) drop(C.selected);
    render();
  });
  for (const kind of ['email', 'phone']) {
    $(`#chat-verify-${kind}`).addEventListener('click', async () => {
      const c = current();
      const value = c && contactOf(c)[kind];
      if (!value) return;
      const answer = await post('/verify', { kind, value });
      if (answer === undefined) return;
      status(t('chats.verifiedDone', { value }), 'ok');
      changed(answer);
    });
  }
  $('#chat-call').addEventListener('click', async () => {
    if (await post('/call', {}) !== undefined) status(t('chats.calling'), 'ok');
  });
  $('#chat-customer').addEventListener('click', () => {
    const c = current();
    if (c) C.ctx.openCustomer(c, label(c));
  });
  // A visitor's messages count as read once the agent comes back to the page with the chat on screen.
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && C.selected != null && C.unread.delete(C.selected)) renderList();
  });
}

/** Once, from agent.js: how to read its state and open a customer's file. */
export function init(ctx) {
  C.ctx = ctx;
  wire();
  renderCanned();
}

/** Chat `id` on screen (the inbox opened it): fetched first when this page does not know it yet. */
export async function show(id) {
  if (!C.chats.has(id)) await load();
  if (C.chats.has(id)) select(id);
}

/** At each snapshot (the first, and after every reconnect): the chats and canned replies afresh. */
export function refresh() {
  load();
  loadCanned();
}
