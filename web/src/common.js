// What both pages share: DOM building, number formatting, and fetch with the API key.

// el('div', {class: 'x', onclick: f}, child, 'text', ...): an element; null children are skipped.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// 1536 -> "1.5 KiB"; binary units, as the CLI prints memory.
export function bytes(n) {
  if (n === null || n === undefined || !isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
}

// 1234567 -> "1.23 M"
export function count(n) {
  if (n === null || n === undefined || !isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e12) return `${(n / 1e12).toFixed(2)} T`;
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)} K`;
  return String(Math.round(n));
}

// A rate or a time with sensible digits.
export function num(n, digits = 1) {
  if (n === null || n === undefined || !isFinite(n)) return '–';
  return n >= 100 ? n.toFixed(0) : n.toFixed(digits);
}

export function duration(s) {
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

const KEY_STORE = 'shoal.apiKey';
export function apiKey() { return localStorage.getItem(KEY_STORE) || ''; }
export function setApiKey(k) {
  if (k) localStorage.setItem(KEY_STORE, k); else localStorage.removeItem(KEY_STORE);
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// fetch() with the API key (when one is stored) and errors in OpenAI's shape made readable.
export async function api(path, init = {}) {
  const headers = new Headers(init.headers || {});
  const k = apiKey();
  if (k) headers.set('Authorization', `Bearer ${k}`);
  const res = await fetch(path, { ...init, headers });
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try { const j = await res.json(); if (j.error?.message) msg = j.error.message; } catch { /* not JSON */ }
    throw new ApiError(res.status, msg);
  }
  return res;
}

// Sixteen colours that stay apart from each other, on light and dark backgrounds alike.
export const NODE_COLORS = [
  '#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626',
  '#4f46e5', '#ca8a04', '#0d9488', '#c026d3', '#ea580c', '#16a34a', '#9333ea', '#0284c7',
];
export const nodeColor = (rank) => NODE_COLORS[rank % NODE_COLORS.length];

// The header both pages show.
export function topBar(active) {
  const link = (href, label, key) =>
    el('a', { href, class: active === key ? 'active' : null, 'aria-current': active === key ? 'page' : null }, label);
  return el('header', { class: 'top' },
    el('a', { class: 'brand', href: '/' }, el('img', { src: '/assets/icon.svg', alt: '', width: 22, height: 22 }), 'shoal'),
    el('nav', {}, link('/', 'Dashboard', 'dash'), link('/chat', 'Chat', 'chat')),
    el('span', { class: 'grow' }),
    el('span', { id: 'top-status', class: 'top-status' }));
}
