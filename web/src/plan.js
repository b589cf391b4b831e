// The plan as a picture: one row per node, one column per split dimension (layers, heads, KV
// heads, FFN columns, experts, vocabulary rows). Each cell names the node's range and draws where
// it lies in the whole dimension, so the split reads at a glance for 2 to 16 nodes. Above it, one
// bar of the model's weight bytes coloured by node.
import { el, bytes, nodeColor } from './common.js';

const range = (r) => (Array.isArray(r) && r.length === 2 ? { b: r[0], e: r[1] } : { b: 0, e: 0 });

// The dimensions this plan splits, with their totals (the largest end over all ranks, or the
// model's own count).
export function planColumns(plan) {
  const ranks = plan.ranks || [];
  const total = (key, given) => Math.max(given || 0, ...ranks.map((r) => range(r[key]).e));
  const cols = [
    { key: 'layers', label: 'Layers', total: total('layers', plan.n_layer) },
    { key: 'heads', label: 'Heads', total: total('heads', plan.n_head) },
    { key: 'kv_heads', label: 'KV heads', total: total('kv_heads', plan.n_head_kv) },
    { key: 'ff', label: 'FFN columns', total: total('ff', 0) },
    { key: 'experts', label: 'Experts', total: total('experts', 0) },
    { key: 'exp_ff', label: 'Expert columns', total: total('exp_ff', 0) },
    { key: 'vocab', label: 'Vocabulary rows', total: total('vocab', plan.n_vocab) },
  ];
  return cols.filter((c) => c.total > 0);
}

// "0–15" for [0, 16); "none" for an empty range.
export function rangeText(r) {
  const { b, e } = range(r);
  return e > b ? `${b}–${e - 1}` : 'none';
}

function cell(r, total, color) {
  const { b, e } = range(r);
  const fill = el('span', { class: 'fill' });
  fill.style.left = `${(100 * b) / total}%`;
  fill.style.width = `${(100 * (e - b)) / total}%`;
  fill.style.background = color;
  return el('td', { class: 'range', dataset: { begin: b, end: e } },
    el('div', { class: 'range-text' }, el('b', {}, rangeText(r)), el('small', {}, e > b ? ` ${e - b} of ${total}` : '')),
    el('div', { class: 'track' }, fill));
}

export function planView(plan, nodes) {
  if (!plan || !plan.ranks) return el('p', { class: 'muted' }, plan?.error || 'No plan.');
  const cols = planColumns(plan);
  const names = (plan.nodes || []).map((n) => n.name);
  const weights = plan.ranks.map((r) => r.weight_bytes || 0);
  const sum = weights.reduce((a, b) => a + b, 0) || 1;
  const stack = el('div', { class: 'stack', role: 'img', 'aria-label': 'weight bytes held by each node' });
  plan.ranks.forEach((r, i) => {
    const seg = el('span', { title: `${names[i] ?? 'rank ' + r.rank}: ${bytes(weights[i])}` });
    seg.style.width = `${(100 * weights[i]) / sum}%`;
    seg.style.background = nodeColor(r.rank);
    stack.append(seg);
  });
  const head = el('tr', {}, el('th', {}, 'Node'), cols.map((c) => el('th', {}, c.label)), el('th', { class: 'num' }, 'Weights'), el('th', { class: 'num' }, 'KV cache'));
  const rows = plan.ranks.map((r, i) => {
    const swatch = el('i', { class: 'swatch' });
    swatch.style.background = nodeColor(r.rank);
    const status = nodes?.find((n) => n.rank === r.rank)?.status;
    return el('tr', { dataset: { rank: r.rank }, class: status === 'down' ? 'down' : null },
      el('th', { scope: 'row' }, swatch, el('span', { class: 'node-name' }, names[i] ?? `rank ${r.rank}`),
        plan.stages > 1 ? el('small', { class: 'muted' }, ` stage ${r.stage}`) : null),
      cols.map((c) => cell(r[c.key], c.total, nodeColor(r.rank))),
      el('td', { class: 'num' }, bytes(r.weight_bytes)),
      el('td', { class: 'num' }, bytes(r.kv_bytes)));
  });
  const facts = [
    `${plan.ranks.length} node${plan.ranks.length === 1 ? '' : 's'}`,
    plan.stages > 1 ? `${plan.stages} pipeline stages` : 'tensor parallel',
    plan.n_ctx ? `context ${plan.n_ctx}` : null,
    `${bytes(plan.model_weight_bytes)} of weights in ${bytes(plan.pooled_memory_bytes)} pooled`,
    plan.expert_split && plan.ranks.some((r) => range(r.experts).e > 0 || range(r.exp_ff).e > 0) ? `experts split by ${plan.expert_split}` : null,
  ].filter(Boolean);
  return el('div', { class: 'plan' },
    el('p', { class: 'muted plan-facts' }, facts.join(' · ')),
    stack,
    el('div', { class: 'table-scroll' }, el('table', { class: 'plan-table' }, el('thead', {}, head), el('tbody', {}, rows))));
}
