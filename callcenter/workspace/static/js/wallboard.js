// The supervisors' wallboard: fed by the WebSocket (snapshot.wallboard and "wallboard" messages):
// queues, the backlog of work items per queue and channel, agents, today. Beside it, two tools:
// reassigning a work item (POST /api/inbox/{ticket}/assign) and the email quarantine (GET
// /api/email/quarantine at each snapshot, every 30 s and on Refresh; Release / Delete). Live calls
// with an agent (GET /api/calls every 3 s) and a Monitor button (POST /api/calls/{id}/monitor).
import { t, initLanguage, onLanguage } from './i18n.js';
import { api, session, logout, status, explain } from './api.js';
import { connect } from './ws.js';
import { $, h, dur, pct, word, when, fillSelect } from './dom.js';

const STATES = ['ready', 'paused', 'ringing', 'on_call', 'wrapup', 'logged_out', 'unreachable'];
const CHANNELS = ['voice', 'voicemail', 'chat', 'sms', 'email'];
let board = null; // the last wallboard object
let receivedAt = 0; // when it came (ms): times in state keep counting from there
let chart = null;
let quarantine = { problem: '', messages: [] }; // GET /api/email/quarantine
const QUARANTINE_EVERY = 30000; // ms: the quarantine has no push of its own
const enc = encodeURIComponent;

const td = (text, cls) => h('td', { class: cls, text });

/** A cell that counts up each second from `seconds` at receivedAt. */
const ticking = (seconds, run = true) => h('td', { class: 'num', 'data-base': seconds ?? '', 'data-run': run ? '1' : null,
  text: dur(seconds) });

function tick() {
  const elapsed = (Date.now() - receivedAt) / 1000;
  for (const el of document.querySelectorAll('[data-run="1"]')) {
    if (el.dataset.base !== '') el.textContent = dur(Number(el.dataset.base) + elapsed);
  }
}

function queueRow(q) {
  const sl = q.service_level;
  const target = q.service_level_target ?? 0.8;
  const slCell = h('td', { class: sl == null ? '' : sl >= target ? 'good' : 'bad' },
    h('strong', { text: pct(sl) }), ' ',
    h('span', { class: 'muted small', text: t('wb.slTarget', { pct: Math.round(target * 100), s: q.service_level_seconds ?? '—' }) }));
  const agents = q.agents || {};
  return h('tr', { testid: 'queue-row', 'data-queue': q.name },
    h('th', { scope: 'row', text: q.name }),
    td(q.waiting ?? 0, `num${q.waiting ? ' hot' : ''}`),
    ticking(q.longest_wait_seconds, q.waiting > 0),
    td(`${q.offered ?? 0} / ${q.answered ?? 0}`, 'num'),
    slCell,
    td(q.average_speed_of_answer == null ? '—' : t('unit.seconds', { n: Math.round(q.average_speed_of_answer) }), 'num'),
    h('td', { class: 'num' }, pct(q.abandon_rate), ' ', h('span', { class: 'muted small', text: `(${q.abandoned ?? 0})` })),
    h('td', {}, h('span', { class: 'chips' }, STATES.map((s) => h('span', {
      class: `chip${agents[s] ? '' : ' zero'}`, 'data-state': s, 'data-count': agents[s] || 0,
    }, h('span', { class: 'badge', 'data-state': s, text: t(`state.${s}`) }), ` ${agents[s] || 0}`)))));
}

function agentRow(a) {
  const pauses = Object.entries(a.pause_seconds || {}).filter(([, s]) => s > 0);
  return h('tr', { testid: 'agent-row', 'data-agent': a.name, 'data-state': a.state },
    h('th', { scope: 'row' }, a.full_name || a.name, a.full_name ? h('span', { class: 'muted small', text: ` ${a.name}` }) : null),
    h('td', {}, h('span', { class: 'badge', 'data-state': a.state, text: a.state === 'paused' && a.pause_reason
      ? t('state.pausedReason', { reason: word('reason', a.pause_reason) }) : t(`state.${a.state}`, null, a.state) })),
    ticking(a.state_seconds),
    td(a.calls ?? 0, 'num'),
    td(dur(a.talk_seconds), 'num'),
    td(pauses.length ? pauses.map(([r, s]) => `${word('reason', r)} ${dur(s)}`).join(', ') : '—'));
}

/** The backlog of work items: per queue and channel, open / unassigned / SLA at risk / breached, the oldest wait. */
function backlogRow(b, now) {
  const hot = (n, cls) => td(n ?? 0, `num${n ? ` ${cls}` : ''}`);
  return h('tr', { testid: 'backlog-row', 'data-queue': b.queue, 'data-channel': b.channel },
    h('th', { scope: 'row', text: b.queue || '—' }),
    td(t(`channel.${b.channel}`, null, b.channel || '—')),
    td(b.open ?? 0, 'num'),
    hot(b.unassigned, 'warn'),
    hot(b.at_risk, 'warn'),
    hot(b.breached, 'hot'),
    b.oldest_waiting ? ticking(Math.max(0, now - b.oldest_waiting)) : td('—', 'num'));
}

function renderBacklog(wb) {
  const rows = Array.isArray(wb.backlog) ? wb.backlog : [];
  const now = wb.generated_at || Date.now() / 1000; // the server's clock: no skew in the waiting times
  $('#backlog-rows').replaceChildren(...(rows.length ? rows.map((b) => backlogRow(b, now))
    : [h('tr', {}, h('td', { colspan: 7, class: 'muted', text: t('wb.noBacklog') }))]));
}

let agentChoice = ''; // what the agent <select> holds: refilled only when it changes (an open list stays open)

function renderAgentChoice(wb) {
  const names = (wb.agents || []).map((a) => [a.name, a.full_name ? `${a.full_name} (${a.name})` : a.name]);
  const options = [['', t('wb.assignPick')], ...names];
  const key = JSON.stringify(options);
  if (key === agentChoice) return;
  agentChoice = key;
  fillSelect($('#assign-agent'), options);
}

// -- the email quarantine --------------------------------------------------------------------------

async function loadQuarantine() {
  try {
    quarantine = await api('GET', '/api/email/quarantine', undefined, { quiet: true }) || quarantine;
  } catch (err) {
    if (err.status === 401) return;
    quarantine = { problem: explain(err), messages: [] };
  }
  renderQuarantine();
}

function quarantineRow(m) {
  return h('tr', { testid: 'quarantine-item', 'data-id': m.id },
    h('td', { text: when(m.at) }),
    h('td', { text: m.mail_from || '—' }),
    td(size(m.bytes), 'num'),
    h('td', {}, h('span', { testid: 'quarantine-reason', text: m.reason || '—' }), // the newest reason
      m.released_by ? h('div', { class: 'error small', testid: 'quarantine-error',
        text: t('wb.q.tried', { who: m.released_by, when: when(m.released_at) }) }) : null),
    h('td', {}, h('div', { class: 'row' },
      h('button', { type: 'button', class: 'small', testid: 'quarantine-release', onclick: (ev) => release(m, ev.target) },
        t('wb.q.release')),
      h('button', { type: 'button', class: 'small danger', testid: 'quarantine-delete', onclick: (ev) => remove(m, ev.target) },
        t('wb.q.delete')))));
}

function renderQuarantine() {
  $('#quarantine-problem').textContent = quarantine.problem || '';
  const list = quarantine.messages || [];
  if (!list.length) {
    $('#quarantine-body').replaceChildren(h('p', { class: 'muted', testid: 'quarantine-empty', text: t('wb.q.none') }));
    return;
  }
  const head = ['wb.q.at', 'wb.q.from', 'wb.q.size', 'wb.q.reason', 'wb.q.actions'];
  $('#quarantine-body').replaceChildren(h('table', { class: 'table' },
    h('thead', {}, h('tr', {}, head.map((k) => h('th', { scope: 'col', class: k === 'wb.q.size' ? 'num' : null, text: t(k) })))),
    h('tbody', {}, list.map(quarantineRow))));
}

const size = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : n >= 1024 ? `${Math.round(n / 1024)} KB` : `${n || 0} B`);

async function release(m, button) {
  button.disabled = true;
  try {
    const answer = await api('POST', `/api/email/quarantine/${enc(m.id)}/release`, {}, { quiet: true });
    status(t('wb.q.released', { ticket: answer.ticket }), 'ok');
  } catch (err) {
    if (err.id === 'still-quarantined') { // it stays; the list shows the reason and who tried
      status(t('wb.q.still', { reason: (err.body.details && err.body.details.reason) || err.message }), 'error');
    } else if (err.status !== 401) status(explain(err), 'error');
  }
  await loadQuarantine();
}

async function remove(m, button) {
  if (!window.confirm(t('wb.q.confirm', { from: m.mail_from || '?', reason: m.reason || '' }))) return;
  button.disabled = true;
  try {
    await api('DELETE', `/api/email/quarantine/${enc(m.id)}`, undefined, { quiet: true });
    status(t('wb.q.deleted'), 'ok');
  } catch (err) {
    if (err.status !== 401) status(explain(err), 'error');
  }
  await loadQuarantine();
}

// -- reassigning a work item -----------------------------------------------------------------------

async function assign(ev) {
  ev.preventDefault();
  const error = $('#assign-error');
  error.textContent = '';
  const ticket = $('#assign-ticket').value.trim().replace(/^#/, '');
  const agent = $('#assign-agent').value;
  if (!/^[0-9]{1,10}$/.test(ticket) || !agent) {
    error.textContent = t('wb.assignMissing');
    return;
  }
  try {
    await api('POST', `/api/inbox/${enc(ticket)}/assign`, { agent }, { quiet: true });
  } catch (err) {
    if (err.status !== 401) error.textContent = explain(err);
    return;
  }
  $('#assign-ticket').value = '';
  status(t('wb.assigned', { id: ticket, agent }), 'ok');
}

function renderChart(queues) {
  if (!window.Chart) {
    $('#chart-card').hidden = true;
    return;
  }
  const labels = queues.map((q) => q.name);
  const data = [queues.map((q) => q.answered || 0), queues.map((q) => q.abandoned || 0)];
  const names = [t('wb.answered'), t('wb.abandoned')];
  if (!chart) {
    chart = new window.Chart($('#chart'), {
      type: 'bar',
      data: { labels, datasets: [
        { label: names[0], data: data[0], backgroundColor: '#2f855a' },
        { label: names[1], data: data[1], backgroundColor: '#c53030' }] },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
    return;
  }
  chart.data.labels = labels;
  chart.data.datasets.forEach((d, i) => Object.assign(d, { label: names[i], data: data[i] }));
  chart.update('none');
}

function render() {
  const wb = board || {};
  const queues = wb.queues || [];
  $('#updated').textContent = wb.generated_at
    ? t('wb.updated', { time: new Date(wb.generated_at * 1000).toLocaleTimeString(document.documentElement.lang) }) : '';
  const store = wb.store;
  $('#store').textContent = store ? t('wb.backlog', { n: store.backlog, peak: store.backlog_peak })
    + (store.backlog_dropped ? ` · ${t('wb.backlogDropped', { n: store.backlog_dropped })}` : '') : '';
  $('#store').classList.toggle('bad', Boolean(store && (store.backlog_dropped || store.backlog > 10000)));
  $('#queue-rows').replaceChildren(...(queues.length ? queues.map(queueRow)
    : [h('tr', {}, h('td', { colspan: 8, class: 'muted', text: t('wb.noQueues') }))]));
  $('#agent-rows').replaceChildren(...(wb.agents || []).map(agentRow));
  renderBacklog(wb);
  renderAgentChoice(wb);
  const today = wb.today || {};
  $('#today').replaceChildren(...CHANNELS.map((c) => h('div', { class: 'tile', 'data-channel': c },
    h('span', { class: 'tile-n', text: today[c] ?? 0 }), h('span', { class: 'muted', text: t(`channel.${c}`) }))));
  renderChart(queues);
}

// -- live calls and monitoring (docs/call-control.md) -------------------------------------------

const MODES = ['listen', 'whisper', 'barge'];
const LIVE_EVERY = 3000; // ms
let live = []; // active calls with an agent
let spying = null; // the running monitor session: {call_id, monitor, agent}

async function loadLive() {
  try {
    const data = await api('GET', '/api/calls?limit=1');
    live = (data.active || []).filter((c) => (c.legs || []).some((x) => x.ended_at == null && x.answered_at != null));
  } catch { live = []; }
  renderLive();
}

async function monitor(call) {
  const phone = $('#monitor-phone').value.trim();
  if (!phone) { status(t('wb.needPhone'), 'error'); return; }
  localStorage.setItem('monitor-phone', phone);
  const mode = $('#monitor-mode').value;
  $('#monitor-state').textContent = t('wb.monitorRinging', { mode: t(`mode.${mode}`) });
  try {
    const r = await api('POST', `/api/calls/${enc(call.call_id)}/monitor`, { phone, mode });
    spying = { call_id: call.call_id, monitor: r.monitor, agent: r.agent };
    $('#monitor-state').textContent = t('wb.monitoring', { agent: r.agent, mode: t(`mode.${mode}`) });
  } catch (err) {
    $('#monitor-state').textContent = '';
    status(explain(err), 'error');
  }
}

async function switchMode() {
  const mode = $('#monitor-mode').value;
  if (!spying || !live.some((c) => c.call_id === spying.call_id)) return;
  try {
    await api('POST', `/api/calls/${enc(spying.call_id)}/monitor/${enc(spying.monitor)}`, { mode });
    $('#monitor-state').textContent = t('wb.monitoring', { agent: spying.agent, mode: t(`mode.${mode}`) });
  } catch (err) { status(explain(err), 'error'); }
}

function renderLive() {
  const now = Date.now() / 1000;
  $('#live-rows').replaceChildren(...(live.length ? live.map((c) => h('tr', { testid: 'live-call', 'data-call': c.call_id },
    h('th', { scope: 'row', text: c.caller_name || c.caller_id }),
    td(c.queue || '—'),
    td((c.legs || []).filter((x) => x.ended_at == null).map((x) => x.agent).join(', ')),
    td(dur(now - c.started_at), 'num'),
    h('td', {}, h('button', { type: 'button', class: 'small', testid: 'monitor', text: t('wb.monitor'),
      onclick: () => monitor(c) }))))
    : [h('tr', {}, h('td', { colspan: 5, class: 'muted', text: t('wb.noLive') }))]));
}

function onMessage(msg) {
  if (msg.type === 'snapshot' || msg.type === 'wallboard') {
    board = msg.wallboard || null;
    receivedAt = Date.now();
    render();
  }
  if (msg.type === 'snapshot') loadQuarantine(); // at connect and after every reconnect
}

async function start() {
  initLanguage();
  $('#logout').addEventListener('click', logout);
  const me = await session();
  $('#who').replaceChildren(h('strong', { text: me.name }), ' ', h('span', { class: 'muted', text: t(`role.${me.role}`) }));
  if (!['supervisor', 'admin'].includes(me.role)) {
    $('#forbidden').hidden = false;
    return;
  }
  $('#board').hidden = false;
  render();
  renderQuarantine();
  $('#assign-form').addEventListener('submit', assign);
  $('#quarantine-reload').addEventListener('click', loadQuarantine);
  fillSelect($('#monitor-mode'), MODES.map((m) => [m, t(`mode.${m}`)]));
  $('#monitor-phone').value = localStorage.getItem('monitor-phone') || '';
  $('#monitor-mode').addEventListener('change', switchMode);
  loadLive();
  setInterval(() => { if (!document.hidden) loadLive(); }, LIVE_EVERY);
  setInterval(() => { if (!document.hidden) loadQuarantine(); }, QUARANTINE_EVERY);
  onLanguage(() => {
    $('#who').lastChild.textContent = t(`role.${me.role}`);
    render();
    renderQuarantine();
    renderLive();
  });
  setInterval(tick, 1000);
  connect(onMessage);
}

start().catch(() => { /* 401 went to the login page; other errors are in the status line */ });
