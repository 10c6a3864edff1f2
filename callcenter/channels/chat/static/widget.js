/* The callcenter chat widget: <script src="https://HOST/chat/widget.js" data-queue="support" async></script>
 * It talks to the server it came from (/chat/ws, /chat/offline, /chat/upload), draws itself in a shadow
 * root so the site's CSS cannot reach it, and shows what people write as text, never as HTML. */
(() => {
  'use strict';
  if (window.__callcenterChat) return; // embedded twice: one launcher is enough
  window.__callcenterChat = true;

  const script = document.currentScript
    || [...document.scripts].reverse().find((s) => /\/chat\/widget\.js([?#]|$)/.test(s.src));
  if (!script) return;
  const base = new URL(script.src, location.href);
  const WS_URL = `${base.protocol === 'https:' ? 'wss' : 'ws'}://${base.host}/chat/ws`;
  const QUEUE = script.dataset.queue || '';
  const LANG = /^zh/i.test(script.dataset.lang || navigator.language || '') ? 'zh-CN' : 'en';
  const KEY = 'cc_chat_visitor';

  const STRINGS = {
    en: {
      launcher: 'Chat', title: 'Chat with us', close: 'Close', send: 'Send', attach: 'File', attachLong: 'Attach a file',
      end: 'End chat', input: 'Type your message…', typing: 'Agent is typing…',
      position: 'You are number {n} in the queue', waiting: 'Waiting for an agent…',
      active: 'You are chatting with {name}', anAgent: 'an agent', ended: 'The chat has ended',
      start: 'Write a message to start the chat.', connecting: 'Connecting…', reconnecting: 'Reconnecting…',
      offline: 'Agents are offline: leave a message', name: 'Name', email: 'Email', phone: 'Phone',
      message: 'Message', offlineSend: 'Send message', offlineDone: 'Thank you! Your message is ticket #{id}.',
      needContact: 'Enter an email address or a phone number.', empty: 'Write a message first.',
      'too-long': 'The message is too long: at most {n} characters.', fileType: 'This kind of file cannot be sent.',
      fileSize: 'The file is too large: at most {size}.', contact: 'Leave your email/phone so we can reach you',
      contactSend: 'Save', contactSaved: 'Thank you: we can reach you there.', you: 'You', agent: 'Agent', file: 'File',
      notConnected: 'Not connected yet: try again in a moment.', network: 'The chat server cannot be reached.',
      forbidden: 'This site may not use the chat.', busy: 'Too many chats from here: trying again later.',
      'rate-limited': 'You are sending too fast: wait a moment.', failed: 'Something went wrong.',
    },
    'zh-CN': {
      launcher: '咨询', title: '在线咨询', close: '关闭', send: '发送', attach: '附件', attachLong: '添加附件',
      end: '结束对话', input: '请输入消息…', typing: '客服正在输入…',
      position: '您在队列中排第 {n} 位', waiting: '正在等待客服…',
      active: '正在与 {name} 对话', anAgent: '客服', ended: '对话已结束',
      start: '发送一条消息即可开始对话。', connecting: '正在连接…', reconnecting: '正在重新连接…',
      offline: '客服暂时不在线：请留言', name: '姓名', email: '电子邮箱', phone: '电话',
      message: '留言内容', offlineSend: '提交留言', offlineDone: '谢谢！您的留言已登记为工单 #{id}。',
      needContact: '请填写电子邮箱或电话号码。', empty: '请先输入消息。',
      'too-long': '消息过长：最多 {n} 个字符。', fileType: '不支持发送此类文件。',
      fileSize: '文件过大：最大 {size}。', contact: '留下您的邮箱或电话，方便我们联系您',
      contactSend: '保存', contactSaved: '谢谢，我们会通过该方式联系您。', you: '我', agent: '客服', file: '文件',
      notConnected: '尚未连接，请稍后再试。', network: '无法连接聊天服务器。',
      forbidden: '此网站不能使用在线咨询。', busy: '连接过多，稍后自动重试。',
      'rate-limited': '发送太快了，请稍等片刻。', failed: '出错了。',
    },
  };
  const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const own = (key) => (has(STRINGS[LANG], key) ? STRINGS[LANG][key] : has(STRINGS.en, key) ? STRINGS.en[key] : '');
  const t = (key, vars) => (own(key) || key).replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] != null ? vars[k] : m));

  const CSS = `:host{all:initial}
*{box-sizing:border-box;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",sans-serif;color:#1d2430}
[hidden]{display:none!important}
.launcher,.panel{position:fixed;right:20px;z-index:2147483000;box-shadow:0 4px 18px rgba(0,0,0,.25)}
.launcher{bottom:20px;width:64px;height:64px;border-radius:50%;border:0;background:#1f5fbf;color:#fff;font-weight:700;cursor:pointer}
.launcher[data-unread]::after{content:"";position:absolute;top:3px;right:3px;width:14px;height:14px;border-radius:50%;background:#c53030;border:2px solid #fff}
.panel{bottom:96px;width:360px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 120px);display:flex;flex-direction:column;background:#fff;border:1px solid #d9dde3;border-radius:10px;overflow:hidden}
header{display:flex;align-items:center;justify-content:space-between;padding:8px 12px;background:#1f5fbf}
h2{margin:0;font-size:16px;color:#fff}
header button{background:none;border:0;color:#fff;font-size:13px}
p{margin:0}
.line,.hint{padding:3px 12px;font-size:13px;color:#5d6776;width:100%}
.error{color:#c53030;background:#fde8e8}
ol{list-style:none;margin:0;padding:8px 12px;flex:1;overflow-y:auto}
li{margin:6px 0;max-width:85%;width:fit-content;padding:6px 9px;border-radius:8px;background:#eef1f5}
li[data-from=visitor]{margin-left:auto;background:#dbe7fb}
li[data-from=system]{max-width:100%;margin:6px auto;background:none;color:#5d6776;font-size:12px}
.who{display:block;font-size:11px;color:#5d6776}
.who,.text,.file{unicode-bidi:isolate;overflow-wrap:anywhere;white-space:pre-wrap}
.text,.file{display:block}
.file{font-size:12px}
form,.bar{display:flex;flex-wrap:wrap;gap:6px;padding:6px 12px;border-top:1px solid #d9dde3}
label{display:block;width:100%;font-size:12px;color:#5d6776}
input,textarea{width:100%;border:1px solid #d9dde3;border-radius:6px;padding:5px 7px;background:#fff;unicode-bidi:plaintext}
.contact input{flex:1 1 28%;min-width:0}
.compose textarea{flex:1;width:auto;min-width:0;height:56px;resize:none}
button{border:1px solid #d9dde3;border-radius:6px;background:#eef1f5;padding:5px 10px;cursor:pointer}
.primary{background:#1f5fbf;border-color:#1f5fbf;color:#fff}
:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
.offline{flex:1;overflow-y:auto;border:0}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}`;

  // el('button', {testid, text, onclick, ...attributes}, ...children): text always as text.
  const el = (tag, props, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'testid') e.dataset.testid = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    e.append(...kids.filter(Boolean));
    return e;
  };
  const size = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : n >= 1024 ? `${Math.round(n / 1024)} KB` : `${n || 0} B`);
  const stop = (f) => (ev) => { ev.preventDefault(); f(); };

  const S = {
    ws: null, open: false, welcomed: false, online: true, delay: 1000, retry: 0, typingSent: 0, typingOff: 0,
    token: (() => { try { return localStorage.getItem(KEY) || ''; } catch { return ''; } })(),
    chat: { state: 'none' }, seen: new Set(),
    limits: { max_text: 2000, max_attachment_bytes: 5 << 20, attachment_types: [] },
  };
  const ui = {};

  function build() {
    const host = el('callcenter-chat'); // not a div: a site's div rules do not match it
    const root = host.attachShadow({ mode: 'open' }); // open: tests reach in; the site's CSS does not
    try { // a constructed sheet is not an inline <style>: a site whose CSP forbids those still shows us
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch { root.append(el('style', { text: CSS })); }
    const input = (testid, type, key, auto) => el('input', { type, testid, autocomplete: auto, maxlength: 200,
      'aria-label': t(key), placeholder: t(key) });
    const label = (key, control) => el('label', { text: t(key) }, control);
    Object.assign(ui, {
      launcher: el('button', { type: 'button', class: 'launcher', testid: 'chat-launcher', 'aria-expanded': 'false',
        'aria-controls': 'cc-panel', text: t('launcher'), onclick: () => toggle(!S.open) }),
      status: el('p', { class: 'line', testid: 'chat-status', role: 'status' }),
      position: el('p', { class: 'line', testid: 'chat-position', hidden: true }),
      list: el('ol', { testid: 'chat-messages', 'aria-live': 'polite', 'aria-label': t('title') }),
      typing: el('p', { class: 'line', testid: 'chat-typing', hidden: true, text: t('typing') }),
      error: el('p', { class: 'line error', testid: 'chat-error', role: 'alert', hidden: true }),
      input: el('textarea', { testid: 'chat-input', 'aria-label': t('input'), placeholder: t('input'), oninput: typed,
        onkeydown: (ev) => { // Enter sends, Shift+Enter is a new line; not while an IME is composing
          if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); send(); }
        } }),
      file: el('input', { type: 'file', class: 'sr-only', tabindex: '-1', 'aria-hidden': 'true', testid: 'chat-attach',
        onchange: upload }),
      cName: input('chat-contact-name', 'text', 'name', 'name'),
      cEmail: input('chat-contact-email', 'email', 'email', 'email'),
      cPhone: input('chat-contact-phone', 'tel', 'phone', 'tel'),
      cDone: el('p', { class: 'hint', role: 'status', hidden: true, text: t('contactSaved') }),
      end: el('button', { type: 'button', testid: 'chat-end', text: t('end'), onclick: () => frame({ type: 'end' }) }),
      oName: input('chat-offline-name', 'text', 'name', 'name'),
      oEmail: input('chat-offline-email', 'email', 'email', 'email'),
      oPhone: input('chat-offline-phone', 'tel', 'phone', 'tel'),
      oText: el('textarea', { testid: 'chat-offline-text', rows: '4' }),
      done: el('p', { class: 'line', testid: 'chat-offline-done', role: 'status', hidden: true }),
    });
    ui.compose = el('form', { class: 'compose', onsubmit: stop(send) }, ui.input,
      el('button', { type: 'button', testid: 'chat-attach-button', 'aria-label': t('attachLong'), title: t('attachLong'),
        text: t('attach'), onclick: () => ui.file.click() }),
      ui.file, el('button', { type: 'submit', class: 'primary', testid: 'chat-send', text: t('send') }));
    ui.contact = el('form', { class: 'contact', testid: 'chat-contact-form', onsubmit: stop(contact) },
      el('p', { class: 'hint', text: t('contact') }), ui.cName, ui.cEmail, ui.cPhone,
      el('button', { type: 'submit', testid: 'chat-contact-send', text: t('contactSend') }), ui.cDone);
    ui.offline = el('form', { class: 'offline', testid: 'chat-offline-form', hidden: true, onsubmit: stop(leaveMessage) },
      el('p', { text: t('offline') }), label('name', ui.oName), label('email', ui.oEmail), label('phone', ui.oPhone),
      label('message', ui.oText),
      el('button', { type: 'submit', class: 'primary', testid: 'chat-offline-send', text: t('offlineSend') }));
    ui.panel = el('section', { id: 'cc-panel', class: 'panel', testid: 'chat-panel', role: 'dialog',
      'aria-label': t('title'), hidden: true, onkeydown: (ev) => ev.key === 'Escape' && toggle(false) },
    el('header', {}, el('h2', { text: t('title') }),
      el('button', { type: 'button', text: `${t('close')} ×`, onclick: () => toggle(false) })),
    ui.status, ui.position, ui.list, ui.typing, ui.error, ui.offline, ui.done, ui.compose, ui.contact,
    ui.bar = el('div', { class: 'bar' }, ui.end));
    root.append(ui.launcher, ui.panel);
    document.body.append(host);
  }

  function toggle(open) {
    S.open = open;
    ui.panel.hidden = !open;
    ui.launcher.setAttribute('aria-expanded', String(open));
    if (!open) return ui.launcher.focus();
    ui.launcher.removeAttribute('data-unread');
    if (!S.ws) connect();
    render();
    (ui.offline.hidden ? ui.input : ui.oName).focus();
  }

  function showError(text) {
    ui.error.textContent = text || '';
    ui.error.hidden = !text;
  }

  // -- the socket: hello first, every time; backoff 1 s doubling to 15 s while the panel is open ------

  function connect() {
    clearTimeout(S.retry);
    const ws = new WebSocket(WS_URL);
    S.ws = ws;
    S.welcomed = false;
    ui.status.textContent = t(S.delay > 1000 ? 'reconnecting' : 'connecting');
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', visitor: S.token, queue: QUEUE, lang: LANG }));
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg && typeof msg.type === 'string') receive(msg);
    };
    ws.onclose = (ev) => {
      if (S.ws !== ws) return;
      S.ws = null;
      S.welcomed = false;
      let wait = S.delay;
      S.delay = Math.min(S.delay * 2, 15000);
      if (ev.code === 4003 || ev.code === 4029) { // refused (this site; too many): say so, in their language, and wait longer
        showError(t(ev.code === 4003 ? 'forbidden' : 'busy'));
        wait = 30000;
      }
      if (!S.open) return; // a closed panel reconnects when it opens
      ui.status.textContent = t('reconnecting');
      S.retry = setTimeout(connect, wait);
    };
  }

  function frame(obj) {
    if (!S.welcomed || S.ws.readyState !== WebSocket.OPEN) {
      showError(t('notConnected'));
      return false;
    }
    S.ws.send(JSON.stringify(obj));
    return true;
  }

  // A server error in the visitor's language when we know its id, else the server's words.
  const ALIAS = { 'too-large': 'fileSize', 'bad-type': 'fileType', origin: 'forbidden' }; // the server's error ids
  const explain = (b) => {
    const key = b && (ALIAS[b.error_id] || b.error_id);
    return (key && own(key) ? t(key, { n: S.limits.max_text, size: size(S.limits.max_attachment_bytes) })
      : b && b.message) || t('failed');
  };

  function receive(msg) {
    switch (msg.type) {
      case 'welcome':
        S.welcomed = true;
        S.delay = 1000; // a working connection: back off from scratch next time
        if (msg.visitor) {
          S.token = msg.visitor;
          try { localStorage.setItem(KEY, S.token); } catch { /* private mode: this page only */ }
        }
        S.online = msg.online !== false;
        Object.assign(S.limits, msg.limits || {});
        ui.input.maxLength = ui.oText.maxLength = S.limits.max_text;
        ui.file.accept = (S.limits.attachment_types || []).join(',');
        S.chat = msg.chat || { state: 'none' };
        S.seen.clear();
        ui.list.replaceChildren();
        (msg.history || []).forEach(add);
        showError('');
        break;
      case 'message':
        if (msg.message && msg.message.from === 'agent') ui.typing.hidden = true;
        add(msg.message);
        break;
      case 'typing':
        if (msg.from !== 'agent') break;
        ui.typing.hidden = false;
        clearTimeout(S.typingOff);
        S.typingOff = setTimeout(() => { ui.typing.hidden = true; }, 4000);
        break;
      case 'chat':
        if (msg.chat) S.chat = msg.chat;
        if (typeof msg.online === 'boolean') S.online = msg.online;
        break;
      case 'contact': ui.cDone.hidden = !msg.ok; break;
      case 'error': showError(explain(msg)); break;
      default: return; // anything newer: not for this version
    }
    render();
  }

  // -- what the panel shows -----------------------------------------------------------------------

  function add(m) {
    if (!m || m.id == null || S.seen.has(m.id)) return; // the server echoes: each message once
    S.seen.add(m.id);
    const who = m.from === 'visitor' ? t('you') : m.from === 'agent' ? m.name || t('agent') : '';
    ui.list.append(el('li', { testid: 'chat-message', 'data-from': m.from, 'data-id': m.id,
      title: m.at ? new Date(m.at * 1000).toLocaleString(LANG) : null },
    who && el('span', { class: 'who', text: who }),
    m.text && el('span', { class: 'text', dir: 'auto', text: m.text }),
    ...(m.attachments || []).map((a) => el('span', { class: 'file', dir: 'auto', text: `${t('file')}: ${a.name || ''} (${size(a.bytes)})` }))));
    ui.list.scrollTop = ui.list.scrollHeight;
    if (!S.open && m.from === 'agent') ui.launcher.dataset.unread = '';
  }

  function render() {
    const c = S.chat;
    const live = c.state === 'waiting' || c.state === 'active';
    const left = !ui.done.hidden; // left a message: nothing more to type
    const offline = !S.online && !live && !left;
    ui.offline.hidden = !offline;
    ui.compose.hidden = ui.contact.hidden = offline || left;
    ui.bar.hidden = !live; // its one button: end the chat
    ui.position.hidden = !(c.state === 'waiting' && c.position != null);
    ui.position.textContent = t('position', { n: c.position });
    if (!S.welcomed) return;
    ui.status.textContent = c.state === 'waiting' ? t('waiting')
      : c.state === 'active' ? t('active', { name: c.agent || t('anAgent') })
        : c.state === 'ended' ? t('ended') : offline || left ? '' : t('start');
  }

  // -- what the visitor does ----------------------------------------------------------------------

  function typed() {
    if (Date.now() - S.typingSent < 2000 || !ui.input.value.trim() || !S.welcomed) return;
    S.typingSent = Date.now();
    frame({ type: 'typing' });
  }

  function send() {
    const text = ui.input.value.trim();
    if (!text) return showError(t('empty'));
    if (text.length > S.limits.max_text) return showError(t('too-long', { n: S.limits.max_text }));
    if (!frame({ type: 'message', text })) return;
    ui.input.value = ''; // it shows when the server echoes it
    showError('');
  }

  function contact() {
    const [email, phone] = [ui.cEmail.value.trim(), ui.cPhone.value.trim()];
    if (!email && !phone) return showError(t('needContact'));
    ui.cDone.hidden = true;
    if (frame({ type: 'contact', name: ui.cName.value.trim(), email, phone })) showError('');
  }

  // POST to our server, no cookies (the visitor is their token): calls done(JSON) on 2xx, else shows the error.
  function post(path, body, headers, done) {
    showError('');
    fetch(base.origin + path, { method: 'POST', body, headers, credentials: 'omit', mode: 'cors' })
      .then((res) => res.json().catch(() => null).then((data) => (res.ok ? done(data || {}) : showError(explain(data)))),
        () => showError(t('network')));
  }

  function leaveMessage() {
    const body = { visitor: S.token, queue: QUEUE, name: ui.oName.value.trim(), email: ui.oEmail.value.trim(),
      phone: ui.oPhone.value.trim(), text: ui.oText.value.trim() };
    if (!body.email && !body.phone) return showError(t('needContact'));
    if (!body.text) return showError(t('empty'));
    if (body.text.length > S.limits.max_text) return showError(t('too-long', { n: S.limits.max_text }));
    post('/chat/offline', JSON.stringify(body), { 'Content-Type': 'application/json' }, (data) => {
      ui.done.textContent = t('offlineDone', { id: data.ticket ?? '?' });
      ui.done.hidden = false;
      render();
    });
  }

  function upload() {
    const file = ui.file.files[0];
    ui.file.value = ''; // the same file can be chosen again
    if (!file) return;
    const types = S.limits.attachment_types || [];
    if (types.length && !types.includes(file.type)) return showError(t('fileType'));
    if (file.size > S.limits.max_attachment_bytes) return showError(t('fileSize', { size: size(S.limits.max_attachment_bytes) }));
    if (!S.token || !S.welcomed) return showError(t('notConnected'));
    const form = new FormData();
    form.append('file', file, file.name);
    post('/chat/upload', form, { 'X-Chat-Visitor': S.token }, (data) => add(data.message));
  }

  if (document.body) build();
  else document.addEventListener('DOMContentLoaded', build);
})();
