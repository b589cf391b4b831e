// A line chart of the last minutes as SVG: time on x (the newest sample at the right edge),
// one axis on y from 0 to a rounded maximum, one line per series, a legend above.
import { el, svg, num } from './common.js';

// 0..max in about 4 steps of 1, 2 or 5 times a power of ten.
export function niceScale(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw);
  return { top: Math.ceil(max / step) * step, step };
}

// series: [{name, color, values: [[t_ms, v|null], ...]}]; windowMs: the span shown.
export function lineChart(series, { width = 640, height = 200, windowMs = 600000, now = Date.now(), unit = '' } = {}) {
  const pad = { l: 44, r: 10, t: 8, b: 22 };
  const w = Math.max(200, width), h = height;
  const iw = w - pad.l - pad.r, ih = h - pad.t - pad.b;
  let max = 0;
  for (const s of series) for (const [t, v] of s.values) if (t >= now - windowMs && v > max) max = v;
  const { top, step } = niceScale(max);
  const x = (t) => pad.l + ((t - (now - windowMs)) / windowMs) * iw;
  const y = (v) => pad.t + ih - (v / top) * ih;
  const root = svg('svg', { width: w, height: h, viewBox: `0 0 ${w} ${h}`, class: 'chart', role: 'img' });
  for (let v = 0; v <= top + step / 2; v += step) {
    root.append(svg('line', { x1: pad.l, x2: w - pad.r, y1: y(v), y2: y(v), class: 'grid' }));
    root.append(svg('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, num(v, step < 1 ? 1 : 0)));
  }
  // Time ticks: every 10 s for a minute, every minute up to 5, else every 2 minutes.
  const tickS = windowMs <= 60000 ? 10 : windowMs <= 300000 ? 60 : 120;
  for (let s = 0; s * 1000 <= windowMs; s += tickS) {
    const label = s === 0 ? 'now' : s < 60 ? `−${s}s` : `−${s / 60}m`;
    const anchor = s === 0 ? 'end' : s * 1000 === windowMs ? 'start' : 'middle';
    root.append(svg('text', { x: x(now - s * 1000), y: h - 6, 'text-anchor': anchor, class: 'tick' }, label));
  }
  for (const s of series) {
    let d = '';
    let pen = false;
    for (const [t, v] of s.values) {
      if (t < now - windowMs || v === null || v === undefined) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    if (d) root.append(svg('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-linejoin': 'round', class: 'series' }));
  }
  root.append(svg('title', {}, series.map((s) => s.name).join(', ') + (unit ? ` (${unit})` : '')));
  const legend = el('div', { class: 'legend' },
    series.map((s) => el('span', {}, el('i', { class: 'swatch', 'data-color': s.color }), s.name)));
  for (const i of legend.querySelectorAll('i.swatch')) i.style.background = i.dataset.color;
  return el('div', { class: 'chart-box' }, legend, root);
}
