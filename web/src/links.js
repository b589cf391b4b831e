// The pool's links as a picture (GET /v1/pool's `links`): rank 0 in the middle, each worker on a
// circle around it, one line from rank 0 to each, labelled with its transport and link security
// ("tcp · seal"); a node that is down has its line dashed.
import { svg, el, nodeColor } from './common.js';

// Where each of n workers sits around the centre (cx, cy) at radius r, the first at the top.
export function ringPositions(n, cx, cy, r) {
  return Array.from({ length: n }, (_, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, n);
    return { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a) };
  });
}

// "tcp · seal (encrypted)": the words docs/security.md gives each mode.
export function linkLabel(l) {
  const what = { seal: 'encrypted', auth: 'authenticated, clear', none: 'not protected',
    local: 'shared memory', mpi: "MPI's own" };
  return `${l.transport} · ${l.security}${what[l.security] ? ` (${what[l.security]})` : ''}`;
}

export function linksView(links, nodes) {
  if (!links?.length) return null;
  const w = 640, h = links.length > 6 ? 360 : 260, cx = w / 2, cy = h / 2;
  const pos = ringPositions(links.length, cx, cy, Math.min(cx, cy) - 34);
  const status = Object.fromEntries((nodes || []).map((n) => [n.rank, n.status]));
  const name = Object.fromEntries((nodes || []).map((n) => [n.rank, n.name]));
  const node = (x, y, rank, label) => svg('g', { class: 'link-node', 'data-rank': rank },
    svg('circle', { cx: x, cy: y, r: 14, fill: nodeColor(rank) }),
    svg('text', { x, y: y + 4, 'text-anchor': 'middle', class: 'link-rank' }, rank),
    svg('text', { x, y: y + 30, 'text-anchor': 'middle', class: 'link-name' }, label));
  const lines = links.map((l, i) => {
    const p = pos[i];
    const down = status[l.to] === 'down';
    return svg('g', { class: `link${down ? ' down' : ''}`, 'data-to': l.to,
      'data-transport': l.transport, 'data-security': l.security },
    svg('line', { x1: cx, y1: cy, x2: p.x, y2: p.y, stroke: nodeColor(l.to),
      'stroke-dasharray': down ? '6 5' : null }),
    svg('text', { x: (cx + p.x) / 2, y: (cy + p.y) / 2 - 6, 'text-anchor': 'middle', class: 'link-label' },
      linkLabel(l)));
  });
  const picture = svg('svg', { viewBox: `0 0 ${w} ${h}`, class: 'links', role: 'img',
    'aria-label': 'links from rank 0 to each node' },
  lines, node(cx, cy, 0, name[0] ?? 'rank 0'),
  links.map((l, i) => node(pos[i].x, pos[i].y, l.to, l.name || name[l.to] || `rank ${l.to}`)));
  return el('div', { class: 'links-box' }, picture);
}
