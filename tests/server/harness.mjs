// Starting `shoal serve` on a generated model, running `shoal run` as the reference, reading
// /metrics and the server's resident memory. Used by the node:test files in this folder.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

export const SHOAL = process.env.SHOAL_BIN ?? 'shoal';

export function tmpDir() {
  const base = process.env.SHOAL_TEST_TMP ?? tmpdir();
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 'serve-'));
}

// A small random-weight llama (the same shape the CLI tests use), written once per folder.
export function genModel(dir, extra = []) {
  const path = join(dir, 'tiny.gguf');
  if (!existsSync(path)) {
    execFileSync(SHOAL, ['gen-model', '-o', path, '--arch', 'llama', '--n-embd', '64', '--n-layer',
      '2', '--n-head', '4', '--n-head-kv', '2', '--n-ff', '128', '--n-ctx', '512', '--type', 'f16',
      '--seed', '3', ...extra], { stdio: 'pipe' });
  }
  return path;
}

// A model slow enough (about a millisecond a token) that a stream is still going when a client
// leaves after its first chunk.
export function genMediumModel(dir) {
  const path = join(dir, 'medium.gguf');
  if (!existsSync(path)) {
    execFileSync(SHOAL, ['gen-model', '-o', path, '--arch', 'llama', '--n-embd', '256',
      '--n-layer', '4', '--n-head', '4', '--n-head-kv', '2', '--n-ff', '1024', '--n-ctx', '4096',
      '--type', 'f16', '--seed', '4'], { stdio: 'pipe' });
  }
  return path;
}

// Starts `shoal serve -m model --port 0 ...args`; resolves when it listens with the model ready
// (loading: true: as soon as HTTP answers, while the model still loads). env: extra variables.
export function startServer(model, args = [], { timeoutMs = 60000, loading = false, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(SHOAL, ['serve', '-m', model, '--port', '0', '-t', '1', ...args],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let log = '';
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`serve did not start: ${log}`)); }, timeoutMs);
    const ready = loading ? /serve: http:\/\/([^:]+):(\d+) shows the loading/
      : /listening on http:\/\/([^:]+):(\d+)/;
    proc.stderr.on('data', (d) => {
      log += d.toString();
      const m = log.match(ready);
      if (m && !proc.started) {
        proc.started = true;
        clearTimeout(timer);
        const url = `http://${m[1]}:${m[2]}`;
        resolve({
          url, proc, port: Number(m[2]), log: () => log,
          stop: () => new Promise((res) => {
            if (proc.exitCode !== null) return res(proc.exitCode);
            proc.on('exit', (code) => res(code));
            proc.kill('SIGTERM');
          }),
        });
      }
    });
    proc.on('exit', (code) => {
      if (!proc.started) { clearTimeout(timer); reject(new Error(`serve exited ${code}: ${log}`)); }
    });
  });
}

// `shoal run --temp 0` on the exact prompt bytes: {text, tokens, stop, prompt_tokens}.
export function shoalRun(model, prompt, n, args = []) {
  const dir = tmpDir();
  const file = join(dir, 'prompt.txt');
  writeFileSync(file, prompt);
  const out = execFileSync(SHOAL, ['run', '-m', model, '-f', file, '-n', String(n), '--temp', '0',
    '-t', '1', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.toString());
}

export async function metrics(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return m;
}

// Resident memory of a process in bytes (Linux).
export function rssBytes(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = s.match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) * 1024 : 0;
}

export async function waitFor(pred, timeoutMs = 10000, stepMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

// Distinct short prompts.
export function prompts(n) {
  const words = ['river', 'stone', 'cloud', 'lamp', 'field', 'north', 'copper', 'glass', 'salt',
    'winter', 'harbor', 'maple', 'signal', 'thread', 'orbit', 'ember'];
  return Array.from({ length: n }, (_, i) =>
    `${words[i % words.length]} ${words[(i * 7 + 3) % words.length]} number ${i}:`);
}
