// failover_bench.sh's JSON: per (fault, context) the medians of its runs, and every run.
//   node summarize.mjs RUNS.tsv DIR MAX_TOKENS COMMIT N_CORES MODEL THREADS
import { readFileSync } from 'node:fs';

const [runsPath, dir, maxTokens, commit, nCores, model, threads] = process.argv.slice(2);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
};
const groups = new Map();
for (const line of readFileSync(runsPath, 'utf8').split('\n')) {
  if (!line) continue;
  const [fault, ctx, t, d, r, reformMs, out] = line.split('\t');
  const T = Number(t) * 1000, D = Number(d) * 1000, R = Number(r) * 1000;
  const run = JSON.parse(readFileSync(out, 'utf8'));
  const ref = JSON.parse(readFileSync(`${dir}/ref-${ctx}.json`, 'utf8'));
  const first = run.chunks.find((x) => x > R);
  const same = run.status === 200 && run.text === ref.text;
  const sample = {
    detect_ms: Math.round(D - T),
    reform_ms: Number(reformMs),
    replay_ms: first ? Math.round(first - R) : null,
    resume_ms: first ? Math.round(first - T) : null,
    tokens_lost: same ? Number(maxTokens) - run.completion_tokens : Number(maxTokens),
    same_text: same,
  };
  const key = `${fault}/${ctx}`;
  if (!groups.has(key)) groups.set(key, { fault, context: Number(ctx), samples: [] });
  groups.get(key).samples.push(sample);
}
const results = [];
for (const g of groups.values()) {
  const m = (k) => median(g.samples.map((s) => s[k]).filter((x) => x !== null));
  results.push({ fault: g.fault, context_tokens: g.context, runs: g.samples.length,
    detect_ms: m('detect_ms'), reform_ms: m('reform_ms'), replay_ms: m('replay_ms'),
    resume_ms: m('resume_ms'), tokens_lost: Math.max(...g.samples.map((s) => s.tokens_lost)),
    same_text: g.samples.every((s) => s.same_text), samples: g.samples });
}
console.log(JSON.stringify({ bench: 'failover', commit, machine: { n_cores: Number(nCores) },
  model, nodes: 3, threads_per_node: Number(threads), max_tokens: Number(maxTokens),
  heartbeat: { interval_ms: 200, slow_after_ms: 1000, dead_after_ms: 2000 }, results }, null, 1));
