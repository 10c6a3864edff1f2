// Every UI string lives in ../i18n/<lang>.js. Static elements name their string with data-i18n
// (text), data-i18n-placeholder, data-i18n-title or data-i18n-aria-label; pages re-render the rest
// from onLanguage().
import en from '../i18n/en.js';
import zh from '../i18n/zh-CN.js';

const DICTS = { en, 'zh-CN': zh };
const KEY = 'callcenter.lang';
const listeners = [];

function stored() {
  try { return localStorage.getItem(KEY); } catch { return null; }
}

let current = DICTS[stored()] ? stored() : 'en';

export const lang = () => current;

/** The string `key` with {name} placeholders filled from `vars`. */
export function t(key, vars, fallback) {
  const own = (d) => (Object.hasOwn(d, key) ? d[key] : undefined);
  const s = own(DICTS[current]) ?? own(en) ?? fallback ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] ?? m)) : s;
}

export function apply(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const attr of ['placeholder', 'title', 'aria-label']) {
    const data = `i18n${attr.replace(/(^|-)(\w)/g, (m, d, c) => c.toUpperCase())}`;
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) el.setAttribute(attr, t(el.dataset[data]));
  }
}

export function setLanguage(code) {
  if (!DICTS[code] || code === current) return;
  current = code;
  try { localStorage.setItem(KEY, code); } catch { /* private mode: this page only */ }
  apply();
  for (const f of listeners) f();
}

export const onLanguage = (f) => listeners.push(f);

/** Wires the page's language <select data-testid="language"> and translates the page. */
export function initLanguage() {
  const select = document.querySelector('[data-testid="language"]');
  if (select) {
    select.value = current;
    select.addEventListener('change', () => setLanguage(select.value));
  }
  apply();
}
