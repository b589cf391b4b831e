// The essential browser tests in the other engines the pages must work in: Firefox (firefox-esr,
// through puppeteer-core over WebDriver BiDi) and WebKit (WebKitGTK, Safari's engine, through
// WebKitWebDriver under xvfb-run). One `shoal serve` (a 3-node --local pool) per run:
//   node tests/dashboard/engines.test.mjs firefox|webkit
// The dashboard loads with no error and shows the three nodes with their memory and their share
// of the step; the chat page streams an answer and Stop cancels it on the server; at phone width
// neither page scrolls sideways. Exits 77 (skipped) only when the engine cannot start here.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tempDir, genModel, startServer, stopServer, metric, tokensPerSecond, streamCompletion,
  waitFor } from './harness.mjs';
import { firefox, webkit } from './engines.mjs';

const which = process.argv[2];
const openers = { firefox, webkit };
if (!openers[which]) {
  console.error('usage: engines.test.mjs firefox|webkit');
  process.exit(2);
}
let engine;
try {
  engine = await openers[which]();
} catch (e) {
  console.log(`SKIP: ${which} cannot start here: ${e.message}`);
  process.exit(77);
}
console.log(`# ${engine.name}: ${engine.version}`);
const dir = tempDir();
const model = genModel(dir);
const MiB = 1024 * 1024;
let server = null;

after(async () => {
  await stopServer(server);
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

const noSidewaysScroll = () => document.documentElement.scrollWidth <= window.innerWidth + 1;

// A phone-sized window: 390 CSS px wide where the engine allows it (MiniBrowser's window cannot be
// narrower than its toolbar, about 450 px), in any case within the pages' narrow layout (600 px).
async function phoneWidth(page, height) {
  await page.setSize(390, height);
  const width = await waitFor('the phone layout', async () => {
    const w = await page.eval(() => window.innerWidth);
    return w <= 600 ? w : 0;
  }, 5000);
  console.log(`# ${which}: phone width ${width} px`);
  assert.ok(await page.eval(noSidewaysScroll), `no sideways scrolling ${width} px wide`);
}

test(`${which}: the dashboard shows the 3 nodes, their memory and their share of the step`, async () => {
  server = await startServer(['-m', model, '-t', '1', '-c', '2048', '--local', '2', '--local-mem', '512M',
    '--chat-template-fallback', 'chatml', '--parallel', '4']);
  await streamCompletion(server.url, 16);  // steps for the shares to come from
  const page = await engine.open(`${server.url}/`, { width: 1280, height: 900 });
  await page.waitFor('body[data-loaded="1"]');
  await page.waitFor('article.node[data-rank="2"]');
  const cards = await page.eval(() => [...document.querySelectorAll('article.node')].map((n) => ({
    status: n.dataset.status,
    memory: n.querySelector('dd[data-field="Memory offered"]').textContent,
    share: n.querySelector('dd[data-field="Share of step"]').textContent,
  })));
  assert.equal(cards.length, 3);
  const pool = await (await fetch(`${server.url}/v1/pool`)).json();
  for (const [i, c] of cards.entries()) {
    assert.equal(c.status, 'up');
    assert.equal(c.memory, '512 MiB');
    assert.equal(pool.nodes[i].memory_bytes, 512 * MiB);
    assert.match(c.share, /^[\d.]+%$/, `rank ${i}: a share of the step`);
  }
  await phoneWidth(page, 844);
  assert.deepEqual(await page.errors(), []);
  await page.close();
});

test(`${which}: the chat page streams an answer and Stop cancels it on the server`, async () => {
  const tps = await tokensPerSecond(server.url);
  const maxTokens = Math.max(200, Math.min(1800, Math.round(tps * 12)));
  const page = await engine.open(`${server.url}/chat`, { width: 1280, height: 900 });
  await page.waitFor('body[data-loaded="1"]');
  await page.eval((v) => {
    for (const [id, value] of [['temperature', '0'], ['max-tokens', String(v)]]) {
      const e = document.getElementById(id);
      e.value = value;
      e.dispatchEvent(new Event('input'));
    }
  }, maxTokens);
  const cancelledBefore = await metric(server.url, 'shoal_scheduler_cancelled_total');
  await page.type('#input', 'Tell me a long story about the sea.');
  await page.click('#send');
  await page.waitFor('.msg.assistant.streaming');
  await waitFor('streamed text', () => page.eval(() => document.querySelector('.msg.assistant .msg-body').textContent.length > 4), 15000, 20);
  assert.equal(await page.eval(() => document.getElementById('send').textContent), 'Stop');
  await page.click('#send');
  await page.waitFor('.msg.assistant:not(.streaming)');
  assert.match(await page.eval(() => document.querySelector('.msg.assistant .msg-stats').textContent),
    /^\d+ tokens · [\d.]+ tok\/s · .*stopped$/);
  await waitFor('the server to cancel the sequence',
    async () => (await metric(server.url, 'shoal_scheduler_cancelled_total')) > cancelledBefore);
  await phoneWidth(page, 760);
  assert.deepEqual(await page.errors(), []);
  await page.close();
});
