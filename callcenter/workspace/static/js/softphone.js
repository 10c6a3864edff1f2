// The browser softphone (docs/softphone.md): SIP.js (npm, pinned: scripts/install-web-deps.sh)
// registers the agent's browser endpoint <agent>-webrtc over Asterisk's WebSocket with the settings
// of GET /api/softphone, when the agent chose "This browser" (POST /api/agents/{me}/phone). Then
// queue offers ring here: answer, hang up, hold (SIP re-INVITE: the other party hears music),
// mute, DTMF (RFC 4733, SIP INFO if the browser cannot), blind transfer (SIP REFER).
//
// State for people and tests: #softphone[data-state] = off | connecting | registered | unregistered
// | incoming | in_call | on_hold | error; data-register-ms: the last registration's time (ms, from
// the WebSocket's opening to 200 OK); window.callcenterSoftphone: the same, and call(target).
import { UserAgent, Registerer, RegistererState, Inviter, Invitation, SessionState }
  from '/static/vendor/sip.js/lib/index.js';
import { t, onLanguage } from './i18n.js';
import { api, explain } from './api.js';
import { $, h } from './dom.js';

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];
const TARGET = /^[0-9*#+]{1,32}$|^queue:[a-z][a-z0-9_-]{0,39}$|^[a-z][a-z0-9_-]{0,39}$/;

const S = {
  cfg: null, // GET /api/softphone
  ua: null,
  registerer: null,
  session: null, // the one call (an Invitation or an Inviter)
  state: 'off',
  held: false,
  muted: false,
  registerMs: null,
  peer: '',
};

function setState(state, peer) {
  S.state = state;
  if (peer !== undefined) S.peer = peer;
  const card = $('#softphone');
  card.dataset.state = state;
  if (S.registerMs != null) card.dataset.registerMs = String(S.registerMs);
  render();
}

function showError(text) {
  $('#softphone-error').textContent = text || '';
  if (text) setState('error');
}

function render() {
  const badge = $('#softphone-state');
  badge.dataset.state = S.state;
  badge.textContent = t(`softphone.state.${S.state}`);
  $('#softphone-peer').textContent = S.peer;
  const inCall = S.state === 'in_call' || S.state === 'on_hold';
  $('#sp-answer').disabled = S.state !== 'incoming';
  $('#sp-hangup').disabled = !(inCall || S.state === 'incoming' || (S.session && S.state === 'calling'));
  $('#sp-hold').disabled = !inCall;
  $('#sp-mute').disabled = !inCall;
  $('#sp-transfer').disabled = !inCall;
  $('#sp-call').disabled = S.state !== 'registered';
  $('#sp-hold').textContent = t(S.held ? 'softphone.resume' : 'softphone.hold');
  $('#sp-hold').setAttribute('aria-pressed', String(S.held));
  $('#sp-mute').textContent = t(S.muted ? 'softphone.unmute' : 'softphone.mute');
  $('#sp-mute').setAttribute('aria-pressed', String(S.muted));
  for (const b of $('#sp-dialpad').querySelectorAll('button')) b.disabled = !inCall;
  const phone = S.cfg ? S.cfg.phone : 'desk';
  for (const r of document.querySelectorAll('input[name="phone-choice"]')) r.checked = r.value === phone;
}

// -- registration ------------------------------------------------------------------------------

async function startPhone() {
  if (S.ua) return;
  if (!window.isSecureContext || !navigator.mediaDevices) {
    showError(t('softphone.insecure'));
    return;
  }
  const cfg = S.cfg;
  const started = performance.now();
  setState('connecting');
  const ua = new UserAgent({
    uri: UserAgent.makeURI(cfg.uri),
    authorizationUsername: cfg.username,
    authorizationPassword: cfg.password,
    displayName: cfg.display_name,
    transportOptions: { server: cfg.ws_url },
    sessionDescriptionHandlerFactoryOptions: {
      peerConnectionConfiguration: { iceServers: cfg.ice_servers || [] },
      iceGatheringTimeout: 1000, // host candidates only: gathering is over in milliseconds
    },
    logBuiltinEnabled: false,
    delegate: {
      onInvite: onInvite,
      onDisconnect: () => { if (S.ua === ua) setState('unregistered'); },
    },
  });
  S.ua = ua;
  const registerer = new Registerer(ua, { expires: 300 });
  S.registerer = registerer;
  registerer.stateChange.addListener((state) => {
    if (S.registerer !== registerer) return;
    if (state === RegistererState.Registered) {
      S.registerMs = Math.round(performance.now() - started);
      if (!S.session) setState('registered');
    } else if (state === RegistererState.Unregistered && !S.session) {
      setState('unregistered');
    }
  });
  try {
    await ua.start();
    await registerer.register({ requestDelegate: {
      onReject: (response) => showError(t('softphone.refused', { code: response.message.statusCode })),
    } });
  } catch (e) {
    showError(t('softphone.noServer', { url: cfg.ws_url }));
  }
}

async function stopPhone() {
  const { ua, registerer } = S;
  S.ua = null;
  S.registerer = null;
  if (S.session) hangUp();
  try { if (registerer) await registerer.unregister(); } catch { /* the socket may be gone */ }
  try { if (ua) await ua.stop(); } catch { /* stopped */ }
  setState('off', '');
}

// -- calls -------------------------------------------------------------------------------------

function peerOf(session) {
  const id = session.remoteIdentity;
  return id ? [id.displayName, id.uri && id.uri.user].filter(Boolean).join(' ') : '';
}

function track(session) {
  S.session = session;
  S.held = false;
  S.muted = false;
  session.stateChange.addListener((state) => {
    if (S.session !== session) return;
    if (state === SessionState.Established) {
      attachAudio(session);
      setState('in_call', peerOf(session));
    } else if (state === SessionState.Terminated) {
      S.session = null;
      S.held = false;
      $('#softphone-audio').srcObject = null;
      setState(S.registerer && S.registerer.state === RegistererState.Registered ? 'registered' : 'unregistered', '');
    }
  });
}

function onInvite(invitation) {
  if (S.session) { // one call at a time: a second offer is busy (app_queue offers it elsewhere)
    invitation.reject({ statusCode: 486 });
    return;
  }
  track(invitation);
  setState('incoming', peerOf(invitation));
}

function attachAudio(session) {
  const pc = session.sessionDescriptionHandler && session.sessionDescriptionHandler.peerConnection;
  if (!pc) return;
  const stream = new MediaStream();
  for (const receiver of pc.getReceivers()) if (receiver.track) stream.addTrack(receiver.track);
  const audio = $('#softphone-audio');
  audio.srcObject = stream;
  audio.play().catch(() => { /* autoplay refused: the Answer click usually allows it */ });
}

const MEDIA = { sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } };

function answer() {
  if (S.session instanceof Invitation && S.state === 'incoming') {
    S.session.accept(MEDIA).catch((e) => showError(`${t('softphone.failed')} ${e.message || e}`));
  }
}

function hangUp() {
  const s = S.session;
  if (!s) return;
  if (s.state === SessionState.Established) s.bye().catch(() => {});
  else if (s instanceof Invitation) s.reject().catch(() => {});
  else if (s instanceof Inviter) s.cancel().catch(() => {});
}

async function hold() {
  const s = S.session;
  if (!s || s.state !== SessionState.Established) return;
  const want = !S.held;
  s.sessionDescriptionHandlerOptionsReInvite = { hold: want };
  try {
    await s.invite({ requestDelegate: {
      onAccept: () => { S.held = want; setState(want ? 'on_hold' : 'in_call'); },
      onReject: () => showError(t('softphone.failed')),
    } });
  } catch (e) {
    showError(`${t('softphone.failed')} ${e.message || e}`);
  }
}

function mute() {
  const pc = S.session && S.session.sessionDescriptionHandler && S.session.sessionDescriptionHandler.peerConnection;
  if (!pc) return;
  S.muted = !S.muted;
  for (const sender of pc.getSenders()) if (sender.track) sender.track.enabled = !S.muted;
  render();
}

function dtmf(key) {
  const s = S.session;
  if (!s || s.state !== SessionState.Established) return;
  const sent = s.sessionDescriptionHandler && s.sessionDescriptionHandler.sendDtmf(key);
  if (!sent) { // no RTP DTMF sender: SIP INFO (res_pjsip_dtmf_info)
    s.info({ requestOptions: { body: { contentDisposition: 'render', contentType: 'application/dtmf-relay',
      content: `Signal=${key}\r\nDuration=160` } } }).catch(() => {});
  }
}

function targetUri(target) {
  const domain = S.cfg.uri.split('@')[1];
  return UserAgent.makeURI(`sip:${target}@${domain}`);
}

function call(target) {
  if (!S.ua || S.session || !TARGET.test(target)) return false;
  const inviter = new Inviter(S.ua, targetUri(target), { sessionDescriptionHandlerOptions: MEDIA.sessionDescriptionHandlerOptions });
  track(inviter);
  setState('calling', target);
  inviter.invite().catch((e) => showError(`${t('softphone.failed')} ${e.message || e}`));
  return true;
}

function transfer(target) {
  const s = S.session;
  if (!s || s.state !== SessionState.Established || !TARGET.test(target)) {
    showError(t('softphone.badTarget'));
    return;
  }
  // Asterisk reports the transfer's progress in NOTIFYs (a sipfrag); once it says 2xx the caller is
  // with the target, and the transferor ends its own leg (RFC 5589: Asterisk waits for our BYE).
  s.refer(targetUri(target), {
    onNotify: (notification) => {
      notification.accept().catch(() => {});
      const frag = String(notification.request.body || '');
      const code = Number((frag.match(/SIP\/2\.0 (\d{3})/) || [])[1] || 0);
      if (code >= 200 && code < 300 && s.state === SessionState.Established) s.bye().catch(() => {});
      else if (code >= 300) showError(t('softphone.refused', { code }));
    },
    requestDelegate: { onReject: (r) => showError(t('softphone.refused', { code: r.message.statusCode })) },
  }).catch((e) => showError(`${t('softphone.failed')} ${e.message || e}`));
}

// -- the phone choice ----------------------------------------------------------------------------

async function choose(phone) {
  try {
    const answer_ = await api('POST', `/api/agents/${encodeURIComponent(S.cfg.agent)}/phone`, { phone });
    S.cfg.phone = answer_.phone;
  } catch (e) {
    showError(explain(e));
    render();
    return;
  }
  $('#softphone-error').textContent = '';
  if (S.cfg.phone === 'browser') await startPhone();
  else await stopPhone();
}

async function start() {
  try {
    S.cfg = await api('GET', '/api/softphone', undefined, { quiet: true, noLogin: true });
  } catch {
    return; // not an agent, or the softphone is off: no card
  }
  $('#softphone').hidden = false;
  for (const key of KEYS) {
    $('#sp-dialpad').append(h('button', { type: 'button', testid: `softphone-key-${key}`, onclick: () => dtmf(key) }, key));
  }
  $('#sp-answer').addEventListener('click', answer);
  $('#sp-hangup').addEventListener('click', hangUp);
  $('#sp-hold').addEventListener('click', hold);
  $('#sp-mute').addEventListener('click', mute);
  $('#sp-dial-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!call($('#sp-target').value.trim())) showError(t('softphone.badTarget'));
  });
  $('#sp-transfer').addEventListener('click', () => transfer($('#sp-target').value.trim()));
  for (const r of document.querySelectorAll('input[name="phone-choice"]')) {
    r.addEventListener('change', () => { if (r.checked) choose(r.value); });
  }
  onLanguage(render);
  window.addEventListener('beforeunload', () => { if (S.registerer) S.registerer.unregister().catch(() => {}); });
  render();
  if (S.cfg.phone === 'browser') await startPhone();
}

window.callcenterSoftphone = {
  get state() { return S.state; },
  get registerMs() { return S.registerMs; },
  call, answer, hangUp, dtmf,
  peerConnection: () => (S.session && S.session.sessionDescriptionHandler
    ? S.session.sessionDescriptionHandler.peerConnection : null),
};

start();
