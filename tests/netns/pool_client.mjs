// Load for the fault tests (failover_test.sh, soak_failover.sh): a fixed set of completion
// requests (greedy and seeded temperature > 0, ignore_eos so their length is fixed) sent to
// `shoal serve`. Only node's built-in fetch; no packages.
//
//   node pool_client.mjs reference URL OUT.json
//     sends every request once, one at a time, and writes {key: text} (the reference answers,
//     from an uninterrupted one-node server).
//   node pool_client.mjs stream URL REF.json CLIENTS STOPFILE RECORDS.jsonl
//     CLIENTS loops, each sending the requests in turn (from its own offset) until STOPFILE
//     exists; each answer must be HTTP 200, finish_reason "length" and exactly the reference
//     text. One line per request goes to RECORDS.jsonl ({key, client, t0, t1, ok, why}; times in
//     ms since the epoch). Prints a JSON summary; exit 1 when any request failed.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

const N_PROMPTS = 12;

function requests() {
  const words = ['pool', 'node', 'fault', 'replay', 'token', 'shard', 'heartbeat', 'epoch'];
  const out = [];
  for (let i = 0; i < N_PROMPTS; ++i) {
    const prompt = `request ${i}: ` + Array.from({ length: 3 + (i % 5) * 7 },
      (_, k) => words[(i * 3 + k) % words.length]).join(' ');
    const body = { prompt, max_tokens: 48 + (i % 4) * 24, ignore_eos: true };
    if (i % 2 === 0) body.temperature = 0;
    else Object.assign(body, { temperature: 0.8, top_k: 40, top_p: 0.95, seed: 1000 + i });
    out.push({ key: `r${i}`, body });
  }
  return out;
}

async function complete(url, body) {
  const r = await fetch(`${url}/v1/completions`, { method: 'POST',
    headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  let j = null;
  try { j = JSON.parse(text); } catch { /* reported below */ }
  return { status: r.status, j, text };
}

const [mode, url, ...rest] = process.argv.slice(2);
const reqs = requests();

if (mode === 'reference') {
  const ref = {};
  for (const q of reqs) {
    const { status, j, text } = await complete(url, q.body);
    if (status !== 200 || j?.choices?.[0]?.finish_reason !== 'length') {
      console.error(`reference ${q.key}: ${status} ${text.slice(0, 300)}`);
      process.exit(1);
    }
    ref[q.key] = j.choices[0].text;
  }
  writeFileSync(rest[0], JSON.stringify(ref));
} else if (mode === 'stream') {
  const [refPath, clientsArg, stopFile, recordsPath] = rest;
  const ref = JSON.parse(readFileSync(refPath, 'utf8'));
  writeFileSync(recordsPath, '');
  const summary = { requests: 0, ok: 0, failed: 0, failures: [] };
  const client = async (c) => {
    for (let n = c; !existsSync(stopFile); ++n) {
      const q = reqs[n % reqs.length];
      const t0 = Date.now();
      let ok = false, why = '';
      try {
        const { status, j, text } = await complete(url, q.body);
        const fin = j?.choices?.[0]?.finish_reason;
        if (status !== 200) why = `HTTP ${status}: ${text.slice(0, 200)}`;
        else if (fin !== 'length') why = `finish_reason ${fin}`;
        else if (j.choices[0].text !== ref[q.key]) why = 'text differs from the one-node answer';
        else ok = true;
      } catch (e) {
        why = `request failed: ${e.cause?.message ?? e.message}`;
      }
      const rec = { key: q.key, client: c, t0, t1: Date.now(), ok, why };
      appendFileSync(recordsPath, JSON.stringify(rec) + '\n');
      ++summary.requests;
      if (ok) ++summary.ok;
      else {
        ++summary.failed;
        if (summary.failures.length < 10) summary.failures.push(rec);
      }
    }
  };
  await Promise.all(Array.from({ length: Number(clientsArg) }, (_, c) => client(c)));
  console.log(JSON.stringify(summary));
  process.exit(summary.failed === 0 && summary.ok > 0 ? 0 : 1);
} else {
  console.error('usage: pool_client.mjs reference URL OUT | stream URL REF CLIENTS STOP RECORDS');
  process.exit(2);
}
