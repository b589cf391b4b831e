// `shoal serve` end to end with the official openai npm client, single node and a 3-node pool
// (--local 2: rank 0 and two workers): greedy text equals `shoal run --temp 0` (chat and
// completions, streaming and not), 16 concurrent streams each get their solo tokens, prefix
// reuse shows in usage and changes no token, errors have OpenAI's shape, a client that goes away
// mid-stream has its request cancelled.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { genMediumModel, genModel, metrics, prompts, shoalRun, startServer, tmpDir, waitFor } from './harness.mjs';

const dir = tmpDir();
const model = genModel(dir);
const N = 12;  // tokens per greedy comparison

async function collect(stream) {
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta ? (c.delta.content ?? '') : (c.text ?? '');
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, usage, finish };
}

for (const [name, args] of [['single node', []], ['3-node pool', ['--local', '2']]]) {
  describe(name, () => {
    let srv;
    let client;
    before(async () => {
      srv = await startServer(model, ['--chat-template-fallback', 'chatml', '--parallel', '16',
        ...args]);
      client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    });
    after(async () => { await srv.stop(); });

    test('completions: greedy text equals shoal run --temp 0, streaming and not', async () => {
      for (const prompt of prompts(3)) {
        const ref = shoalRun(model, prompt, N, ['--ignore-eos']);
        const r = await client.completions.create({ model: 'tiny.gguf', prompt, max_tokens: N,
          temperature: 0, ignore_eos: true });
        assert.equal(r.object, 'text_completion');
        assert.equal(r.choices[0].text, ref.text);
        assert.equal(r.choices[0].finish_reason, 'length');
        assert.equal(r.usage.prompt_tokens, ref.prompt_tokens);
        assert.equal(r.usage.completion_tokens, ref.tokens.length);
        assert.equal(r.usage.total_tokens, ref.prompt_tokens + ref.tokens.length);
        const s = await collect(await client.completions.create({ model: 'tiny.gguf', prompt,
          max_tokens: N, temperature: 0, ignore_eos: true, stream: true,
          stream_options: { include_usage: true } }));
        assert.equal(s.text, ref.text);
        assert.equal(s.finish, 'length');
        assert.equal(s.usage.completion_tokens, ref.tokens.length);
      }
    });

    test('chat: greedy text equals shoal run on the templated prompt, streaming and not', async () => {
      for (const content of prompts(3)) {
        const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content }];
        const tpl = await (await fetch(`${srv.url}/apply-template`, { method: 'POST',
          body: JSON.stringify({ messages }) })).json();
        assert.match(tpl.prompt, /<\|im_start\|>assistant\n$/);
        const ref = shoalRun(model, tpl.prompt, N);
        const r = await client.chat.completions.create({ model: 'tiny.gguf', messages,
          max_completion_tokens: N, temperature: 0 });
        assert.equal(r.object, 'chat.completion');
        assert.equal(r.choices[0].message.role, 'assistant');
        assert.equal(r.choices[0].message.content, ref.text);
        assert.equal(r.choices[0].finish_reason, ref.stop === 'length' ? 'length' : 'stop');
        assert.equal(r.usage.prompt_tokens, ref.prompt_tokens);
        assert.equal(r.usage.completion_tokens, ref.tokens.length);
        const s = await collect(await client.chat.completions.create({ model: 'tiny.gguf',
          messages, max_tokens: N, temperature: 0, stream: true,
          stream_options: { include_usage: true } }));
        assert.equal(s.text, ref.text);
        assert.equal(s.usage.prompt_tokens, ref.prompt_tokens);
      }
    });

    test('16 concurrent streaming clients each get their solo greedy tokens', async () => {
      const ps = prompts(16);
      const refs = ps.map((p) => shoalRun(model, p, N, ['--ignore-eos']));
      const got = await Promise.all(ps.map(async (prompt) => collect(
        await client.completions.create({ model: 'tiny.gguf', prompt, max_tokens: N,
          temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }))));
      for (let i = 0; i < ps.length; ++i) {
        assert.equal(got[i].text, refs[i].text, `stream ${i}`);
        assert.equal(got[i].usage.completion_tokens, refs[i].tokens.length, `stream ${i}`);
      }
    });

    test('/metrics lists every node of the pool with its shard', async (t) => {
      if (args.length === 0) return t.skip('single node');
      const ref = shoalRun(model, 'x', 1, args);
      const m = await metrics(srv.url);
      assert.equal(m.shoal_pool_nodes, ref.nodes.length);
      for (const n of ref.nodes) {
        const key = `shoal_node_weight_bytes{rank="${n.rank}",name="${n.name}",stage="0"}`;
        assert.equal(m[key], n.weight_bytes, key);
      }
    });

    test('stop strings end the text before them, split across tokens or not', async () => {
      const prompt = prompts(1)[0];
      const ref = shoalRun(model, prompt, N, ['--ignore-eos']);
      // A stop string made of the middle of the reference text (it spans tokens).
      const cut = Math.floor(ref.text.length / 2);
      const stop = ref.text.slice(cut, cut + 3);
      const want = ref.text.slice(0, ref.text.indexOf(stop));
      for (const stream of [false, true]) {
        const req = { model: 'tiny.gguf', prompt, max_tokens: N, temperature: 0, ignore_eos: true,
          stop: [stop, 'never-generated'], stream };
        const r = await client.completions.create(req);
        const out = stream ? await collect(r) : { text: r.choices[0].text, finish: r.choices[0].finish_reason };
        assert.equal(out.text, want);
        assert.equal(out.finish, 'stop');
      }
    });
  });
}

describe('single node: usage, logprobs, errors, cancellation', () => {
  let srv;
  let client;
  before(async () => {
    srv = await startServer(model, ['--chat-template-fallback', 'chatml', '--max-body', '65536',
      '-c', '256']);
    client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => { await srv.stop(); });

  test('prefix reuse is reported in usage and changes no token', async (t) => {
    const m0 = await metrics(srv.url);
    if (!(m0.shoal_kv_block_tokens > 0)) return t.skip('this scheduler has no paged KV (no prefix cache)');
    const system = 'You answer in exactly one line. '.repeat(6);
    const ask = (content) => client.chat.completions.create({ model: 'tiny.gguf', max_tokens: N,
      temperature: 0, messages: [{ role: 'system', content: system }, { role: 'user', content }] });
    const first = await ask('first question');
    const second = await ask('second question');
    assert.ok(second.usage.prompt_tokens_details.cached_tokens > 0, 'the shared system prompt is reused');
    const tpl = await (await fetch(`${srv.url}/apply-template`, { method: 'POST', body: JSON.stringify({
      messages: [{ role: 'system', content: system }, { role: 'user', content: 'second question' }] }) })).json();
    assert.equal(second.choices[0].message.content, shoalRun(model, tpl.prompt, N).text);
    assert.equal(first.usage.prompt_tokens_details.cached_tokens >= 0, true);
  });

  test('logprobs: chosen token first among the alternatives under greedy', async () => {
    const r = await client.chat.completions.create({ model: 'tiny.gguf', max_tokens: 4,
      temperature: 0, logprobs: true, top_logprobs: 3, ignore_eos: true,
      messages: [{ role: 'user', content: 'hello' }] });
    const lp = r.choices[0].logprobs.content;
    assert.equal(lp.length, r.usage.completion_tokens);
    for (const e of lp) {
      assert.equal(e.top_logprobs.length, 3);
      assert.ok(e.logprob <= 0);
      assert.equal(e.logprob, e.top_logprobs[0].logprob);
      assert.deepEqual(Buffer.from(e.bytes).toString('latin1'), Buffer.from(e.bytes).toString('latin1'));
    }
    const c = await client.completions.create({ model: 'tiny.gguf', prompt: 'hello', max_tokens: 3,
      temperature: 0, logprobs: 2, ignore_eos: true });
    assert.equal(c.choices[0].logprobs.tokens.length, 3);
    assert.equal(c.choices[0].logprobs.tokens.join(''), c.choices[0].text);
  });

  test('errors have OpenAI shape and status', async () => {
    const bad = async (body, status, param) => {
      const r = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', body,
        headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, status, body.slice(0, 80));
      const j = await r.json();
      assert.equal(typeof j.error.message, 'string');
      assert.equal(typeof j.error.type, 'string');
      assert.ok('param' in j.error && 'code' in j.error);
      if (param !== undefined) assert.equal(j.error.param, param);
      return j.error;
    };
    await bad('{not json', 400);
    await bad('[]', 400);
    await bad(JSON.stringify({ messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }), 400, 'temperature');
    await bad(JSON.stringify({ messages: [{ role: 'user', content: 'x' }], n: 3 }), 400, 'n');
    const e = await bad(JSON.stringify({ model: 'gpt-17', messages: [{ role: 'user', content: 'x' }] }), 404, 'model');
    assert.equal(e.code, 'model_not_found');
    const long = await bad(JSON.stringify({ messages: [{ role: 'user', content: 'word '.repeat(400) }] }), 400, 'messages');
    assert.equal(long.code, 'context_length_exceeded');
    await bad(JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(70000) }] }), 413);
    // Through the client: its typed errors.
    await assert.rejects(client.chat.completions.create({ model: 'tiny.gguf', messages: [] }),
      (err) => err instanceof OpenAI.BadRequestError && err.status === 400 && err.param === 'messages');
    await assert.rejects(client.models.retrieve('nope').catch((err) => { throw err; }),
      (err) => err.status === 404);
    // The server is still up and answering.
    const ok = await client.completions.create({ model: 'tiny.gguf', prompt: 'x', max_tokens: 2 });
    assert.equal(ok.choices.length, 1);
  });

  test('models, health, metrics, tokenize, detokenize', async () => {
    const list = await client.models.list();
    assert.deepEqual(list.data.map((m) => m.id), ['tiny.gguf']);
    assert.equal((await (await fetch(`${srv.url}/health`)).json()).status, 'ok');
    const text = 'river stone';
    const tk = await (await fetch(`${srv.url}/tokenize`, { method: 'POST',
      body: JSON.stringify({ content: text, with_pieces: true }) })).json();
    const ids = tk.tokens.map((t) => t.id);
    assert.equal(tk.tokens.map((t) => t.piece).join(''), text);
    const dt = await (await fetch(`${srv.url}/detokenize`, { method: 'POST',
      body: JSON.stringify({ tokens: ids }) })).json();
    assert.equal(dt.content, text);
    const m = await metrics(srv.url);
    assert.ok(m['shoal_http_requests_total{endpoint="/tokenize",status="200"}'] >= 1);
    assert.ok('shoal_queue_depth' in m && 'shoal_batch_sequences' in m);
  });

  test('anthropic messages: a message, and the SSE event sequence', async () => {
    const body = { model: 'tiny.gguf', max_tokens: 6, temperature: 0, system: 'terse',
      messages: [{ role: 'user', content: 'hello' }] };
    const r = await (await fetch(`${srv.url}/v1/messages`, { method: 'POST', body: JSON.stringify(body) })).json();
    assert.equal(r.type, 'message');
    assert.equal(r.role, 'assistant');
    assert.ok(['end_turn', 'max_tokens'].includes(r.stop_reason));
    const text = r.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
    const s = await (await fetch(`${srv.url}/v1/messages`, { method: 'POST',
      body: JSON.stringify({ ...body, stream: true }) })).text();
    const events = [...s.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]).filter((e) => e !== 'ping');
    assert.equal(events[0], 'message_start');
    assert.deepEqual(events.slice(-2), ['message_delta', 'message_stop']);
    let streamed = '';
    for (const m of s.matchAll(/^data: (.*)$/gm)) {
      const d = JSON.parse(m[1]);
      if (d.type === 'content_block_delta') streamed += d.delta.text ?? '';
    }
    assert.equal(streamed, text);
    const err = await fetch(`${srv.url}/v1/messages`, { method: 'POST', body: '{}' });
    assert.equal(err.status, 400);
    assert.equal((await err.json()).type, 'error');
  });
});

describe('disconnects', () => {
  test('a client gone mid-stream has its request cancelled and its KV freed', async () => {
    // A model slow enough that the stream is still going when the client leaves.
    const path = genMediumModel(tmpDir());
    const srv = await startServer(path, ['-c', '4096']);
    try {
      const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const before = await metrics(srv.url);
      const ac = new AbortController();
      const stream = await client.completions.create({ model: 'medium.gguf', prompt: 'go on',
        max_tokens: 4000, ignore_eos: true, stream: true }, { signal: ac.signal });
      let n = 0;
      try {
        for await (const _ of stream) { if (++n === 2) ac.abort(); }
      } catch (e) {
        assert.equal(e.name, 'AbortError');  // (the client may also end the iteration quietly)
      }
      assert.ok(n >= 2 && n < 4000, `the stream ended early (${n} chunks)`);
      const after = await waitFor(async () => {
        const m = await metrics(srv.url);
        return m.shoal_scheduler_cancelled_total > before.shoal_scheduler_cancelled_total &&
          m.shoal_requests_running === 0 ? m : null;
      }, 20000);
      assert.ok(after, 'the cancelled request shows in /metrics');
      assert.equal(after.shoal_client_disconnects_total, 1);
      assert.equal(after['shoal_kv_blocks{state="used"}'] ?? 0, 0);
      // And the server goes on answering.
      const ok = await client.completions.create({ model: 'medium.gguf', prompt: 'x', max_tokens: 2 });
      assert.equal(ok.choices.length, 1);
    } finally {
      await srv.stop();
    }
  });
});

describe('limits', () => {
  test('a full queue is a 429 with Retry-After, and the server goes on', async () => {
    const path = genMediumModel(tmpDir());
    const srv = await startServer(path, ['-c', '4096', '--parallel', '1', '--queue', '1']);
    try {
      const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const ac = new AbortController();
      const long = await client.completions.create({ model: 'medium.gguf', prompt: 'a',
        max_tokens: 4000, ignore_eos: true, stream: true }, { signal: ac.signal });
      const it = long[Symbol.asyncIterator]();
      await it.next();  // the long request is running
      const queued = client.completions.create({ model: 'medium.gguf', prompt: 'q', max_tokens: 2 });
      await waitFor(async () => (await metrics(srv.url)).shoal_queue_depth === 1, 20000);
      const r = await fetch(`${srv.url}/v1/completions`, { method: 'POST',
        body: JSON.stringify({ prompt: 'b', max_tokens: 2 }) });
      assert.equal(r.status, 429);
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      const e = (await r.json()).error;
      assert.equal(e.type, 'rate_limit_error');
      ac.abort();
      await it.return?.();
      assert.equal((await queued).choices.length, 1, 'the queued request runs once the slot frees');
      const ok = await client.completions.create({ model: 'medium.gguf', prompt: 'b', max_tokens: 2 });
      assert.equal(ok.choices.length, 1);
    } finally {
      await srv.stop();
    }
  });
});

describe('API key', () => {
  test('needed on /v1/* when set, checked as Bearer', async () => {
    const d = tmpDir();
    const keyFile = join(d, 'key');
    writeFileSync(keyFile, 'sk-test-0123456789\n');
    const srv = await startServer(model, ['--api-key-file', keyFile]);
    try {
      const wrong = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
      await assert.rejects(wrong.models.list(), (e) => e.status === 401);
      const right = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'sk-test-0123456789', maxRetries: 0 });
      assert.equal((await right.models.list()).data.length, 1);
      assert.equal((await fetch(`${srv.url}/health`)).status, 200);
    } finally {
      await srv.stop();
    }
  });
  test('a non-loopback address without a key is refused', async () => {
    await assert.rejects(startServer(model, ['--host', '0.0.0.0']), /api-key-file/);
  });
});

describe('chat templates', () => {
  test('a model without one serves completions; chat is a 400 naming the fallback flag', async () => {
    const srv = await startServer(model);
    try {
      const r = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST',
        body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }) });
      assert.equal(r.status, 400);
      const e = (await r.json()).error;
      assert.equal(e.code, 'no_chat_template');
      assert.match(e.message, /--chat-template-fallback/);
      const c = await fetch(`${srv.url}/v1/completions`, { method: 'POST',
        body: JSON.stringify({ prompt: 'x', max_tokens: 2 }) });
      assert.equal(c.status, 200);
    } finally {
      await srv.stop();
    }
  });
  test('an unknown fallback name stops the server at startup', async () => {
    await assert.rejects(startServer(model, ['--chat-template-fallback', 'nonesuch']), /nonesuch/);
  });
});

// A pool that sits idle for longer than its I/O timeout is not a dead pool: the workers wait for
// rank 0's next command with no limit, so the next request after the pause still answers, with
// the same greedy tokens as `shoal run`.
describe('idle pool', () => {
  test('a 2-node pool idle for 4x its I/O timeout still answers', async () => {
    const srv = await startServer(model, ['--local', '1', '--io-timeout-ms', '500']);
    try {
      const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const ask = async () => (await client.completions.create({
        model: 'tiny.gguf', prompt: prompts(1)[0], max_tokens: N, temperature: 0,
        ignore_eos: true })).choices[0].text;
      const first = await ask();
      await new Promise((r) => setTimeout(r, 2000));
      const second = await ask();
      assert.equal(second, first);
      assert.equal(first, shoalRun(model, prompts(1)[0], N, ['--ignore-eos']).text);
    } finally {
      assert.equal(await srv.stop(), 0);
    }
  });
});

// `shoal serve` answers HTTP while the model loads (held in its loading state by
// SHOAL_TEST_LOAD_DELAY_MS): the API is 503 with Retry-After (the openai client's own error),
// GET /v1/pool shows the loading's steps, and once ready the same request answers as
// `shoal run` would.
describe('loading', () => {
  test('503 with Retry-After while loading, then the answer', async () => {
    const srv = await startServer(model, ['--local', '1', '--chat-template-fallback', 'chatml'],
      { loading: true, env: { SHOAL_TEST_LOAD_DELAY_MS: '3000' } });
    try {
      const r = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST',
        body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }) });
      assert.equal(r.status, 503);
      assert.equal(r.headers.get('retry-after'), '5');
      const e = (await r.json()).error;
      assert.equal(e.code, 'model_loading');
      assert.equal((await fetch(`${srv.url}/health`)).status, 503);
      const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      await assert.rejects(client.completions.create({ model: 'tiny.gguf', prompt: 'x',
        max_tokens: 2 }), (err) => err.status === 503);

      // Once the delay began (the steps before it done):
      const pool = await waitFor(async () => {
        const p = await (await fetch(`${srv.url}/v1/pool`)).json();
        return p.progress.phase === 'test-delay' ? p : null;
      }, 20000, 50);
      assert.ok(pool, 'the loading reaches the delay');
      assert.equal(pool.state, 'loading');
      assert.equal(pool.model, null);
      const phases = pool.progress.phases.map((p) => p.phase);
      // Rank 0 mapped its shard and both nodes reported theirs before the delay.
      assert.deepEqual(phases.slice(0, 2), ['map', 'load']);
      assert.equal(pool.progress.phases[1].nodes.length, 2);
      assert.ok(pool.progress.phases[1].finished);
      assert.equal(pool.progress.phase, 'test-delay');
      assert.ok(pool.progress.done < pool.progress.total);

      const ready = await waitFor(async () => (await (await fetch(`${srv.url}/v1/pool`)).json())
        .state === 'ready', 20000, 100);
      assert.ok(ready);
      const after = await (await fetch(`${srv.url}/v1/pool`)).json();
      assert.equal(after.nodes.length, 2);
      assert.deepEqual(after.links.map((l) => [l.from, l.to, l.transport, l.security]),
        [[0, 1, 'tcp', 'seal']]);
      assert.ok(after.progress.phases.some((p) => p.phase === 'warmup' && p.finished));
      const prompt = prompts(1)[0];
      const c = await client.completions.create({ model: 'tiny.gguf', prompt, max_tokens: N,
        temperature: 0, ignore_eos: true });
      assert.equal(c.choices[0].text, shoalRun(model, prompt, N, ['--ignore-eos']).text);
    } catch (e) {
      await srv.stop();
      throw e;
    }
    assert.equal(await srv.stop(), 0);
  });
  test('SIGTERM while loading ends the server at once, with status 1', async () => {
    const srv = await startServer(model, [], { loading: true,
      env: { SHOAL_TEST_LOAD_DELAY_MS: '30000' } });
    const t0 = Date.now();
    assert.equal(await srv.stop(), 1);
    assert.ok(Date.now() - t0 < 10000);
    assert.match(srv.log(), /stopped while loading/);
  });
});
