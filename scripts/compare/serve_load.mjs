#!/usr/bin/env node
// Load generator for any OpenAI-compatible /v1/completions server (shoal serve, llama-server).
// Node 20, no dependencies. Not run by tests or CI; used by serve_vs_llama_server.sh.
//
//   node scripts/compare/serve_load.mjs --url http://127.0.0.1:8080 --streams 8 --max-tokens 64
//
// N concurrent clients each stream one completion of --max-tokens tokens (temperature 0,
// ignore_eos, stream_options.include_usage; logprobs 1 with --logprobs 1) for a distinct prompt
// of similar length. Each prompt starts with a per-run nonce so no server can reuse a cached
// prefix from an earlier run. Every chunk before the one with finish_reason counts as one token
// (or its logprobs' token count): the generated model's tokens decode to empty text, so shoal
// needs --logprobs 1 to send a chunk per token (llama-server sends one per token anyway); the
// 'chunks' and 'tokens' (usage) fields of each stream let a reader check the two agree.
// Measured per stream: time to first token (request sent -> first text chunk) and decode tok/s
// ((completion tokens - 1) / (last chunk - first chunk)). Over all streams, three rates:
// - steady_decode_tok_s: the tokens that arrive while every stream is decoding (from the latest
//   first token to the earliest last one) over that window's length: the server's decode rate at
//   this many streams, whatever it does with the prompts before or after;
// - aggregate_decode_tok_s: tokens after each stream's first over the earliest first token to the
//   latest last one; a server that gives some streams their first token while it still reads the
//   others' prompts has that prefill in its window, one that reads every prompt first does not;
// - output_tok_s: every completion token over the whole run (requests sent to the last token), as
//   vLLM's benchmark_serving reports "output token throughput".
// Prints one JSON object.
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []));
const url = (args.url || 'http://127.0.0.1:8080').replace(/\/$/, '');
const streams = parseInt(args.streams || '1', 10);
const maxTokens = parseInt(args['max-tokens'] || '64', 10);
let model = args.model;
const logprobs = (args.logprobs ?? '0') !== '0';
const nonce = args.nonce || Math.random().toString(36).slice(2, 8);

const topics = ['rivers', 'mountains', 'engines', 'gardens', 'comets', 'bridges', 'violins',
  'glaciers', 'markets', 'lighthouses', 'forests', 'deserts', 'harbors', 'libraries', 'volcanoes',
  'orchards', 'canals', 'satellites', 'castles', 'meadows'];
function prompt(i) {
  const t = topics[i % topics.length];
  return `[${nonce}-${i}] Write a long and careful essay about ${t}. Describe how ${t} ` +
         `change over the seasons, what people have believed about ${t} in the past, and ` +
         `why ${t} still matter to the towns that grew up around them today.`;
}

const pct = (xs, p) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

async function one(i, t0) {
  const body = {
    model, prompt: prompt(i), max_tokens: maxTokens, temperature: 0, ignore_eos: true,
    stream: true, stream_options: { include_usage: true },
  };
  // The generated test model's tokens decode to empty text, and shoal sends a chunk only for
  // text or logprobs: with --logprobs 1 it sends one per token.
  if (logprobs) body.logprobs = 1;
  const sent = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const dec = new TextDecoder();
  let buf = '', first = null, last = null, chunks = 0, usageTokens = null, promptTokens = null;
  const arrivals = [];  // [time since t0 in ms, tokens] per chunk
  for await (const part of res.body) {
    buf += dec.decode(part, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') continue;
      const j = JSON.parse(data);
      if (j.usage && j.usage.completion_tokens != null) {
        usageTokens = j.usage.completion_tokens;
        promptTokens = j.usage.prompt_tokens;
      }
      const c = j.choices && j.choices[0];
      if (!c) continue;
      const lp = c.logprobs;
      // One chunk per token while finish_reason is null (llama-server sends one for every token,
      // its text possibly empty); with logprobs, the chunk's token count.
      if (c.finish_reason != null && !c.text && !lp) continue;
      const n = (lp && ((lp.tokens && lp.tokens.length) || (lp.content && lp.content.length))) || 1;
      if (n > 0) {
        const now = performance.now();
        if (first === null) first = now;
        last = now;
        chunks += n;
        arrivals.push([now - t0, n]);
      }
    }
  }
  const tokens = usageTokens ?? chunks;
  const decodeS = (last - first) / 1000;
  return {
    stream: i, tokens, chunks, prompt_tokens: promptTokens, ttft_ms: first - sent, first_abs: first - t0, last_abs: last - t0,
    arrivals,
    decode_tok_s: decodeS > 0 ? (tokens - 1) / decodeS : null,
  };
}

if (!model) {  // the first model the server lists (both servers list exactly one)
  const r = await fetch(`${url}/v1/models`);
  model = (await r.json()).data[0].id;
}
const t0 = performance.now();
const results = await Promise.all(Array.from({ length: streams }, (_, i) => one(i, t0)));
const firstAll = Math.min(...results.map(r => r.first_abs));
const lastAll = Math.max(...results.map(r => r.last_abs));
const after = results.reduce((s, r) => s + (r.tokens - 1), 0);
const ttfts = results.map(r => r.ttft_ms);
// Every stream decoding: (latest first token, earliest last token].
const steadyFrom = Math.max(...results.map(r => r.first_abs));
const steadyTo = Math.min(...results.map(r => r.last_abs));
let steadyTokens = 0;
for (const r of results) {  // each stream's tokens after its first
  r.arrivals.forEach(([t, n], i) => {
    if (t >= steadyFrom && t <= steadyTo) steadyTokens += i === 0 ? n - 1 : n;
  });
}
const out = {
  url, streams, max_tokens: maxTokens,
  total_tokens: results.reduce((s, r) => s + r.tokens, 0),
  wall_s: (lastAll) / 1000,
  decode_wall_s: (lastAll - firstAll) / 1000,
  aggregate_decode_tok_s: after / ((lastAll - firstAll) / 1000),
  steady_decode_s: Math.max(0, steadyTo - steadyFrom) / 1000,
  steady_decode_tok_s: steadyTo > steadyFrom ? steadyTokens / ((steadyTo - steadyFrom) / 1000) : null,
  output_tok_s: results.reduce((s, r) => s + r.tokens, 0) / (lastAll / 1000),
  ttft_p50_ms: pct(ttfts, 50), ttft_p99_ms: pct(ttfts, 99),
  per_stream_decode_tok_s_p50: pct(results.map(r => r.decode_tok_s), 50),
  per_stream: results.map(r => ({
    stream: r.stream, prompt_tokens: r.prompt_tokens, tokens: r.tokens, chunks: r.chunks, ttft_ms: +r.ttft_ms.toFixed(1),
    decode_tok_s: r.decode_tok_s && +r.decode_tok_s.toFixed(2),
  })),
};
for (const r of results) {
  if (r.tokens !== maxTokens) out.warning = `a stream produced ${r.tokens} tokens, not ${maxTokens}`;
  if (r.chunks !== r.tokens) out.warning = `a stream counted ${r.chunks} chunks for ${r.tokens} tokens`;
}
console.log(JSON.stringify(out));
