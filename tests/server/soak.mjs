// A bounded soak of `shoal serve`: SHOAL_SOAK_REQUESTS (default 2000) mixed requests from 32
// clients, against a single-node server on a generated model. Good requests (completions and
// chat, streaming and not) must all succeed; bad ones (malformed JSON, wrong types, an unknown
// model, a prompt longer than the context, an oversized body) must get their 4xx; some streaming
// clients go away after the first chunk. At the end the server still answers, nothing is left
// running or queued, and its resident memory is flat: RSS at the end within
// max(16 MiB, 15%) of RSS after the warm-up (the first 10% of the requests).
// Long form: SHOAL_SOAK_REQUESTS=50000 node soak.mjs
import assert from 'node:assert/strict';
import { genMediumModel, metrics, rssBytes, startServer, tmpDir, waitFor } from './harness.mjs';

const TOTAL = Number(process.env.SHOAL_SOAK_REQUESTS ?? 2000);
const CLIENTS = 32;
const model = genMediumModel(tmpDir());
const srv = await startServer(model, ['--chat-template-fallback', 'chatml', '--parallel', '8',
  '--queue', '64', '-c', '512', '--max-body', '65536']);
const post = (path, body) => fetch(`${srv.url}${path}`, { method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: typeof body === 'string' ? body : JSON.stringify(body) });

let rng = 12345;  // mulberry32
const rand = (n) => {
  rng = (rng + 0x6d2b79f5) | 0;
  let t = Math.imul(rng ^ (rng >>> 15), 1 | rng);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) % n;
};

const counts = {};
const failures = [];
function count(kind) { counts[kind] = (counts[kind] ?? 0) + 1; }
function fail(kind, msg) { failures.push(`${kind}: ${msg}`); }

async function readSse(res) {
  const text = await res.text();
  const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
  return events.map((e) => e.slice(6));
}

async function one(i) {
  const k = rand(12);
  const words = `request ${i} ${'abcdefgh'.slice(0, 1 + rand(8))}`;
  if (k <= 3) {
    const r = await post('/v1/completions', { prompt: words, max_tokens: 1 + rand(8),
      temperature: rand(2) ? 0 : 0.8, seed: i });
    const j = await r.json();
    if (r.status !== 200 || typeof j.choices?.[0]?.text !== 'string' || !j.usage) fail('completion', `${r.status} ${JSON.stringify(j)}`);
    count('good');
  } else if (k <= 5) {
    const r = await post('/v1/chat/completions', { messages: [{ role: 'user', content: words }],
      max_tokens: 1 + rand(8), stream: true, stream_options: { include_usage: true } });
    const data = r.status === 200 ? await readSse(r) : [];
    if (r.status !== 200 || data.at(-1) !== '[DONE]' || !JSON.parse(data.at(-2)).usage) fail('chat stream', `${r.status} ${data.slice(-2)}`);
    count('good');
  } else if (k === 6) {
    const r = await post('/v1/chat/completions', { messages: [{ role: 'user', content: words }], max_tokens: 4 });
    const j = await r.json();
    if (r.status !== 200 || typeof j.choices?.[0]?.message?.content !== 'string') fail('chat', `${r.status} ${JSON.stringify(j)}`);
    count('good');
  } else if (k <= 9) {
    const bad = [
      ['/v1/chat/completions', '{"messages": [', 400],
      ['/v1/completions', { prompt: 5 }, 400],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], temperature: 'x' }, 400],
      ['/v1/completions', { model: 'nope', prompt: 'x' }, 404],
      ['/v1/completions', { prompt: 'word '.repeat(600) }, 400],
      ['/v1/completions', `{"prompt": "${'x'.repeat(70000)}"}`, 413],
      ['/v1/messages', { messages: [] }, 400],
      ['/v1/chat/completions', '['.repeat(60000), 400],
    ][rand(8)];
    const r = await post(bad[0], bad[1]);
    const j = await r.json().catch(() => null);
    if (r.status !== bad[2] || !(j?.error?.message)) fail('bad', `${bad[0]} ${r.status} want ${bad[2]}`);
    count('bad');
  } else {
    const ac = new AbortController();
    try {
      const r = await fetch(`${srv.url}/v1/completions`, { method: 'POST', signal: ac.signal,
        body: JSON.stringify({ prompt: words, max_tokens: 200, ignore_eos: true, stream: true }) });
      const reader = r.body.getReader();
      await reader.read();
      ac.abort();
    } catch (e) {
      if (e.name !== 'AbortError') fail('disconnect', e.message);
    }
    count('disconnect');
  }
}

let next = 0;
let warmRss = 0;
const warmAt = Math.floor(TOTAL / 10);
const t0 = Date.now();
async function client() {
  for (;;) {
    const i = next++;
    if (i >= TOTAL) return;
    if (i === warmAt) warmRss = rssBytes(srv.proc.pid);
    try { await one(i); } catch (e) { fail('request', `${i}: ${e.message}`); }
  }
}
await Promise.all(Array.from({ length: CLIENTS }, client));
const m = await waitFor(async () => {
  const x = await metrics(srv.url);
  return x.shoal_requests_running === 0 && x.shoal_queue_depth === 0 ? x : null;
}, 20000);
const endRss = rssBytes(srv.proc.pid);
const health = await fetch(`${srv.url}/health`);
const seconds = (Date.now() - t0) / 1000;
console.log(JSON.stringify({ requests: TOTAL, clients: CLIENTS, seconds, counts,
  rss_warm_mib: +(warmRss / 2 ** 20).toFixed(1), rss_end_mib: +(endRss / 2 ** 20).toFixed(1),
  cancelled: m?.shoal_scheduler_cancelled_total, disconnects: m?.shoal_client_disconnects_total,
  failures: failures.slice(0, 10) }));
const exit = await srv.stop();
assert.deepEqual(failures, []);
assert.ok(m.shoal_client_disconnects_total > 0 && m.shoal_scheduler_cancelled_total > 0,
  'clients that went away had their requests cancelled');
assert.ok(m, 'requests left running or queued');
assert.equal(health.status, 200);
assert.ok(endRss <= warmRss + Math.max(16 * 2 ** 20, 0.15 * warmRss),
  `resident memory grew from ${warmRss} to ${endRss} bytes`);
assert.equal(exit, 0, 'the server stops cleanly on SIGTERM');
