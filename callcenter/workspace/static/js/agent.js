// The agent page: presence, the inbox of work items and offers (inbox.js), screen pop with the
// customer's file, ticket editor with replies by SMS or email, wrap-up, recording, click-to-call,
// callbacks, the voicemail inbox (docs/web.md) and web chats (chats.js).
import { t, initLanguage, onLanguage } from './i18n.js';
import { api, session, status, logout, explain } from './api.js';
import { connect } from './ws.js';
import { $, h, dur, when, word, fillSelect } from './dom.js';
import * as chats from './chats.js';
import * as inbox from './inbox.js';

const STATUSES = ['new', 'open', 'pending', 'resolved', 'closed'];
const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const enc = encodeURIComponent;

const S = {
  me: null, // {name, role, agent}
  agents: new Map(), // name → row of GET /api/agents
  queues: new Map(),
  calls: new Map(), // call_id → call record
  settings: { pause_reasons: [], wrapup_codes: [] },
  pop: null, // the last pop: {call, file, ticket_id}, or a customer opened by hand: from a chat (chat: its id)
  // or from the inbox (item: the work item)
  file: null, // the customer file shown in the pop
  ticket: null, // the ticket in the editor, as last read
  wrapped: new Map(), // call_id → wrap-up code saved
  recording: new Map(), // call_id → "pause" | "resume" (last asked)
  callbacks: [],
  voicemails: [],
};

// -- helpers -------------------------------------------------------------------------------------

const pairs = (list) => list.filter(Boolean).flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]);
const audio = (id) => h('audio', { controls: true, preload: 'none', src: `/api/interactions/${enc(id)}/audio` });
const ended = (c) => c.ended_at != null || c.state === 'ended';
const talking = (c) => !ended(c) && (c.agent_answered_at != null || ['connected', 'answered'].includes(c.state));
const myRow = () => (S.me && S.me.agent ? S.agents.get(S.me.agent) : null);
const byHand = (pop) => !!pop && (pop.chat != null || pop.item != null); // opened by the agent, not by a call
const queuesOf = (row) => (row ? (Array.isArray(row.queues) ? row.queues : Object.keys(row.queues || {})) : []);

/** The call of the last pop, with what "call" messages said since. */
function popCall() {
  const id = S.pop && S.pop.call && S.pop.call.call_id;
  return id ? { ...S.pop.call, ...(S.calls.get(id) || {}) } : null;
}

/** The call the agent is talking on: the pop's, else their latest live call. */
function currentCall() {
  const pc = popCall();
  if (pc && talking(pc)) return pc;
  const mine = [...S.calls.values()].filter((c) => c.agent === (S.me && S.me.agent) && talking(c));
  return mine.sort((a, b) => b.started_at - a.started_at)[0] || null;
}

async function quietly(promise) {
  try { return await promise; } catch { return undefined; } // api() already said what went wrong
}

// -- header and presence -------------------------------------------------------------------------

function renderHeader() {
  const row = myRow();
  const name = (row && row.full_name) || (S.me && S.me.name) || '';
  $('#who').replaceChildren(h('strong', { text: name }), ' ', h('span', { class: 'muted', text: t(`role.${S.me.role}`) }));
  $('#wallboard-link').hidden = !['supervisor', 'admin'].includes(S.me.role);
}

function renderPresence() {
  const row = myRow();
  const select = $('#presence-select');
  const badge = $('#presence-state');
  $('#presence-card').hidden = !S.me.agent;
  if (!row) {
    badge.textContent = t('presence.unknown');
    badge.dataset.state = 'unknown';
    select.disabled = true;
    return;
  }
  const reason = word('reason', row.pause_reason || '—');
  badge.dataset.state = row.state;
  badge.textContent = row.state === 'paused' ? t('state.pausedReason', { reason }) : t(`state.${row.state}`, null, row.state);
  if (row.paused && row.state !== 'paused') badge.textContent += ` ${t('presence.alsoPaused', { reason })}`;
  const phone = $('#phone-state');
  phone.dataset.registered = String(!!row.registered);
  phone.dataset.reachable = String(row.reachable !== false);
  phone.textContent = !row.registered ? t('phone.unregistered')
    : row.reachable === false ? t('phone.unreachable') : t('phone.registered');

  const reasons = [...S.settings.pause_reasons];
  const current = row.paused ? (row.pause_reason || '') : 'ready';
  if (row.paused && !reasons.includes(current)) reasons.push(current);
  fillSelect(select, [['ready', t('presence.ready')],
    ...reasons.map((r) => [r, r ? t('presence.pause', { reason: word('reason', r) }) : t('state.paused')])], current);
  select.disabled = false;

  const queues = queuesOf(row);
  $('#my-queues').textContent = queues.length ? t('presence.queues', {
    list: queues.map((q) => `${q} (${t('presence.waiting', { n: (S.queues.get(q) || {}).waiting ?? 0 })})`).join(', '),
  }) : '';
}

$('#presence-select').addEventListener('change', async (ev) => {
  const value = ev.target.value;
  const agent = enc(S.me.agent);
  const row = await quietly(value === 'ready'
    ? api('POST', `/api/agents/${agent}/unpause`, {})
    : api('POST', `/api/agents/${agent}/pause`, { reason: value }));
  if (row && row.name) S.agents.set(row.name, { ...S.agents.get(row.name), ...row });
  renderPresence();
});

// -- current call: recording and wrap-up ---------------------------------------------------------

function renderCall() {
  const pc = popCall();
  const cur = currentCall();
  $('#call-card').hidden = !pc && !cur;
  const shown = cur || pc;
  if (!shown) return;
  const state = ended(shown) ? 'ended' : talking(shown) ? 'connected' : (shown.state || 'ringing');
  $('#call-line').replaceChildren(h('strong', { text: shown.caller_name || shown.caller_id || t('pop.unknown') }),
    ' ', shown.caller_name && shown.caller_id ? shown.caller_id : '', ' · ', t(`callstate.${state}`, null, state));
  $('#recording-controls').hidden = !cur;
  $('#control-box').hidden = !cur;
  const rec = cur && S.recording.get(cur.call_id);
  $('#recording-state').textContent = rec ? t(rec === 'pause' ? 'call.recPaused' : 'call.recResumed') : '';
  const wrapup = pc && (talking(pc) || ended(pc));
  $('#wrapup-box').hidden = !wrapup;
  fillSelect($('#wrapup-code'), S.settings.wrapup_codes.map((c) => [c, word('code', c)]));
  const done = pc && S.wrapped.get(pc.call_id);
  $('#wrapup-done').textContent = done ? t('wrapup.done', { code: word('code', done) }) : '';
}

async function setRecording(action) {
  const cur = currentCall();
  if (!cur) return;
  if (await quietly(api('POST', `/api/calls/${enc(cur.call_id)}/recording`, { action })) === undefined) return;
  S.recording.set(cur.call_id, action);
  status(t(action === 'pause' ? 'call.recPaused' : 'call.recResumed'), 'ok');
  renderCall();
}
/** Live call control (docs/call-control.md): the same REST API as the CLI. */
async function control(what, body, label) {
  const cur = currentCall();
  if (!cur) return;
  if (await quietly(api('POST', `/api/calls/${enc(cur.call_id)}/${what}`, body || {})) === undefined) return;
  $('#ctl-state').textContent = t('ctl.done', { what: label });
  status(t('ctl.done', { what: label }), 'ok');
}
function transferTo(attended) {
  const to = $('#ctl-target').value.trim();
  if (!to) { status(t('ctl.needTarget'), 'error'); return; }
  control('transfer', { to, attended, note: $('#ctl-note').value }, t(attended ? 'ctl.consult' : 'ctl.blind'));
}
$('#ctl-hold').addEventListener('click', () => control('hold', {}, t('ctl.hold')));
$('#ctl-resume').addEventListener('click', () => control('resume', {}, t('ctl.resume')));
$('#ctl-hangup').addEventListener('click', () => control('hangup', {}, t('ctl.hangup')));
$('#ctl-blind').addEventListener('click', () => transferTo(false));
$('#ctl-consult').addEventListener('click', () => transferTo(true));
$('#ctl-complete').addEventListener('click', () => control('transfer', { action: 'complete' }, t('ctl.complete')));
$('#ctl-cancel').addEventListener('click', () => control('transfer', { action: 'cancel' }, t('ctl.cancel')));
$('#ctl-threeway').addEventListener('click', () => control('transfer', { action: 'conference' }, t('ctl.threeway')));

$('#recording-pause').addEventListener('click', () => setRecording('pause'));
$('#recording-resume').addEventListener('click', () => setRecording('resume'));

$('#wrapup-save').addEventListener('click', async () => {
  const pc = popCall();
  const code = $('#wrapup-code').value;
  if (!pc || !code) return;
  if (await quietly(api('POST', `/api/calls/${enc(pc.call_id)}/wrapup`, { code })) === undefined) return;
  S.wrapped.set(pc.call_id, code);
  status(t('wrapup.done', { code: word('code', code) }), 'ok');
  renderCall();
});

/** The ticket a click-to-call belongs to: the one in the editor, else the pop's. */
const ticketForCall = () => (S.ticket ? S.ticket.id : S.pop && S.pop.ticket_id);

async function originate(number, ticketId) {
  const body = { number };
  if (ticketId != null) body.ticket_id = ticketId;
  if (await quietly(api('POST', '/api/originate', body)) !== undefined) status(t('call.originating', { number }), 'ok');
}

// -- screen pop and the customer's file ----------------------------------------------------------

function showPop(pop) {
  S.pop = pop;
  S.file = pop.file || null;
  $('#name-input').value = '';
  $('#link-input').value = '';
  renderPop();
  renderCall();
  if (pop.ticket_id != null) loadTicket(pop.ticket_id);
}

function renderPop() {
  $('#screen-pop').hidden = !S.pop;
  $('#idle-card').hidden = !!S.pop;
  if (!S.pop) return;
  const c = S.pop.call || {};
  const item = S.pop.item;
  const name = (S.file && S.file.customer && S.file.customer.name) || c.caller_name
    || t(item ? 'file.unnamed' : 'pop.unknown');
  $('#pop-title').textContent = t(byHand(S.pop) ? 'pop.customer' : 'pop.title');
  const channel = item ? t(`channel.${item.channel}`, null, item.channel || '') : '';
  $('#pop-call').replaceChildren(
    h('p', { class: 'caller' }, h('strong', { testid: 'pop-caller-name', text: name }), ' ',
      h('span', { testid: 'pop-caller-number', text: item ? `${channel} · ${t('ticket.title', { id: item.ticket })}`
        : S.pop.chat != null ? t('chats.number', { id: S.pop.chat }) : c.caller_id || t('pop.unknown') })),
    h('dl', { class: 'pairs' }, pairs(item ? [
      [t('pop.queue'), item.queue || '—'],
      [t('ticket.priority'), t(`priority.${item.priority}`, null, item.priority || '—')],
      [t('inbox.waitingSince'), item.waiting_since ? when(item.waiting_since) : '—']] : [
      [t('pop.did'), c.did || '—'], [t('pop.queue'), c.queue || '—'],
      [t('pop.wait'), c.wait_seconds == null ? '—' : t('unit.seconds', { n: Math.round(c.wait_seconds) })]])));
  const path = c.ivr_path || [];
  $('#pop-ivr').hidden = !!item;
  $('#pop-ivr').replaceChildren(h('p', {}, h('span', { class: 'muted', text: `${t('pop.ivr')}: ` }),
    path.length ? `${c.flow ? `${c.flow}: ` : ''}${path.join(' → ')}` : t('pop.noIvr')));
  $('#pop-variables').replaceChildren(...pairs(Object.entries(c.variables || {}).map(([k, v]) => [k, String(v)])));
  renderFile();
}

function renderFile() {
  const f = S.file;
  const customer = f && f.customer;
  $('#name-form').hidden = !customer || !!customer.name;
  $('#link-form').hidden = !customer || !!customer.name;
  if (!customer) {
    $('#pop-file').replaceChildren(h('p', { class: 'muted', text: t('file.none') }));
    $('#pop-tickets').replaceChildren();
    $('#pop-timeline').replaceChildren();
    return;
  }
  $('#pop-file').replaceChildren(...[
    h('h3', {}, customer.name || t('file.unnamed'), ' ', h('span', { class: 'muted', text: `#${customer.id}` })),
    (customer.tags || []).length ? h('p', { class: 'tags' }, customer.tags.map((x) => h('span', { class: 'tag', text: x }))) : null,
    h('ul', { class: 'plain', testid: 'identities' }, (f.identities || []).map((i) => h('li', {},
      h('span', { class: 'muted', text: `${t(`identity.${i.kind}`, null, i.kind)}: ` }), i.value, ' ',
      i.kind === 'phone' ? h('button', { type: 'button', class: 'small', testid: 'click-to-call',
        'data-number': i.value, onclick: () => originate(i.value, ticketForCall()) }, t('call.call')) : null)))].filter(Boolean));
  const tickets = f.open_tickets || [];
  $('#pop-tickets').replaceChildren(...(tickets.length ? tickets.map((tk) => h('li', {},
    h('button', { type: 'button', class: 'link', 'data-ticket': tk.id, onclick: () => loadTicket(tk.id) },
      `#${tk.id} `, tk.subject || t('ticket.noSubject')),
    ' ', h('span', { class: 'muted', text: `${t(`status.${tk.status}`, null, tk.status)} · ${t(`priority.${tk.priority}`, null, tk.priority)}` })))
    : [h('li', { class: 'muted', text: t('file.noTickets') })]));
  const timeline = f.timeline || [];
  $('#pop-timeline').replaceChildren(...(timeline.length ? timeline.map(timelineItem)
    : [h('li', { class: 'muted', text: t('file.noTimeline') })]));
}

function timelineItem(i) {
  const who = [i.queue, i.agent].filter(Boolean).join(' / ');
  const meta = [when(i.started_at), t(`direction.${i.direction}`, null, i.direction || '')];
  if (who) meta.push(who);
  if (i.talk_seconds != null) meta.push(t('timeline.talk', { n: i.talk_seconds }));
  if (i.abandoned) meta.push(t('timeline.abandoned'));
  return h('li', { testid: 'timeline-item', 'data-channel': i.channel, 'data-id': i.id },
    h('div', {}, h('strong', { text: t(`channel.${i.channel}`, null, i.channel) }), ' ',
      h('span', { class: 'muted', text: meta.join(' · ') })),
    i.subject ? h('div', { text: i.subject }) : null,
    i.body && i.channel !== 'voice' ? h('blockquote', { class: 'body', text: i.body }) : null,
    i.recording_path && !i.purged_at ? audio(i.id) : null,
    // An email's HTML part, sanitized, opens as its own sandboxed document (never inside this page).
    i.variables && i.variables.html_view ? h('a', { href: `/api/interactions/${enc(i.id)}/html`, target: '_blank',
      rel: 'noopener noreferrer', testid: 'timeline-html', text: t('timeline.html') }) : null);
}

$('#name-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = $('#name-input').value.trim();
  if (!name || !S.file) return;
  const id = S.file.customer.id;
  const file = await quietly(api('PATCH', `/api/customers/${id}`, { name }));
  if (file === undefined) return;
  S.file = file && file.customer ? file : await quietly(api('GET', `/api/customers/${id}`)) || S.file;
  $('#name-input').value = '';
  status(t('file.named', { name }), 'ok');
  renderPop();
});

$('#link-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const q = $('#link-input').value.trim();
  if (!q || !S.file) return;
  let found;
  try {
    found = await api('GET', `/api/customers?q=${enc(q)}`, undefined, { quiet: true });
  } catch (err) {
    status(err.status === 404 ? t('file.notFound', { q }) : explain(err), 'error');
    return;
  }
  if (!found || !found.customer) return status(t('file.notFound', { q }), 'error');
  const target = found.customer.id;
  const source = S.file.customer.id;
  if (target === source) return status(t('file.same'), 'error');
  if (await quietly(api('POST', `/api/customers/${target}/merge`, { source })) === undefined) return;
  S.file = await quietly(api('GET', `/api/customers/${target}`)) || found;
  $('#link-input').value = '';
  status(t('file.linked', { id: target, name: found.customer.name || '' }), 'ok');
  renderPop();
  if (S.ticket) loadTicket(S.ticket.id, true);
});

async function reloadFile() {
  if (!S.file || !S.file.customer) return;
  const file = await quietly(api('GET', `/api/customers/${S.file.customer.id}`, undefined, { quiet: true }));
  if (file && file.customer) {
    S.file = file;
    renderPop();
  }
}

/**
 * A chat's customer file and ticket (the chat's "Customer file" button). The file takes the pop's
 * place unless a call is still on it: then only the ticket opens, so wrap-up keeps its call.
 */
async function openCustomer(chat, label) {
  const pc = popCall();
  if (pc && !ended(pc)) {
    if (chat.ticket_id != null) loadTicket(chat.ticket_id);
    return;
  }
  const file = chat.customer_id != null ? await quietly(api('GET', `/api/customers/${enc(chat.customer_id)}`)) : null;
  showPop({ call: { caller_name: label, queue: chat.queue }, file: file && file.customer ? file : null,
    ticket_id: chat.ticket_id ?? null, chat: chat.id });
}

/**
 * A work item of the inbox opened (clicked, Enter, accepted, "Next"): its customer's file with its
 * ticket in the editor, and a chat's conversation in the Chats panel. As for a chat, a call still
 * on the pop keeps it: then only the ticket opens.
 */
async function openItem(item) {
  if (item.kind === 'chat' && item.chat != null) chats.show(item.chat);
  const pc = popCall();
  if (pc && !ended(pc)) {
    if (item.ticket != null) loadTicket(item.ticket);
    return;
  }
  const customer = item.customer || {};
  const file = customer.id != null ? await quietly(api('GET', `/api/customers/${enc(customer.id)}`)) : null;
  showPop({ call: { caller_name: customer.name || '', queue: item.queue }, file: file && file.customer ? file : null,
    ticket_id: item.ticket ?? null, item, chat: item.kind === 'chat' ? item.chat : null });
}

/** A live call of the inbox opened: its pop when it is the pop's call, else the caller's file. */
async function openCall(call) {
  const pc = popCall();
  if (pc && pc.call_id === call.call_id) {
    $('#screen-pop').scrollIntoView({ block: 'start' });
    return;
  }
  if (pc && !ended(pc)) return; // the agent's own call keeps the pop
  let file = null;
  if (call.caller_id) {
    try {
      file = await api('GET', `/api/customers?q=${enc(call.caller_id)}`, undefined, { quiet: true });
    } catch { file = null; } // no customer for that number (404): the call alone
  }
  showPop({ call, file: file && file.customer ? file : null, ticket_id: null });
}

// -- ticket editor -------------------------------------------------------------------------------

async function loadTicket(id, keepText = false) {
  const ticket = await quietly(api('GET', `/api/tickets/${enc(id)}`));
  if (!ticket) return false;
  S.ticket = ticket;
  if (!keepText) {
    $('#ticket-note').value = '';
    $('#ticket-tag').value = '';
    $('#ticket-reply-text').value = ''; // a reply half-written for another ticket must not go to this one
    $('#ticket-reply-subject').value = '';
    $('#ticket-reply-error').textContent = '';
    if (['sms', 'email'].includes(ticket.channel)) $('#ticket-reply-channel').value = ticket.channel;
    renderReplyChannel();
  }
  renderTicket(true);
  return true;
}

function renderTicket(reset = false) {
  const tk = S.ticket;
  $('#ticket-editor').hidden = !tk;
  if (!tk) return;
  $('#ticket-title').replaceChildren(`${t('ticket.title', { id: tk.id })} `, h('span', { text: tk.subject || t('ticket.noSubject') }));
  $('#ticket-meta').textContent = [t('ticket.customer', { id: tk.customer_id }), tk.topic,
    t('ticket.updated', { when: when(tk.updated_at) }),
    tk.resolution_due ? t('ticket.due', { when: when(tk.resolution_due) }) : ''].filter(Boolean).join(' · ');
  $('#ticket-tags').replaceChildren(...(tk.tags || []).map((x) => h('span', { class: 'tag', text: x })));
  fillSelect($('#ticket-status'), STATUSES.map((s) => [s, t(`status.${s}`)]), reset ? tk.status : undefined);
  fillSelect($('#ticket-priority'), PRIORITIES.map((p) => [p, t(`priority.${p}`)]), reset ? tk.priority : undefined);
  if (reset) $('#ticket-assignee').value = tk.assignee || '';
  $('#ticket-history').replaceChildren(...(tk.history || []).slice(-20).reverse().map((c) => h('li', {},
    h('span', { class: 'muted', text: `${when(c.at)} ${c.actor}: ` }), `${c.field} `,
    c.old ? `${c.old} → ` : '', c.new || '')));
}

$('#ticket-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const tk = S.ticket;
  if (!tk) return;
  const body = {};
  const value = (sel) => $(sel).value.trim();
  if (value('#ticket-status') !== tk.status) body.status = value('#ticket-status');
  if (value('#ticket-priority') !== tk.priority) body.priority = value('#ticket-priority');
  if (value('#ticket-assignee') !== (tk.assignee || '')) body.assignee = value('#ticket-assignee');
  const tags = value('#ticket-tag').split(',').map((x) => x.trim()).filter(Boolean);
  if (tags.length) body.add_tags = tags;
  if (value('#ticket-note')) body.note = value('#ticket-note');
  if (!Object.keys(body).length) return status(t('ticket.unchanged'));
  body.edits = tk.edits; // a conflict is another person's edit, not this call being answered
  try {
    S.ticket = await api('PATCH', `/api/tickets/${enc(tk.id)}`, body, { quiet: true });
    $('#ticket-note').value = '';
    $('#ticket-tag').value = '';
    renderTicket(true);
    status(t('ticket.saved', { id: tk.id }), 'ok');
    reloadFile();
  } catch (err) {
    if (err.status === 409) {
      if (await loadTicket(tk.id, true)) status(t('ticket.conflict'), 'error');
    } else if (err.status !== 401) {
      status(explain(err), 'error');
    }
  }
});

$('#ticket-close').addEventListener('click', () => {
  S.ticket = null;
  renderTicket();
});

// A reply to the ticket's customer by SMS or email; the sent message joins their timeline.
function renderReplyChannel() {
  const email = $('#ticket-reply-channel').value === 'email';
  $('#ticket-reply-subject').hidden = !email; // SMS have no subject
  $('#ticket-reply-subject-label').hidden = !email;
}
$('#ticket-reply-channel').addEventListener('change', renderReplyChannel);

$('#ticket-reply').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const tk = S.ticket;
  const error = $('#ticket-reply-error');
  const channel = $('#ticket-reply-channel').value;
  const text = $('#ticket-reply-text').value.trim();
  const subject = $('#ticket-reply-subject').value.trim();
  error.textContent = '';
  if (!tk) return;
  if (!text) {
    error.textContent = t('reply.empty');
    return;
  }
  const body = { channel, text };
  if (channel === 'email' && subject) body.subject = subject;
  const button = $('#ticket-reply-send');
  button.disabled = true; // one click, one message
  try {
    await api('POST', `/api/tickets/${enc(tk.id)}/reply`, body, { quiet: true });
  } catch (err) {
    if (err.status !== 401) error.textContent = explain(err);
    return;
  } finally {
    button.disabled = false;
  }
  $('#ticket-reply-text').value = '';
  $('#ticket-reply-subject').value = '';
  status(t('reply.sent', { id: tk.id, channel: t(`channel.${channel}`) }), 'ok');
  reloadFile();
});

function renderAgentNames() {
  $('#agent-names').replaceChildren(...[...S.agents.keys()].map((n) => h('option', { value: n })));
}

// -- callbacks and voicemail ---------------------------------------------------------------------

async function loadCallbacks() {
  const list = await quietly(api('GET', '/api/callbacks', undefined, { quiet: true }));
  if (Array.isArray(list)) S.callbacks = list;
  renderCallbacks();
}

function renderCallbacks() {
  const box = $('#callbacks-body');
  if (!S.callbacks.length) return box.replaceChildren(h('p', { class: 'muted', text: t('callbacks.none') }));
  const head = ['callbacks.number', 'callbacks.queue', 'callbacks.state', 'callbacks.attempts', 'callbacks.requested'];
  box.replaceChildren(h('table', { class: 'table' },
    h('thead', {}, h('tr', {}, head.map((k) => h('th', { scope: 'col', text: t(k) })))),
    h('tbody', {}, S.callbacks.map((cb) => h('tr', { testid: 'callback-item', 'data-id': cb.id, 'data-state': cb.state },
      h('td', { text: cb.number }), h('td', { text: cb.queue }),
      h('td', {}, t(`cbstate.${cb.state}`, null, cb.state), cb.last_error ? h('div', { class: 'error small', text: cb.last_error }) : null),
      h('td', { class: 'num', text: cb.attempts ?? 0 }), h('td', { text: when(cb.requested_at) }))))));
}

async function loadVoicemails() {
  const list = await quietly(api('GET', '/api/voicemails', undefined, { quiet: true }));
  if (Array.isArray(list)) S.voicemails = list;
  renderVoicemails();
}

const isHandled = (v) => !!(v.handled || v.handled_at);

function renderVoicemails() {
  const box = $('#voicemail-body');
  if (!S.voicemails.length) return box.replaceChildren(h('p', { class: 'muted', text: t('voicemail.none') }));
  box.replaceChildren(h('ul', { class: 'plain inbox' }, S.voicemails.map((v) => h('li', {
    testid: 'voicemail-item', 'data-voicemail': v.voicemail, 'data-state': v.state, class: isHandled(v) ? 'handled' : null },
  h('div', {}, h('strong', { text: v.caller || t('pop.unknown') }), ' ', h('span', { class: 'muted', text: [
    when(v.started_at), t('unit.seconds', { n: Math.round(v.seconds || 0) }),
    t(`vmstate.${v.state}`, null, v.state), v.language].filter(Boolean).join(' · ') })),
  v.text ? h('blockquote', { class: 'body', text: v.text }) : null,
  v.error ? h('p', { class: 'error small', text: v.error }) : null,
  v.path === '' ? null : audio(v.voicemail),
  h('div', { class: 'row' },
    v.ticket != null ? h('button', { type: 'button', class: 'link', onclick: () => loadTicket(v.ticket) },
      t('ticket.title', { id: v.ticket })) : null,
    v.caller ? h('button', { type: 'button', class: 'small', testid: 'voicemail-callback',
      onclick: () => originate(v.caller, v.ticket) }, t('voicemail.callBack')) : null,
    isHandled(v) ? h('span', { class: 'muted', text: t('voicemail.handled') })
      : h('button', { type: 'button', class: 'small', testid: 'voicemail-handled', onclick: () => markHandled(v.voicemail) },
        t('voicemail.markHandled')))))));
}

async function markHandled(id) {
  if (await quietly(api('POST', `/api/voicemails/${enc(id)}/handled`, {})) === undefined) return;
  status(t('voicemail.markedHandled'), 'ok');
  loadVoicemails();
}

// -- live updates --------------------------------------------------------------------------------

function applySnapshot(snap) {
  S.me = { ...S.me, ...(snap.me || {}) };
  S.agents = new Map((snap.agents || []).map((a) => [a.name, a]));
  S.queues = new Map((snap.queues || []).map((q) => [q.name, q]));
  S.calls = new Map((snap.calls || []).map((c) => [c.call_id, c]));
  S.settings = { pause_reasons: [], wrapup_codes: [], ...(snap.settings || {}) };
  const pop = snap.pop || null;
  const same = pop && S.pop && pop.call && S.pop.call && pop.call.call_id === S.pop.call.call_id;
  const chatOpen = byHand(S.pop); // a customer opened by hand (chat, inbox): an ended call keeps off it
  if (pop && !same && !(chatOpen && ended(pop.call || {}))) {
    showPop(pop);
  } else if (pop && same) {
    S.pop = { ...pop, file: S.file }; // the file shown may be newer (named, linked) than the pop's
  } else if (!chatOpen) {
    S.pop = null;
    S.file = null;
  }
  renderAll();
  loadCallbacks();
  loadVoicemails();
  chats.refresh();
  inbox.refresh();
}

function onMessage(msg) {
  switch (msg.type) {
    case 'snapshot': applySnapshot(msg); break;
    case 'agent':
      if (msg.agent && msg.agent.name) S.agents.set(msg.agent.name, msg.agent);
      renderHeader(); renderPresence(); renderAgentNames(); chats.renderTransfer(); break;
    case 'queue':
      if (msg.queue && msg.queue.name) S.queues.set(msg.queue.name, msg.queue);
      renderPresence(); chats.renderTransfer(); break;
    case 'pop': if (msg.pop) showPop(msg.pop); break;
    case 'call':
      if (msg.call && msg.call.call_id) S.calls.set(msg.call.call_id, msg.call);
      renderCall(); break;
    case 'callbacks': loadCallbacks(); break;
    case 'voicemail': loadVoicemails(); break;
    case 'message': // an SMS or email of the customer on screen: their timeline grows
      if (msg.message && S.file && S.file.customer && S.file.customer.id === msg.message.customer) reloadFile();
      break;
    case 'chat': chats.event(msg); break;
    case 'offer': inbox.offer(msg); break;
    case 'inbox': inbox.changed(msg); break; // something in my inbox moved: fetch it again, once
    case 'sla': inbox.schedule(); break;
    default: break; // wallboard and anything newer: not for this page
  }
}

function renderAll() {
  renderHeader();
  renderPresence();
  renderCall();
  renderPop();
  renderTicket();
  renderAgentNames();
  renderCallbacks();
  renderVoicemails();
  chats.render(true);
  inbox.rerender();
}

async function start() {
  initLanguage();
  $('#logout').addEventListener('click', logout);
  const me = await session();
  S.me = { name: me.name, role: me.role, agent: me.agent };
  chats.init({ me: () => S.me, agents: () => S.agents, queues: () => S.queues, openCustomer });
  inbox.init({ me: () => S.me, agents: () => S.agents, openItem, openCall,
    myQueues: () => (['supervisor', 'admin'].includes(S.me.role) ? [...S.queues.keys()] : queuesOf(myRow())) });
  renderAll();
  onLanguage(renderAll);
  connect(onMessage);
}

start().catch(() => { /* 401 went to the login page; other errors are in the status line */ });
