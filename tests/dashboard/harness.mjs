// What the browser tests need besides the browser: a generated model, `shoal serve` started and
// stopped, its worker processes, its metrics, and streaming requests from Node.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export const SHOAL = process.env.SHOAL_BIN || 'shoal';

export function tempDir() {
  const base = process.env.SHOAL_TEST_TMP || '/tmp/shoal-dashboard-test';
  const dir = join(base, `run-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

// A random-weight llama big enough that decoding takes measurable time.
export function genModel(dir) {
  const path = join(dir, 'dash.gguf');
  execFileSync(SHOAL, ['gen-model', '-o', path, '--arch', 'llama', '--n-embd', '512', '--n-layer', '4',
    '--n-head', '8', '--n-head-kv', '4', '--n-ff', '1536', '--type', 'q8_0', '--n-ctx', '4096'], { stdio: 'pipe' });
  return path;
}

// Starts `shoal serve ARGS --port 0` and resolves once it listens with the model ready (loading:
// true: once HTTP answers, the model still loading): {proc, url, log()}. env: extra variables.
export function startServer(args, { loading = false, env = {} } = {}) {
  const proc = spawn(SHOAL, ['serve', ...args, '--port', '0'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let log = '';
  const ready = loading ? /serve: (http:\/\/127\.0\.0\.1:\d+) shows the loading/
    : /listening on (http:\/\/127\.0\.0\.1:\d+)/;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`shoal serve did not start:\n${log}`)), 60000);
    proc.stderr.on('data', (d) => {
      log += d;
      const m = ready.exec(log);
      if (m) { clearTimeout(timer); resolve({ proc, url: m[1], log: () => log }); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`shoal serve exited (${code}):\n${log}`)); });
  });
}

export async function stopServer(s) {
  if (!s || s.proc.exitCode !== null) return;
  const done = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 15000);
  await done;
  clearTimeout(t);
}

// The direct children of a process (the --local workers of a server).
export function childPids(pid) {
  const out = [];
  const dir = `/proc/${pid}/task`;
  if (!existsSync(dir)) return out;
  for (const t of readdirSync(dir)) {
    try { out.push(...readFileSync(`${dir}/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)); } catch { /* gone */ }
  }
  return [...new Set(out)];
}

// One value of GET /metrics (the sum over its label sets).
export async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0, seen = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      seen = true;
    }
  }
  if (!seen) throw new Error(`no metric ${name}`);
  return sum;
}

// A streamed completion read to its end; resolves to the number of SSE events.
export async function streamCompletion(url, maxTokens, prompt = 'Once upon a time') {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: maxTokens, stream: true, temperature: 0.8, ignore_eos: true }),
  });
  if (!res.ok) throw new Error(`completion: ${res.status} ${await res.text()}`);
  const text = await res.text();
  return text.split('\n\n').filter((e) => e.startsWith('data:')).length;
}

// Decode speed of this server for one stream, to size requests that last a few seconds.
export async function tokensPerSecond(url) {
  const n = 64;
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: 'Hello', max_tokens: n, temperature: 0, ignore_eos: true }),
  });
  const j = await res.json();
  return j.usage.completion_tokens / ((performance.now() - t0) / 1000);
}

export async function waitFor(what, fn, timeoutMs = 15000, stepMs = 100) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}
