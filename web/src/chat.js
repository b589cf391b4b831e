// The chat page: a conversation with the served model through POST /v1/chat/completions
// (stream: true), kept in this browser's localStorage. Answers render as Markdown; a model's
// thinking (reasoning_content) shows collapsed; Stop aborts the request, and the server cancels
// the sequence when its client goes away.
import { el, api, apiKey, setApiKey, num, topBar } from './common.js';
import { setMarkdown } from './markdown.js';
import { readSse } from './sse.js';

const STORE = 'shoal.chat.v1';
const DEFAULTS = { system: '', temperature: 0.7, max_tokens: 512 };

function load() {
  try {
    const s = JSON.parse(localStorage.getItem(STORE) || '{}');
    return { messages: Array.isArray(s.messages) ? s.messages : [], settings: { ...DEFAULTS, ...(s.settings || {}) } };
  } catch {
    return { messages: [], settings: { ...DEFAULTS } };
  }
}
const state = { ...load(), model: '', busy: null };
const save = () => localStorage.setItem(STORE, JSON.stringify({
  messages: state.messages.map(({ view, ...m }) => m), settings: state.settings,
}));

const $ = (id) => document.getElementById(id);

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {  // no clipboard permission (or an old browser): select the text instead
    const t = el('textarea', { class: 'offscreen' }, text);
    document.body.append(t);
    t.select();
    document.execCommand('copy');
    t.remove();
  }
  const old = button.textContent;
  button.textContent = 'Copied';
  setTimeout(() => { button.textContent = old; }, 1200);
}

function statsText(m) {
  const s = m.stats;
  if (!s) return '';
  const parts = [];
  if (s.tokens) parts.push(`${s.tokens} tokens`);
  if (s.tokens_per_s) parts.push(`${num(s.tokens_per_s)} tok/s`);
  if (s.ttft_ms) parts.push(`first token ${num(s.ttft_ms, 0)} ms`);
  if (s.finish) parts.push(s.finish === 'stopped' ? 'stopped' : s.finish === 'length' ? 'max tokens reached' : null);
  return parts.filter(Boolean).join(' · ');
}

// One message's DOM; `m.view` keeps the parts a stream updates.
function messageView(m, i) {
  const body = el('div', { class: 'msg-body' });
  const thinkBody = el('div', { class: 'think-body' });
  const think = el('details', { class: 'think', hidden: !m.reasoning },
    el('summary', {}, m.streaming && !m.content ? 'Thinking…' : 'Thought'), thinkBody);
  const stats = el('span', { class: 'msg-stats' }, statsText(m));
  const copy = el('button', { type: 'button', class: 'ghost small', onclick: (e) => copyText(m.content, e.currentTarget) }, 'Copy');
  const node = el('div', { class: `msg ${m.role}${m.error ? ' error' : ''}`, dataset: { index: i, role: m.role } },
    el('div', { class: 'msg-role' }, m.role === 'user' ? 'You' : 'Model'),
    think, body,
    m.error ? el('div', { class: 'msg-error', role: 'alert' }, m.error) : null,
    m.role === 'assistant' ? el('div', { class: 'msg-foot' }, stats, copy) : null);
  m.view = { node, body, think, thinkBody, stats };
  paint(m);
  return node;
}

function paint(m) {
  const v = m.view;
  if (!v) return;
  if (m.role === 'user') v.body.textContent = m.content;
  else setMarkdown(v.body, m.content || (m.streaming ? '…' : ''), copyText);
  v.think.hidden = !m.reasoning;
  if (m.reasoning) {
    v.thinkBody.textContent = m.reasoning;
    v.think.querySelector('summary').textContent = m.streaming && !m.content ? 'Thinking…' : 'Thought';
  }
  v.stats.textContent = statsText(m);
  v.node.classList.toggle('streaming', !!m.streaming);
}

function renderMessages() {
  const list = $('messages');
  list.replaceChildren(...state.messages.map(messageView));
  if (!state.messages.length) {
    list.append(el('div', { class: 'empty' },
      el('h2', {}, 'Talk to the pool'),
      el('p', { class: 'muted' }, state.model ? `The model is ${state.model}. ` : '', 'The conversation stays in this browser.')));
  }
  list.scrollTop = list.scrollHeight;
}

function setBusy(b) {
  state.busy = b;
  const btn = $('send');
  btn.textContent = b ? 'Stop' : 'Send';
  btn.classList.toggle('stop', !!b);
  btn.setAttribute('aria-label', b ? 'Stop the answer' : 'Send');
}

async function send(text) {
  const s = state.settings;
  state.messages.push({ role: 'user', content: text });
  const m = { role: 'assistant', content: '', reasoning: '', streaming: true };
  state.messages.push(m);
  save();
  renderMessages();
  const history = [];
  if (s.system.trim()) history.push({ role: 'system', content: s.system });
  for (const x of state.messages) if (x !== m && !x.error) history.push({ role: x.role, content: x.content });
  const ctrl = new AbortController();
  setBusy(ctrl);
  const t0 = performance.now();
  let tFirst = 0, tLast = 0, chunks = 0, usage = null, finish = null;
  let frame = 0;
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; paint(m); $('messages').scrollTop = $('messages').scrollHeight; });
  };
  try {
    const res = await api('/v1/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        model: state.model || undefined, messages: history, stream: true,
        stream_options: { include_usage: true },
        temperature: Number(s.temperature), max_tokens: Number(s.max_tokens),
      }),
      signal: ctrl.signal,
    });
    await readSse(res.body, (j) => {
      if (j.error) throw new Error(j.error.message || 'the server reported an error');
      if (j.usage) usage = j.usage;
      const c = j.choices?.[0];
      if (!c) return;
      const d = c.delta || {};
      if (d.content || d.reasoning_content) {
        if (!tFirst) tFirst = performance.now();
        tLast = performance.now();
        chunks++;
      }
      if (d.reasoning_content) m.reasoning += d.reasoning_content;
      if (d.content) m.content += d.content;
      if (c.finish_reason) finish = c.finish_reason;
      schedule();
    });
  } catch (e) {
    if (e.name === 'AbortError') finish = 'stopped';
    else m.error = e.message;
  }
  if (frame) cancelAnimationFrame(frame), frame = 0;
  const tokens = usage?.completion_tokens ?? chunks;
  const decodeS = (tLast - tFirst) / 1000;
  m.stats = {
    tokens,
    tokens_per_s: tokens > 1 && decodeS > 0 ? (tokens - 1) / decodeS : null,
    ttft_ms: tFirst ? tFirst - t0 : null,
    finish,
  };
  m.streaming = false;
  setBusy(null);
  save();
  renderMessages();
  $('input').focus();
}

function settingsPanel() {
  const s = state.settings;
  const bind = (input, key, parse = (v) => v) => {
    input.addEventListener('input', () => { s[key] = parse(input.value); save(); sync(); });
    return input;
  };
  const temp = bind(el('input', { id: 'temperature', type: 'range', min: 0, max: 2, step: 0.05, value: s.temperature }), 'temperature', Number);
  const tempOut = el('output', { for: 'temperature' }, num(s.temperature, 2));
  const sync = () => { tempOut.textContent = Number(s.temperature).toFixed(2); };
  const key = el('input', { id: 'api-key', type: 'password', autocomplete: 'off', placeholder: 'only if the server asks', value: apiKey() });
  key.addEventListener('change', () => setApiKey(key.value.trim()));
  return el('aside', { class: 'settings', id: 'settings' },
    el('label', { for: 'system' }, 'System prompt'),
    bind(el('textarea', { id: 'system', rows: 5, placeholder: 'You are a helpful assistant.' }, s.system), 'system'),
    el('label', { for: 'temperature' }, 'Temperature ', tempOut), temp,
    el('label', { for: 'max-tokens' }, 'Max tokens'),
    bind(el('input', { id: 'max-tokens', type: 'number', min: 1, max: 1048576, value: s.max_tokens }), 'max_tokens', Number),
    el('label', { for: 'api-key' }, 'API key'), key,
    el('button', { type: 'button', id: 'new-chat', class: 'ghost', onclick: () => {
      if (state.busy) state.busy.abort();
      state.messages = []; save(); renderMessages();
    } }, 'New conversation'));
}

function layout() {
  const input = el('textarea', { id: 'input', rows: 1, placeholder: 'Message the model', 'aria-label': 'Message (Enter sends, Shift+Enter starts a new line)' });
  const grow = () => { input.style.height = 'auto'; input.style.height = `${Math.min(input.scrollHeight, 240)}px`; };
  input.addEventListener('input', grow);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (form.requestSubmit) form.requestSubmit();  // Safari < 16 has no requestSubmit
      else form.dispatchEvent(new Event('submit', { cancelable: true }));
    }
  });
  const form = el('form', { class: 'composer', id: 'composer', onsubmit: (e) => {
    e.preventDefault();
    if (state.busy) { state.busy.abort(); return; }
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    grow();
    send(text);
  } }, input, el('button', { type: 'submit', id: 'send', class: 'primary' }, 'Send'));
  const toggle = el('button', { type: 'button', class: 'ghost settings-toggle', 'aria-controls': 'settings', onclick: () => document.body.classList.toggle('show-settings') }, 'Settings');
  $('app').replaceChildren(
    topBar('chat'),
    el('div', { class: 'chat' },
      settingsPanel(),
      el('main', { class: 'conversation' },
        el('div', { class: 'chat-tools' }, toggle),
        el('div', { id: 'messages', class: 'messages', 'aria-live': 'polite' }),
        form)));
}

async function init() {
  layout();
  // Messages saved mid-stream (the page closed) are complete as they are.
  for (const m of state.messages) if (m.streaming) { m.streaming = false; m.stats = { ...(m.stats || {}), finish: 'stopped' }; }
  renderMessages();
  try {
    const r = await api('/v1/models');
    const j = await r.json();
    state.model = j.data?.[0]?.id || '';
    $('top-status').textContent = state.model;
    if (!state.messages.length) renderMessages();
  } catch (e) {
    $('top-status').textContent = e.status === 401 ? 'needs an API key (Settings)' : 'server unreachable';
  }
  document.body.dataset.loaded = '1';
  $('input').focus();
}

init();
