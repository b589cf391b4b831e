// The start's progress (GET /v1/pool's `progress`): one bar per step (mapping and repacking
// weights, shipping shards, the nodes' load reports, the warm-up) and, for a step done per node,
// one bar per node, with the amount, the rate and the time left.
import { el, bytes, count, duration, nodeColor } from './common.js';

// "3.0 MiB of 12.0 MiB · 1.5 MiB/s · 6s left" for bytes; "2 of 3 nodes" for counts.
export function progressText(done, total, unit, elapsedMs) {
  const isBytes = unit === 'B';
  const amount = (n) => (isBytes ? bytes(n) : count(n));
  const parts = [`${amount(done)} of ${amount(total)}${isBytes ? '' : ` ${unit}`}`];
  const s = (elapsedMs || 0) / 1000;
  if (isBytes && s > 0 && done > 0) parts.push(`${bytes(done / s)}/s`);
  if (done >= total) {
    parts.push(`took ${duration(s)}`);
  } else if (done > 0 && s > 0) {
    parts.push(`${duration((s * (total - done)) / done)} left`);
  }
  return parts.join(' · ');
}

// The fraction done, 0..1 (an empty step is done).
export function fraction(done, total) {
  return total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
}

// The rows to draw: each phase, then its nodes when it is per node.
export function progressRows(progress, names = {}) {
  const rows = [];
  for (const p of progress?.phases || []) {
    rows.push({ phase: p.phase, node: null, label: p.label, done: p.done, total: p.total,
      unit: p.unit, finished: p.finished, frac: fraction(p.done, p.total),
      text: progressText(p.done, p.total, p.unit, p.elapsed_ms) });
    // A step of one node only (rank 0 mapping its shard) needs no bar of its own for it.
    for (const n of p.nodes?.length > 1 ? p.nodes : []) {
      rows.push({ phase: p.phase, node: n.node, label: names[n.node] ?? `node ${n.node}`,
        done: n.done, total: n.total, unit: p.unit, finished: n.finished,
        frac: fraction(n.done, n.total), text: progressText(n.done, n.total, p.unit, n.elapsed_ms) });
    }
  }
  return rows;
}

function bar(frac, color) {
  const m = el('div', { class: 'meter' });
  const f = el('span');
  f.style.width = `${(100 * frac).toFixed(1)}%`;
  if (color) f.style.background = color;
  m.append(f);
  return m;
}

export function progressView(progress, names = {}) {
  const rows = progressRows(progress, names);
  if (!rows.length) return el('p', { class: 'muted' }, 'Starting…');
  return el('div', { class: 'progress' }, rows.map((r) =>
    el('div', { class: `progress-row${r.node === null ? '' : ' per-node'}${r.finished ? ' done' : ''}`,
      dataset: { phase: r.phase, node: r.node ?? '', done: r.done, total: r.total } },
    el('div', { class: 'progress-label' }, r.label),
    bar(r.frac, r.node === null ? null : nodeColor(r.node)),
    el('div', { class: 'progress-text muted small' }, `${Math.floor(100 * r.frac)}% · ${r.text}`))));
}
