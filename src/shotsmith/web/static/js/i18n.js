// The studio's languages. Every visible English string is a message id; the
// catalogues (locale-en.js: the messages, locale-zh-CN.js: their Chinese) map it
// to the page's language. The language comes from the browser until the user picks
// one in the header; the choice is kept in this browser. Dates and numbers follow it.
//
// In index.html an element marked data-i18n shows its English text translated, and
// data-i18n-attr="placeholder aria-label" names the attributes to translate. In the
// scripts, t`Seed ${n} is taken` or t('Queued'): the message id is the English with
// {0}, {1} ... for the values (`Seed {0} is taken`).

import en from './locale-en.js';
import zhCN from './locale-zh-CN.js';

export const CATALOGUES = { en, 'zh-CN': zhCN };
export const LANGUAGES = [['en', 'English'], ['zh-CN', '中文']];
const STORED = 'shotsmith.language';

function fromBrowser() {
  const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  for (const tag of wanted) {
    const lower = String(tag || '').toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

function stored() {
  try {
    const value = localStorage.getItem(STORED);
    return value && CATALOGUES[value] ? value : null;
  } catch {
    return null;
  }
}

export const locale = stored() || fromBrowser();
const messages = CATALOGUES[locale];

// The message id of a tagged template: its literal parts joined by {0}, {1} ...
function messageId(strings) {
  return strings.reduce((id, part, i) => (i ? `${id}{${i - 1}}${part}` : part), '');
}

// t`text ${value}` or t('text'): the text in the page's language (as written where
// the catalogue has no entry), with the values filled in.
export function t(strings, ...values) {
  const id = typeof strings === 'string' ? strings : messageId(strings);
  const template = messages[id] ?? id;
  return template.replace(/\{(\d+)\}/g, (whole, i) => (i < values.length ? String(values[i]) : whole));
}

// Numbers, dates and times in the page's language.
export function fmtNumber(value, options = {}) {
  return new Intl.NumberFormat(locale, options).format(Number(value));
}

export function fmtDateTime(epochSeconds) {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' })
    .format(new Date(epochSeconds * 1000));
}

export function fmtTime(date) {
  return new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' }).format(date);
}

export function fmtDay(date) {
  return new Intl.DateTimeFormat(locale, { month: 'short', day: 'numeric' }).format(date);
}

// Translate everything index.html marks for it under `root` (once, at start).
export function translatePage(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(el.textContent.replace(/\s+/g, ' ').trim());
  }
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const name of el.dataset.i18nAttr.split(/\s+/).filter(Boolean)) {
      const value = el.getAttribute(name);
      if (value) el.setAttribute(name, t(value.replace(/\s+/g, ' ').trim()));
    }
  }
  document.documentElement.lang = locale;
  document.title = t('shotsmith studio');
}

// The header's language switch: remembered in this browser, then the page reloads in it.
export function bindLanguageSwitch(select) {
  select.replaceChildren(...LANGUAGES.map(([value, name]) => {
    const option = document.createElement('option');
    option.value = value;
    option.textContent = name;
    option.lang = value;
    return option;
  }));
  select.value = locale;
  select.setAttribute('aria-label', t('Language'));
  select.addEventListener('change', () => {
    try {
      localStorage.setItem(STORED, select.value);
    } catch {
      // storage refused (a private window): the choice holds for this load only
    }
    window.location.reload();
  });
}
