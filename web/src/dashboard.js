// The dashboard: polls GET /v1/pool once a second (history since the last sample only) and
// redraws the live figures, the chart, the node cards, the plan and the model card.
import { el, bytes, count, num, duration, api, apiKey, setApiKey, nodeColor, topBar } from './common.js';
import { lineChart } from './chart.js';
import { planView } from './plan.js';
import { progressView } from './progress.js';
import { linksView } from './links.js';

const POLL_MS = 1000;
const LOADING_POLL_MS = 250;  // while the server starts: the bars move smoothly
const WINDOW_MS = 10 * 60 * 1000;

const state = { pool: null, samples: [], lastT: -1, error: null, planKey: '', modelKey: '' };

const $ = (id) => document.getElementById(id);

function layout() {
  const app = $('app');
  app.replaceChildren(
    topBar('dash'),
    el('main', { class: 'dash' },
      el('div', { id: 'banner' }),
      el('section', { class: 'card wide', id: 'progress-card', hidden: true },
        el('h2', { id: 'progress-title' }, 'Starting'), el('div', { id: 'progress' })),
      el('section', { class: 'kpis', id: 'kpis', 'aria-label': 'live figures' }),
      el('section', { class: 'card wide' }, el('h2', { id: 'chart-title' }, 'Tokens per second'), el('div', { id: 'chart' })),
      el('section', { class: 'card wide' }, el('h2', {}, 'Nodes'), el('div', { id: 'links' }),
        el('div', { id: 'nodes', class: 'nodes' })),
      el('section', { class: 'card wide' }, el('h2', {}, 'Plan'), el('div', { id: 'plan' })),
      el('section', { class: 'card wide' }, el('h2', {}, 'Model'), el('div', { id: 'model' }))));
}

function kpi(id, label, value, unit, sub) {
  return el('div', { class: 'kpi', id: `kpi-${id}`, dataset: { value: value ?? '' } },
    el('div', { class: 'kpi-label' }, label),
    el('div', { class: 'kpi-value' }, value === null || value === undefined ? '–' : value, unit ? el('span', { class: 'unit' }, unit) : null),
    sub ? el('div', { class: 'kpi-sub' }, sub) : null);
}

// The newest of the last few seconds' time to first token (generations end irregularly).
function recentTtft() {
  for (let i = state.samples.length - 1; i >= 0 && i >= state.samples.length - 60; i--) {
    if (state.samples[i].ttft_ms !== null) return state.samples[i].ttft_ms;
  }
  return null;
}

function renderKpis(p) {
  const live = p.live || {};
  const kvPct = live.kv_blocks_total ? (100 * live.kv_blocks_used) / live.kv_blocks_total : null;
  const ttft = recentTtft();
  $('kpis').replaceChildren(
    kpi('decode', 'Decode', num(live.decode_tokens_per_s), 'tok/s', `${count(p.totals?.generated_tokens)} generated`),
    kpi('prompt', 'Prompt', num(live.prompt_tokens_per_s), 'tok/s', `${count(p.totals?.prompt_tokens)} read · ${count(p.totals?.cached_tokens)} cached`),
    kpi('running', 'Requests', `${live.requests_running ?? 0}`, 'running', `${live.requests_queued ?? 0} queued · ${count(p.totals?.requests)} total`),
    kpi('batch', 'Batch', `${live.batch_sequences ?? 0}`, 'seq', `${live.batch_tokens ?? 0} tokens a step`),
    kpi('ttft', 'First token', ttft === null ? null : num(ttft, 0), 'ms', 'latest requests'),
    kpi('step', 'Step time', live.step_ms ? num(live.step_ms) : null, 'ms', 'all nodes, last step'),
    kpi('kv', 'KV cache', kvPct === null ? null : num(kvPct), '%', live.kv_blocks_total ? `${live.kv_blocks_used} of ${live.kv_blocks_total} blocks` : 'not reported'));
}

function renderChart() {
  const box = $('chart');
  const width = box.clientWidth || 640;
  const pts = (key) => state.samples.map((s) => [s.t_ms, s[key]]);
  // The span shown grows with the history: one minute at first, whole minutes up to ten.
  const now = state.pool?.now_ms ?? Date.now();
  const span = state.samples.length ? now - state.samples[0].t_ms : 0;
  const windowMs = Math.min(WINDOW_MS, Math.max(60000, Math.ceil(span / 60000) * 60000));
  $('chart-title').textContent = `Tokens per second, last ${windowMs / 60000 === 1 ? 'minute' : `${windowMs / 60000} minutes`}`;
  box.replaceChildren(lineChart([
    { name: 'decode tok/s', color: '#0f766e', values: pts('decode_tokens_per_s') },
    { name: 'prompt tok/s', color: '#d97706', values: pts('prompt_tokens_per_s') },
  ], { width, height: 220, windowMs, now, unit: 'tokens/s' }));
}

function meter(used, total, color) {
  const m = el('div', { class: 'meter' });
  const f = el('span');
  f.style.width = `${total > 0 ? Math.min(100, (100 * used) / total) : 0}%`;
  if (color) f.style.background = color;
  m.append(f);
  return m;
}

function nodeCard(n) {
  const stripe = el('div', { class: 'node-stripe' });
  stripe.style.background = nodeColor(n.rank);
  const rows = [
    ['Memory offered', bytes(n.memory_bytes)],
    ['Weights held', bytes(n.weight_bytes)],
    ['KV cache', `${bytes(n.kv_used_bytes)} of ${bytes(n.kv_budget_bytes)}`],
    ['Threads', n.threads],
    ['Bandwidth', n.bandwidth_gbs > 0 ? `${num(n.bandwidth_gbs)} GB/s` : '–'],
    ['Share of work', `${num(100 * (n.share ?? 0))}%`],
    // Its compute per step (median of the last 32) and that over rank 0's step wall time.
    ['Step time', n.step_ms == null ? '–' : `${num(n.step_ms, 2)} ms`],
    ['Share of step', n.step_share == null ? '–' : `${num(100 * n.step_share)}%`],
  ];
  return el('article', { class: `node ${n.status}`, dataset: { rank: n.rank, status: n.status } },
    stripe,
    el('header', {},
      el('div', {}, el('div', { class: 'node-title' }, n.name || `rank ${n.rank}`),
        el('div', { class: 'muted small' }, `rank ${n.rank}${n.pid ? ` · pid ${n.pid}` : ''}`)),
      el('span', { class: `pill ${n.status}` }, n.status)),
    el('div', { class: 'node-mem', title: 'weights and KV cache budget within the memory offered' },
      meter(n.weight_bytes + n.kv_budget_bytes, n.memory_bytes, nodeColor(n.rank))),
    el('dl', {}, rows.map(([k, v]) => [el('dt', {}, k), el('dd', { dataset: { field: k } }, v)])),
    el('div', { class: 'muted small kv-label' }, 'KV cache in use'),
    meter(n.kv_used_bytes, n.kv_budget_bytes),
    n.status_detail ? el('p', { class: 'detail small' }, n.status_detail) : null);
}

function renderNodes(p) {
  const nodes = p.nodes || [];
  const none = p.state === 'loading' ? 'The nodes show once the model is loaded.' : 'No node information.';
  $('nodes').replaceChildren(...(nodes.length ? nodes.map(nodeCard) : [el('p', { class: 'muted' }, none)]));
  const links = linksView(p.links, nodes);
  $('links').replaceChildren(...(links ? [links] : []));
}

// While the server loads (or failed to): the start's steps as bars. Hidden once it is ready.
function renderProgress(p) {
  const card = $('progress-card');
  const loading = p.state && p.state !== 'ready';
  card.hidden = !loading;
  document.body.dataset.state = p.state || 'ready';
  if (!loading) return;
  const pr = p.progress || {};
  $('progress-title').textContent = p.state === 'failed' ? 'The start failed'
    : `Loading${pr.label ? `: ${pr.label}` : ''}`;
  const names = Object.fromEntries((p.plan?.nodes || []).map((n, i) => [i, n.name]));
  $('progress').replaceChildren(progressView(pr, names),
    ...(pr.error ? [el('p', { class: 'detail', role: 'alert' }, pr.error)] : []));
}

function renderModel(m) {
  if (!m) { $('model').replaceChildren(el('p', { class: 'muted' }, 'No model information.')); return; }
  const rows = [
    ['Model', m.name || m.id],
    ['File', m.file],
    ['Architecture', m.arch + (m.n_expert ? ` · MoE ${m.n_expert_used} of ${m.n_expert} experts` : '') + (m.mla ? ' · MLA' : '')],
    ['Parameters', count(m.parameters)],
    ['Quantization', Object.keys(m.weight_types || {}).length > 1 ? `${m.quantization} (mostly)` : m.quantization],
    ['Weights', bytes(m.weight_bytes)],
    ['Context', `${count(m.context)} tokens${m.context_train ? ` (trained ${count(m.context_train)})` : ''}`],
    ['KV cache', `${bytes(m.kv_bytes_per_token)} per token`],
    ['Shape', `${m.n_layer} layers · ${m.n_embd} wide · ${m.n_head} heads (${m.n_head_kv} KV) · FFN ${m.n_ff} · vocab ${count(m.n_vocab)}`],
  ];
  $('model').replaceChildren(el('dl', { class: 'model-card' }, rows.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])));
}

function renderBanner(p) {
  const b = $('banner');
  const parts = [];
  if (state.error) {
    parts.push(el('div', { class: 'banner error', role: 'alert' }, state.error.message,
      state.error.status === 401 ? keyForm() : null));
  }
  if (p && p.engine && !p.engine.ok) {
    parts.push(el('div', { class: 'banner error', role: 'alert', id: 'engine-error' },
      el('b', {}, 'The engine reported an error: '), p.engine.error));
  }
  const down = (p?.nodes || []).filter((n) => n.status === 'down');
  if (down.length) {
    parts.push(el('div', { class: 'banner warn', role: 'status' },
      `${down.length} node${down.length > 1 ? 's are' : ' is'} down: ${down.map((n) => n.name).join(', ')}`));
  }
  b.replaceChildren(...parts);
  const top = $('top-status');
  if (p && p.state && p.state !== 'ready') top.textContent = `${p.state} · ${duration((p.now_ms - p.started_ms) / 1000)}`;
  else if (p) top.textContent = `${p.model?.id ?? ''} · ${(p.nodes || []).length || 1} node${(p.nodes || []).length > 1 ? 's' : ''} · up ${duration((p.now_ms - p.started_ms) / 1000)}`;
}

function keyForm() {
  const input = el('input', { type: 'password', placeholder: 'API key', autocomplete: 'off', value: apiKey() });
  return el('form', { class: 'key-form', onsubmit: (e) => { e.preventDefault(); setApiKey(input.value.trim()); poll(); } },
    input, el('button', { type: 'submit' }, 'Use key'));
}

function render() {
  const p = state.pool;
  renderBanner(p);
  if (!p) return;
  renderProgress(p);
  renderKpis(p);
  renderChart();
  renderNodes(p);
  const key = JSON.stringify([p.plan, (p.nodes || []).map((n) => n.status)]);
  if (key !== state.planKey) {  // the plan changes rarely: keep its DOM (and any selection)
    state.planKey = key;
    $('plan').replaceChildren(p.plan || p.state !== 'loading' ? planView(p.plan, p.nodes)
      : el('p', { class: 'muted' }, 'The plan shows once the model is loaded.'));
  }
  const modelKey = JSON.stringify(p.model);
  if (modelKey !== state.modelKey) {
    state.modelKey = modelKey;
    renderModel(p.model);
  }
}

let timer = null;
async function poll() {
  clearTimeout(timer);
  try {
    const res = await api(`/v1/pool${state.lastT >= 0 ? `?since=${state.lastT}` : ''}`, { cache: 'no-store' });
    const p = await res.json();
    state.error = null;
    state.pool = p;
    const fresh = p.history?.samples || [];
    if (fresh.length) state.lastT = fresh[fresh.length - 1].t_ms;
    state.samples = state.samples.concat(fresh).filter((s) => s.t_ms > p.now_ms - WINDOW_MS);
  } catch (e) {
    state.error = e.status ? e : new Error(`The server does not answer (${e.message}).`);
  }
  render();
  document.body.dataset.loaded = '1';
  if (state.error?.status === 401) return;  // until a key is given (keyForm polls again)
  timer = setTimeout(poll, state.pool?.state === 'loading' ? LOADING_POLL_MS : POLL_MS);
}

layout();
window.addEventListener('resize', () => { if (state.pool) renderChart(); });
poll();
