// The pool's links as a picture (GET /v1/pool's `links`): rank 0 on the left and the workers in a
// column on the right (up to 8; more sit on a circle around rank 0), one line from rank 0 to each, labelled with its transport and link security
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

// For up to 8 workers: rank 0 on the left at (x0, h/2), the workers in a column at x1, `gap`
// apart, centred.
export function fanPositions(n, x1, h, gap) {
  const top = h / 2 - ((n - 1) * gap) / 2;
  return Array.from({ length: n }, (_, i) => ({ x: x1, y: top + i * gap }));
}

const FAN_MAX = 8;

export function linksView(links, nodes) {
  if (!links?.length) return null;
  const n = links.length;
  const fan = n <= FAN_MAX;
  const w = 640;
  const h = fan ? Math.max(110, 56 * n + 30) : 420;
  const c = fan ? { x: 70, y: h / 2 } : { x: w / 2, y: h / 2 };
  const pos = fan ? fanPositions(n, 400, h, 56) : ringPositions(n, c.x, c.y, h / 2 - 40);
  const status = Object.fromEntries((nodes || []).map((x) => [x.rank, x.status]));
  const name = Object.fromEntries((nodes || []).map((x) => [x.rank, x.name]));
  // A node: its circle with the rank, its name beside it (fan) or under it (ring).
  const node = (x, y, rank, label, beside) => svg('g', { class: 'link-node', 'data-rank': rank },
    svg('circle', { cx: x, cy: y, r: 14, fill: nodeColor(rank) }),
    svg('text', { x, y: y + 4, 'text-anchor': 'middle', class: 'link-rank' }, rank),
    beside ? svg('text', { x: x + 22, y: y + 4, 'text-anchor': 'start', class: 'link-name' }, label)
      : svg('text', { x, y: y + 30, 'text-anchor': 'middle', class: 'link-name' }, label));
  const lines = links.map((l, i) => {
    const p = pos[i];
    const down = status[l.to] === 'down';
    // The label sits on the line, 60% of the way to the worker, where the lines are apart.
    const t = fan ? 0.6 : 0.5;
    return svg('g', { class: `link${down ? ' down' : ''}`, 'data-to': l.to,
      'data-transport': l.transport, 'data-security': l.security },
    svg('line', { x1: c.x, y1: c.y, x2: p.x, y2: p.y, stroke: nodeColor(l.to),
      'stroke-dasharray': down ? '6 5' : null }),
    svg('text', { x: c.x + t * (p.x - c.x), y: c.y + t * (p.y - c.y) - 5, 'text-anchor': 'middle',
      class: 'link-label' }, linkLabel(l)));
  });
  const picture = svg('svg', { viewBox: `0 0 ${w} ${h}`, class: 'links', role: 'img',
    'aria-label': 'links from rank 0 to each node' },
  lines, node(c.x, c.y, 0, name[0] ?? 'rank 0', false),
  links.map((l, i) => node(pos[i].x, pos[i].y, l.to, l.name || name[l.to] || `rank ${l.to}`, fan)));
  return el('div', { class: 'links-box' }, picture);
}
