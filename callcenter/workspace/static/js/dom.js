// Small DOM helpers. Data always goes in as text nodes or attribute values, never as HTML.
import { t, lang } from './i18n.js';

export const $ = (sel, root = document) => root.querySelector(sel);

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k === 'class') el.className = v;
    else if (k === 'testid') el.dataset.testid = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c != null && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Seconds as m:ss or h:mm:ss; "—" for null. */
export function dur(seconds) {
  if (seconds == null || !Number.isFinite(Number(seconds))) return '—';
  const s = Math.max(0, Math.round(Number(seconds)));
  const pad = (n) => String(n).padStart(2, '0');
  const [hh, mm, ss] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  return hh ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
}

/** Epoch seconds as a local date and time in the page's language. */
export function when(epoch) {
  if (!epoch) return '—';
  return new Date(epoch * 1000).toLocaleString(lang(), { dateStyle: 'short', timeStyle: 'short' });
}

export const pct = (x) => (x == null ? '—' : `${Math.round(x * 100)} %`);

/** A configured word (pause reason, wrap-up code) in the page's language when we know it, else as is. */
export const word = (kind, value) => t(`${kind}.${value}`, null, String(value));

/** <select> options [value, label]; keeps the chosen value when it is still there. */
export function fillSelect(select, options, value = select.value) {
  select.replaceChildren(...options.map(([v, label]) => h('option', { value: v, text: label })));
  if (options.some(([v]) => v === value)) select.value = value;
}
