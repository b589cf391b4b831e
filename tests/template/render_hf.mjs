// Renders chat-template cases with @huggingface/jinja (as transformers.js renders chat
// templates). Usage: node render_hf.mjs cases.json out.json (formats as in render_jinja2.py).
import { readFileSync, writeFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const compiled = new Map();
const out = [];
for (const c of spec.cases) {
  const t = spec.templates[c.template];
  try {
    if (!compiled.has(c.template)) compiled.set(c.template, new Template(t.source));
    const ctx = {
      ...(c.extra ?? {}),
      messages: c.messages,
      tools: c.tools ?? null,
      add_generation_prompt: c.add_generation_prompt,
      bos_token: t.bos,
      eos_token: t.eos,
    };
    out.push({ ok: true, text: compiled.get(c.template).render(ctx) });
  } catch (e) {
    out.push({ ok: false, error: String(e?.message ?? e) });
  }
}
writeFileSync(process.argv[3], JSON.stringify(out));
