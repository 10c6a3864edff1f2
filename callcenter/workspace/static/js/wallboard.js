// The supervisors' wallboard: fed only by the WebSocket (snapshot.wallboard and "wallboard" messages).
import { t, initLanguage, onLanguage } from './i18n.js';
import { session, logout } from './api.js';
import { connect } from './ws.js';
import { $, h, dur, pct, word } from './dom.js';

const STATES = ['ready', 'paused', 'ringing', 'on_call', 'wrapup', 'logged_out', 'unreachable'];
const CHANNELS = ['voice', 'voicemail', 'chat', 'sms', 'email'];
let board = null; // the last wallboard object
let receivedAt = 0; // when it came (ms): times in state keep counting from there
let chart = null;

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
  const today = wb.today || {};
  $('#today').replaceChildren(...CHANNELS.map((c) => h('div', { class: 'tile', 'data-channel': c },
    h('span', { class: 'tile-n', text: today[c] ?? 0 }), h('span', { class: 'muted', text: t(`channel.${c}`) }))));
  renderChart(queues);
}

function onMessage(msg) {
  if (msg.type === 'snapshot' || msg.type === 'wallboard') {
    board = msg.wallboard || null;
    receivedAt = Date.now();
    render();
  }
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
  onLanguage(() => {
    $('#who').lastChild.textContent = t(`role.${me.role}`);
    render();
  });
  setInterval(tick, 1000);
  connect(onMessage);
}

start().catch(() => { /* 401 went to the login page; other errors are in the status line */ });
