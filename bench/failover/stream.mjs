// One streamed completion for failover_bench.sh: a prompt of N token ids (the same ids for the
// same N), greedy, ignore_eos, logprobs 0 (so every token comes as a chunk, even one whose text
// is empty); the wall clock of every token's chunk is kept.
//   node stream.mjs URL N_PROMPT MAX_TOKENS STARTED_FILE OUT.json
// STARTED_FILE is written once the 8th token has arrived (the bench faults a node then). OUT:
// {status, text, completion_tokens, finish_reason, chunks: [ms since the epoch, ...]}.
import { writeFileSync } from 'node:fs';

const [url, nPrompt, maxTokens, startedFile, outFile] = process.argv.slice(2);
const prompt = Array.from({ length: Number(nPrompt) }, (_, i) => 10 + ((i * 37 + 11) % 600));
const out = { status: 0, text: '', completion_tokens: 0, finish_reason: null, chunks: [] };
const r = await fetch(`${url}/v1/completions`, { method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ prompt, max_tokens: Number(maxTokens), temperature: 0, ignore_eos: true,
    logprobs: 0, stream: true, stream_options: { include_usage: true } }) });
out.status = r.status;
const dec = new TextDecoder();
let buf = '';
for await (const piece of r.body) {
  buf += dec.decode(piece, { stream: true });
  let k;
  while ((k = buf.indexOf('\n\n')) >= 0) {
    const ev = buf.slice(0, k);
    buf = buf.slice(k + 2);
    if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
    const j = JSON.parse(ev.slice(6));
    if (j.usage) out.completion_tokens = j.usage.completion_tokens;
    const c = j.choices?.[0];
    if (!c) continue;
    if (c.finish_reason) out.finish_reason = c.finish_reason;
    if (c.text) out.text += c.text;
    if (c.logprobs) {
      out.chunks.push(Date.now());
      if (out.chunks.length === 8 && startedFile !== '-') writeFileSync(startedFile, '');
    }
  }
}
writeFileSync(outFile, JSON.stringify(out));
