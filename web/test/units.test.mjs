// The page code that needs no browser: the SSE reader, the plan's ranges and columns, the chart's
// scale, the start's progress rows and the links' layout. Run: node --test web/test/ (ctest: web_units).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSse } from '../src/sse.js';
import { rangeText, planColumns } from '../src/plan.js';
import { niceScale } from '../src/chart.js';
import { progressText, progressRows, fraction } from '../src/progress.js';
import { ringPositions, fanPositions, linkLabel } from '../src/links.js';

function bodyOf(text, cuts) {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(c) {
      let at = 0;
      for (const cut of [...cuts, bytes.length]) { c.enqueue(bytes.slice(at, cut)); at = cut; }
      c.close();
    },
  });
}

test('readSse: events in any split, CRLF or LF, until [DONE]', async () => {
  const events = [{ a: 1 }, { b: 'é ünïcode ✓' }, { c: [1, 2] }];
  const text = events.map((e, i) => `data: ${JSON.stringify(e)}${i === 1 ? '\r\n\r\n' : '\n\n'}`).join('') +
    ': a comment\n\n' + 'data: [DONE]\n\n' + 'data: {"after": "done"}\n\n';
  const bytes = new TextEncoder().encode(text).length;
  // Every single cut point, and every byte on its own (multi-byte characters split too).
  const splits = [[], ...Array.from({ length: bytes - 1 }, (_, i) => [i + 1]), Array.from({ length: bytes - 1 }, (_, i) => i + 1)];
  for (const cuts of splits) {
    const got = [];
    await readSse(bodyOf(text, cuts), (j) => got.push(j));
    assert.deepEqual(got, events, `cuts ${cuts.length > 1 ? 'every byte' : cuts}`);
  }
});

test('readSse: a body that ends without [DONE] ends the reading', async () => {
  const got = [];
  await readSse(bodyOf('data: {"x":1}\n\ndata: {"y":2}\n\n', [5]), (j) => got.push(j));
  assert.deepEqual(got, [{ x: 1 }, { y: 2 }]);
});

test('rangeText: half-open ranges as first–last', () => {
  assert.equal(rangeText([0, 16]), '0–15');
  assert.equal(rangeText([7, 8]), '7–7');
  assert.equal(rangeText([3, 3]), 'none');
  assert.equal(rangeText(undefined), 'none');
});

test('planColumns: the dimensions a plan splits, with totals', () => {
  const plan = {
    n_layer: 4, n_head: 8, n_head_kv: 4, n_vocab: 100,
    ranks: [
      { layers: [0, 4], heads: [0, 5], kv_heads: [0, 2], ff: [0, 64], experts: [0, 0], exp_ff: [0, 0], vocab: [0, 50] },
      { layers: [0, 4], heads: [5, 8], kv_heads: [2, 4], ff: [64, 96], experts: [0, 0], exp_ff: [0, 0], vocab: [50, 100] },
    ],
  };
  assert.deepEqual(planColumns(plan).map((c) => [c.key, c.total]),
    [['layers', 4], ['heads', 8], ['kv_heads', 4], ['ff', 96], ['vocab', 100]]);
});

test('niceScale: a top of 1, 2, 2.5 or 5 times a power of ten above the maximum', () => {
  for (const max of [0.3, 1, 7, 13, 99, 101, 551, 999, 1234, 87654]) {
    const { top, step } = niceScale(max);
    assert.ok(top >= max, `${max}: top ${top}`);
    assert.ok(top / step <= 5, `${max}: ${top / step} steps`);
    const m = step / 10 ** Math.floor(Math.log10(step));
    assert.ok([1, 2, 2.5, 5].some((x) => Math.abs(x - m) < 1e-9), `${max}: step ${step}`);
  }
  assert.deepEqual(niceScale(0), { top: 1, step: 0.25 });
});

test('progress: amounts, rate and time left, per phase and per node', () => {
  const MiB = 1024 * 1024;
  // 3 MiB of 12 after 2 s: 1.5 MiB/s, 9 MiB left at that rate is 6 s.
  assert.equal(progressText(3 * MiB, 12 * MiB, 'B', 2000), '3.0 MiB of 12.0 MiB · 1.5 MiB/s · 6s left');
  assert.equal(progressText(2, 3, 'nodes', 0), '2 of 3 nodes');
  assert.equal(progressText(1, 1, 'steps', 65000), '1 of 1 steps · took 1m 5s');
  assert.equal(fraction(5, 0), 1);
  assert.equal(fraction(7, 4), 1);
  assert.equal(fraction(1, 4), 0.25);
  const rows = progressRows({ phases: [
    { phase: 'ship', label: 'shipping weights', unit: 'B', done: 30, total: 40, finished: false, elapsed_ms: 0,
      nodes: [{ node: 1, done: 20, total: 20, finished: true, elapsed_ms: 0 },
        { node: 2, done: 10, total: 20, finished: false, elapsed_ms: 0 }] },
    { phase: 'map', label: 'mapping', unit: 'B', done: 5, total: 5, finished: true, elapsed_ms: 0,
      nodes: [{ node: 0, done: 5, total: 5, finished: true, elapsed_ms: 0 }] },
    { phase: 'warmup', label: 'warming up', unit: 'steps', done: 0, total: 1, finished: false, elapsed_ms: 0, nodes: null },
  ] }, { 2: 'box-b' });
  assert.deepEqual(rows.map((r) => [r.phase, r.node, r.label, r.frac]), [
    ['ship', null, 'shipping weights', 0.75], ['ship', 1, 'node 1', 1], ['ship', 2, 'box-b', 0.5],
    ['map', null, 'mapping', 1], ['warmup', null, 'warming up', 0]]);
  assert.deepEqual(progressRows(null), []);
});

test('links: workers on a circle around rank 0, labels name the protection', () => {
  const pos = ringPositions(4, 100, 100, 50);
  const near = (a, b) => Math.abs(a - b) < 1e-9;
  assert.ok(near(pos[0].x, 100) && near(pos[0].y, 50));  // the first at the top
  assert.ok(near(pos[1].x, 150) && near(pos[1].y, 100));
  assert.ok(near(pos[2].x, 100) && near(pos[2].y, 150));
  for (const p of pos) assert.ok(near(Math.hypot(p.x - 100, p.y - 100), 50));
  // Up to 8: a column, `gap` apart, centred on the middle.
  assert.deepEqual(fanPositions(3, 400, 200, 50), [{ x: 400, y: 50 }, { x: 400, y: 100 }, { x: 400, y: 150 }]);
  assert.deepEqual(fanPositions(1, 400, 110, 56), [{ x: 400, y: 55 }]);
  assert.equal(linkLabel({ transport: 'tcp', security: 'seal' }), 'tcp · seal (encrypted)');
  assert.equal(linkLabel({ transport: 'shm', security: 'local' }), 'shm · local (shared memory)');
});
