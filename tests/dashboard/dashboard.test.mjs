// Browser tests of shoal's dashboard (/) and chat page (/chat) in headless Chromium, against a
// real `shoal serve` on a generated model: one node, then a 3-node pool (--local 2: rank 0 and two
// worker processes). Run: SHOAL_BIN=build/bin/shoal node tests/dashboard/dashboard.test.mjs
// (ctest does). SHOAL_SCREENSHOTS=docs/images also writes the docs' screenshots.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { SHOAL, tempDir, genModel, startServer, stopServer, childPids, metric, streamCompletion,
  tokensPerSecond, waitFor } from './harness.mjs';

let puppeteer;
try {
  puppeteer = (await import('puppeteer-core')).default;
} catch (e) {
  console.error(`puppeteer-core is missing: run \`npm ci\` in tests/dashboard (scripts/test.sh does): ${e.message}`);
  process.exit(1);
}
const chrome = process.env.CHROMIUM ||
  ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
let browser;
try {
  if (!chrome) throw new Error('no chromium binary (apt-get install chromium, or set CHROMIUM)');
  browser = await puppeteer.launch({
    executablePath: chrome, headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
  });
} catch (e) {
  console.log(`SKIP: headless Chromium cannot start here: ${e.message}`);
  process.exit(77);
}
const SHOTS = process.env.SHOAL_SCREENSHOTS;
if (SHOTS) mkdirSync(SHOTS, { recursive: true });
const dir = tempDir();
const model = genModel(dir);
const CTX = '2048';
let server = null;
const started = [];
const serve = async (args, opts) => { const s = await startServer(args, opts); started.push(s); return s; };

after(async () => {
  for (const s of started) await stopServer(s);
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
});

// A page that fails the test on any console error or uncaught exception (CSP violations included).
async function openPage(url, viewport = { width: 1280, height: 900 }) {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text() + (process.env.DEBUG_STACKS ? JSON.stringify(m.stackTrace()) : '')); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.setViewport({ deviceScaleFactor: 1, ...viewport });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('body[data-loaded="1"]');
  return { page, errors };
}

async function shot(page, name, fullPage = false) {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, name), fullPage });
}

// The plan table's cells: {rank: {column label: {begin, end, text}}}.
async function planCells(page) {
  return page.$$eval('table.plan-table', ([table]) => {
    const labels = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
    const out = {};
    for (const tr of table.querySelectorAll('tbody tr')) {
      const row = {};
      [...tr.children].forEach((td, i) => {
        if (td.classList.contains('range')) {
          row[labels[i]] = { begin: Number(td.dataset.begin), end: Number(td.dataset.end), text: td.querySelector('b').textContent };
        }
      });
      out[tr.dataset.rank] = row;
    }
    return out;
  });
}

// Every rank's layers, heads, KV heads, FFN columns and vocabulary rows in the table are the plan's.
function assertPlanShown(cells, plan) {
  const cols = { Layers: 'layers', Heads: 'heads', 'KV heads': 'kv_heads', 'FFN columns': 'ff', 'Vocabulary rows': 'vocab' };
  assert.equal(Object.keys(cells).length, plan.ranks.length);
  for (const r of plan.ranks) {
    for (const [label, key] of Object.entries(cols)) {
      const [b, e] = r[key];
      const c = cells[r.rank][label];
      assert.ok(c, `rank ${r.rank}: no ${label} column`);
      assert.deepEqual([c.begin, c.end], [b, e], `rank ${r.rank} ${label}`);
      assert.equal(c.text, e > b ? `${b}–${e - 1}` : 'none', `rank ${r.rank} ${label} text`);
    }
  }
}

// What `shoal plan` prints for the same model and nodes: the ranges the dashboard must show.
function cliPlan(nodes) {
  const args = ['plan', '-m', model, '-c', CTX, '--json', '--no-predict'];
  for (const n of nodes) args.push('--node', n);
  return JSON.parse(execFileSync(SHOAL, args, { encoding: 'utf8' }));
}

const MiB = 1024 * 1024;

test('one node: the dashboard loads cleanly and shows the plan `shoal plan` prints', async () => {
  server = await serve(['-m', model, '-t', '1', '-c', CTX, '--chat-template-fallback', 'chatml', '--parallel', '4']);
  const { page, errors } = await openPage(`${server.url}/`);
  await page.waitForSelector('article.node');
  assert.equal(await page.$$eval('article.node', (a) => a.length), 1);
  assert.match(await page.$eval('dl.model-card', (d) => d.textContent), /llama/);
  // This machine alone, as `shoal plan` (without --node) describes it.
  const want = cliPlan([]);
  assertPlanShown(await planCells(page), want);
  assert.deepEqual(errors, []);
  await page.close();
});

test('chat: an answer streams in, and Stop cancels its sequence on the server', async () => {
  const tps = await tokensPerSecond(server.url);
  const maxTokens = Math.max(200, Math.min(1800, Math.round(tps * 12)));
  const prompt = 'Tell me a long story about the sea.';
  // Greedy decoding of this random model must not end by itself before max_tokens, or there would
  // be nothing to stop: checked through the API first (the same messages the page sends).
  const probe = await (await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: prompt }], max_tokens: 400, temperature: 0 }),
  })).json();
  assert.equal(probe.choices[0].finish_reason, 'length', 'the test model ends its answer early');

  const { page, errors } = await openPage(`${server.url}/chat`);
  await page.$eval('#temperature', (e) => { e.value = '0'; e.dispatchEvent(new Event('input')); });
  await page.$eval('#max-tokens', (e, v) => { e.value = String(v); e.dispatchEvent(new Event('input')); }, maxTokens);
  const cancelledBefore = await metric(server.url, 'shoal_scheduler_cancelled_total');
  await page.type('#input', prompt);
  await page.click('#send');
  await page.waitForSelector('.msg.assistant.streaming');
  // Text arrives while the request runs (the probe showed it runs for 400 tokens at least).
  await waitFor('streamed text', () => page.$eval('.msg.assistant .msg-body', (b) => b.textContent.length > 4), 15000, 20);
  assert.equal(await page.$eval('#send', (b) => b.textContent), 'Stop',
    await page.$eval('.msg.assistant .msg-stats', (s) => `finished already: ${s.textContent}`));
  await page.click('#send');
  await page.waitForSelector('.msg.assistant:not(.streaming)');
  // Its tokens/s (from the chunks' arrival times) and that it was stopped.
  assert.match(await page.$eval('.msg.assistant .msg-stats', (s) => s.textContent), /^\d+ tokens · [\d.]+ tok\/s · .*stopped$/);
  await waitFor('the server to cancel the sequence',
    async () => (await metric(server.url, 'shoal_scheduler_cancelled_total')) > cancelledBefore);
  // The conversation survives a reload (localStorage).
  await page.reload({ waitUntil: 'load' });
  await page.waitForSelector('body[data-loaded="1"]');
  assert.equal(await page.$$eval('.msg', (m) => m.length), 2);
  assert.deepEqual(errors, []);
  await page.close();
});

// A scripted answer in the server's own SSE shape, so that the rendering is checked exactly (the
// test model's words are random): reasoning chunks, content chunks, the finish and usage chunks.
function scriptedStream(reasoning, parts, completionTokens) {
  const chunk = (delta, finish = null) => `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  return chunk({ role: 'assistant' }) + (reasoning.match(/.{1,12}/g) || []).map((r) => chunk({ reasoning_content: r })).join('') +
    parts.map((p) => chunk({ content: p })).join('') + chunk({}, 'stop') +
    `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 12, completion_tokens: completionTokens, total_tokens: 12 + completionTokens } })}\n\n` +
    'data: [DONE]\n\n';
}

test('chat: Markdown, code with copy, thinking collapsed, token count, nothing executable', async () => {
  const reasoning = 'The user wants a C++ example; keep it short.';
  const answers = [
    scriptedStream(reasoning, ['Here is **a minimal program** and ', 'two notes:\n\n- it returns `0`\n- it prints nothing\n\n',
      '```cpp\nint main() {\n  return 0;\n}\n```\n', 'Compile it with `g++ main.cc`.'], 42),
    scriptedStream('', ['Careful: ', '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" onerror="window.__pwned=1">',
      '<script>window.__pwned=2</script>', '[a link](javascript:window.__pwned=3)'], 7),
  ];
  const { page, errors } = await openPage(`${server.url}/chat`);
  await page.click('#new-chat');
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/chat/completions')) r.respond({ status: 200, contentType: 'text/event-stream', body: answers.shift() });
    else r.continue();
  });
  await page.type('#input', 'Show me the smallest C++ program.');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.msg.assistant:not(.streaming) .msg-stats');
  const view = await page.$eval('.msg.assistant', (m) => ({
    thinkOpen: m.querySelector('details.think').open,
    thinkHidden: m.querySelector('details.think').hidden,
    think: m.querySelector('.think-body').textContent,
    strong: m.querySelector('.msg-body strong')?.textContent,
    items: [...m.querySelectorAll('.msg-body li')].map((li) => li.textContent),
    code: m.querySelector('.msg-body pre code')?.textContent,
    lang: m.querySelector('.msg-body pre code')?.className,
    stats: m.querySelector('.msg-stats').textContent,
    copy: m.querySelector('.msg-foot button')?.textContent,
  }));
  assert.equal(view.copy, 'Copy', 'each answer has a copy button');
  assert.equal(view.thinkHidden, false);
  assert.equal(view.thinkOpen, false, 'thinking starts collapsed');
  assert.equal(view.think, reasoning);
  assert.equal(view.strong, 'a minimal program');
  assert.deepEqual(view.items, ['it returns 0', 'it prints nothing']);
  assert.equal(view.code, 'int main() {\n  return 0;\n}\n');
  assert.match(view.lang, /language-cpp/);
  assert.match(view.stats, /^42 tokens/, 'the count the usage chunk gives');
  await page.click('.msg-body pre .copy-code');
  await waitFor('copy feedback', () => page.$eval('.msg-body pre .copy-code', (b) => b.textContent === 'Copied'));
  await page.click('.msg.assistant details.think summary');  // opens on a click
  assert.equal(await page.$eval('.msg.assistant details.think', (d) => d.open), true);
  await shot(page, 'chat.png');

  // Markup that would run script is removed before it reaches the page.
  await page.type('#input', 'And something unsafe?');
  await page.keyboard.press('Enter');
  await waitFor('the second answer', () => page.$$eval('.msg.assistant:not(.streaming) .msg-stats', (s) => s.length === 2));
  const last = await page.$$eval('.msg.assistant', (ms) => {
    const m = ms[ms.length - 1];
    return {
      text: m.querySelector('.msg-body').textContent,
      unsafe: m.querySelectorAll('.msg-body script, .msg-body [onerror], .msg-body a[href^="javascript"]').length,
      imgs: m.querySelectorAll('.msg-body img').length,
    };
  });
  assert.match(last.text, /^Careful:/);
  assert.equal(last.unsafe, 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);

  await page.setViewport({ width: 390, height: 760, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
  await page.waitForSelector('.msg.assistant .msg-stats');  // a mobile viewport reloads the page
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no sideways scrolling at phone size');
  await page.$$eval('.msg', (ms) => ms.slice(2).forEach((m) => m.remove()));  // the first exchange only
  await shot(page, 'chat-phone.png');
  // Chromium reports the onerror attribute as a CSP violation when DOMPurify parses the answer in
  // its inert document (nothing runs there); any other error fails the test.
  assert.deepEqual(errors.filter((e) => !/Executing inline event handler violates/.test(e)), []);
  await page.close();
  await stopServer(server);
  server = null;
});

test('3 nodes: one card each with its memory, and the plan as `shoal plan` makes it', async () => {
  server = await serve(['-m', model, '-t', '1', '-c', CTX, '--local', '2', '--local-mem', '512M',
    '--chat-template-fallback', 'chatml', '--parallel', '4']);
  const { page, errors } = await openPage(`${server.url}/`);
  await page.waitForSelector('article.node');
  const cards = await page.$$eval('article.node', (a) => a.map((n) => ({
    rank: Number(n.dataset.rank), status: n.dataset.status,
    memory: n.querySelector('dd[data-field="Memory offered"]').textContent,
  })));
  assert.equal(cards.length, 3);
  for (const c of cards) {
    assert.equal(c.status, 'up');
    assert.equal(c.memory, '512 MiB', `rank ${c.rank}: the memory --local-mem offers`);
  }
  const pool = await (await fetch(`${server.url}/v1/pool`)).json();
  assert.deepEqual(pool.nodes.map((n) => n.memory_bytes), [512 * MiB, 512 * MiB, 512 * MiB]);
  // The same three nodes described to `shoal plan`: the same split.
  const want = cliPlan(pool.plan.nodes.map((n) => `mem=512M,threads=${n.threads},name=${n.name}`));
  assertPlanShown(await planCells(page), want);
  assert.deepEqual(errors, []);
  await page.close();
});

test('3 nodes: live tokens/s rises while requests run', async () => {
  const { page, errors } = await openPage(`${server.url}/`);
  await page.waitForSelector('#kpi-decode');
  const decode = () => page.$eval('#kpi-decode', (k) => Number(k.dataset.value) || 0);
  assert.equal(await decode(), 0, 'nothing runs yet');
  const tps = await tokensPerSecond(server.url);
  const maxTokens = Math.max(100, Math.min(1800, Math.round(tps * (SHOTS ? 12 : 6))));
  const streams = [0, 1, 2].map((i) => streamCompletion(server.url, maxTokens, `Story number ${i}:`));
  await waitFor('decode tokens/s above zero', async () => (await decode()) > 0, 20000);
  await waitFor('requests running', () => page.$eval('#kpi-running', (k) => Number(k.dataset.value) > 0));
  await new Promise((r) => setTimeout(r, SHOTS ? 4000 : 2500));  // a few seconds of chart, requests still running
  await shot(page, 'dashboard-3-nodes.png', true);
  await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
  await page.waitForSelector('article.node');  // a mobile viewport reloads the page
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no sideways scrolling at phone size');
  await shot(page, 'dashboard-phone.png');
  const events = await Promise.all(streams);
  for (const n of events) assert.ok(n > 1);
  // Every node's compute per step and its share of rank 0's step wall time: measured on each
  // node (its time in collectives left out), each share within (0, 1], so they add up to at most
  // the number of nodes; the same figures in /metrics, and on the cards.
  const pool = await (await fetch(`${server.url}/v1/pool`)).json();
  assert.equal(pool.nodes.length, 3);
  for (const n of pool.nodes) {
    assert.ok(n.steps > 0, `rank ${n.rank}: steps counted`);
    assert.ok(n.step_ms > 0, `rank ${n.rank}: step_ms ${n.step_ms}`);
    assert.ok(n.step_share > 0 && n.step_share <= 1, `rank ${n.rank}: step_share ${n.step_share}`);
  }
  const shares = pool.nodes.reduce((a, n) => a + n.step_share, 0);
  assert.ok(shares > 0 && shares <= 3, `shares add up to ${shares}`);
  const text = await (await fetch(`${server.url}/metrics`)).text();
  for (const n of pool.nodes) {
    assert.match(text, new RegExp(`^shoal_node_step_ms\\{rank="${n.rank}",[^}]*\\} [\\d.e+-]+$`, 'm'));
    assert.match(text, new RegExp(`^shoal_node_step_share\\{rank="${n.rank}",[^}]*\\} [\\d.e+-]+$`, 'm'));
  }
  await page.waitForSelector('article.node[data-rank="2"] dd[data-field="Share of step"]');
  const cardShares = await page.$$eval('dd[data-field="Share of step"]', (d) => d.map((x) => x.textContent));
  assert.equal(cardShares.length, 3);
  for (const t of cardShares) assert.match(t, /^[\d.]+%$/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('3 nodes: a worker stopped by the test shows as down', async () => {
  const pool = await (await fetch(`${server.url}/v1/pool`)).json();
  const workers = childPids(server.proc.pid);
  assert.equal(workers.length, 2, 'two --local worker processes');
  const last = pool.nodes[2];
  assert.ok(workers.includes(last.pid), 'rank 2 is one of the server\'s children');
  const { page, errors } = await openPage(`${server.url}/`);
  await page.waitForSelector('article.node[data-rank="2"][data-status="up"]');
  process.kill(last.pid, 'SIGKILL');
  await page.waitForSelector('article.node[data-rank="2"][data-status="down"]', { timeout: 10000 });
  assert.match(await page.$eval('article.node[data-rank="2"] .detail', (d) => d.textContent), new RegExp(`${last.pid} has exited`));
  await page.waitForSelector('svg.links .link.down[data-to="2"] line[stroke-dasharray]');  // its link dashed
  assert.equal(await page.$eval('article.node[data-rank="0"]', (n) => n.dataset.status), 'up');
  // (rank 1 may go down too: its links to rank 2 break and a worker ends with its job)
  assert.match(await page.$eval('#banner', (b) => b.textContent), /nodes? (is|are) down: .*local worker 2/);
  // The next request fails in the engine; the dashboard shows the engine's error.
  const res = await fetch(`${server.url}/v1/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: 'Hello', max_tokens: 8 }), signal: AbortSignal.timeout(60000),
  });
  assert.ok(res.status >= 500, `a request to a broken pool fails (${res.status})`);
  await page.waitForSelector('#engine-error', { timeout: 10000 });
  await shot(page, 'dashboard-node-down.png', true);
  // Nothing but the expected failed fetch of nothing: the page itself logged no error.
  assert.deepEqual(errors, []);
  await page.close();
});

test('3 nodes starting: the loading shows as bars (shards shipped per node), then the pool and its links', async () => {
  await stopServer(server);
  // Workers without a copy of the model (their shards come from rank 0), held in the loading
  // state for a few seconds after the shipping and mapping.
  server = await serve(['-m', model, '-t', '1', '-c', CTX, '--local', '2', '--local-mem', '512M',
    '--local-model', join(dir, 'no-such-model.gguf'), '--parallel', '4'],
  { loading: true, env: { SHOAL_TEST_LOAD_DELAY_MS: '4000', SHOAL_CACHE: join(dir, 'cache') } });
  const { page, errors } = await openPage(`${server.url}/`);
  await page.waitForSelector('body[data-state="loading"] #progress-card:not([hidden])');
  await page.waitForSelector('.progress-row[data-phase="test-delay"]');
  const rows = await page.$$eval('.progress-row', (rs) => rs.map((r) => ({ phase: r.dataset.phase,
    node: r.dataset.node, done: Number(r.dataset.done), total: Number(r.dataset.total) })));
  // Each worker's shard was shipped whole, and the page says so per node.
  const pool = await (await fetch(`${server.url}/v1/pool`)).json();
  const ship = pool.progress.phases.find((p) => p.phase === 'ship');
  assert.ok(ship, 'a shipping step');
  assert.deepEqual(ship.nodes.map((n) => n.node), [1, 2]);
  for (const n of ship.nodes) {
    assert.ok(n.total > 0 && n.done === n.total, `node ${n.node}: shipped all of its shard`);
    const row = rows.find((r) => r.phase === 'ship' && r.node === String(n.node));
    assert.ok(row, `a bar for node ${n.node}`);
    assert.deepEqual([row.done, row.total], [n.done, n.total]);
  }
  assert.ok(rows.some((r) => r.phase === 'load' && r.node === '2'), 'the load reports per node');
  // A fresh cache: rank 0 hashed the model (its identity) first, all of its tensor bytes.
  const hash = pool.progress.phases.find((p) => p.phase === 'hash');
  assert.ok(hash, 'a hashing step');
  assert.ok(hash.total > 0 && hash.done === hash.total && hash.finished, JSON.stringify(hash));
  assert.ok(rows.some((r) => r.phase === 'hash'), 'a bar for the hashing');
  assert.equal(await page.$$eval('article.node', (a) => a.length), 0, 'no node cards before the plan');
  await shot(page, 'dashboard-loading.png');
  // Then ready: the bars go, the cards and the links from rank 0 come.
  await page.waitForSelector('body[data-state="ready"] #progress-card[hidden]', { timeout: 20000 });
  await page.waitForSelector('article.node[data-rank="2"]');
  const links = await page.$$eval('svg.links .link', (ls) => ls.map((l) => [Number(l.dataset.to),
    l.dataset.transport, l.dataset.security, l.querySelector('text').textContent]));
  assert.deepEqual(links, [[1, 'tcp', 'seal', 'tcp · seal (encrypted)'], [2, 'tcp', 'seal', 'tcp · seal (encrypted)']]);
  assert.deepEqual(errors, []);
  await page.close();
});
