// libFuzzer target: arbitrary bytes through every tokenizer kind on small hand-made
// vocabularies. Checks: no crash or sanitizer report, ids in range, Decode(Encode(x)) == x where
// no normalizer applies, DecodeStream == Decode, NFC idempotent.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "model/tokenizer.h"
#include "model/tokenizer_stream.h"
#include "model/unicode.h"

namespace {

using shoal::gguf::Metadata;
using shoal::gguf::Value;
namespace unicode = shoal::model::unicode;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", what);
    std::abort();
  }
}

std::unique_ptr<shoal::model::Tokenizer> Bpe(const char* pre) {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(unicode::BytesToByteLevel(std::string(1, static_cast<char>(b))));
    types.push_back(1);
  }
  const std::string sp = unicode::BytesToByteLevel(" ");
  std::vector<std::string> merges = {"a b", "ab c", sp + " t", sp + "t h", "e r", "1 2"};
  for (const std::string& m : merges) {
    const size_t s = m.find(' ', 1);
    tokens.push_back(m.substr(0, s) + m.substr(s + 1));
    types.push_back(1);
  }
  tokens.push_back("<|end|>");
  types.push_back(3);
  tokens.push_back("<tool>");
  types.push_back(4);
  Metadata md;
  md.Set("tokenizer.ggml.model", Value::Str("gpt2"));
  md.Set("tokenizer.ggml.pre", Value::Str(pre));
  md.Set("tokenizer.ggml.tokens", Value::StrArray(tokens));
  md.Set("tokenizer.ggml.token_type", Value::I32Array(types));
  md.Set("tokenizer.ggml.merges", Value::StrArray(merges));
  auto t = shoal::model::Tokenizer::FromMetadata(md);
  Check(t.ok(), "bpe vocabulary rejected");
  return std::move(t).value();
}

std::unique_ptr<shoal::model::Tokenizer> Spm() {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  std::vector<float> scores = {0, 0, 0};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    tokens.push_back(name);
    types.push_back(6);
    scores.push_back(0);
  }
  const std::string space = "\xE2\x96\x81";
  const std::string pieces[] = {space, "a", "b", "ab", space + "ab", "\xC3\xA9", "e"};
  float score = -1;
  for (const std::string& p : pieces) {
    tokens.push_back(p);
    types.push_back(1);
    scores.push_back(score--);
  }
  Metadata md;
  md.Set("tokenizer.ggml.model", Value::Str("llama"));
  md.Set("tokenizer.ggml.tokens", Value::StrArray(tokens));
  md.Set("tokenizer.ggml.token_type", Value::I32Array(types));
  md.Set("tokenizer.ggml.scores", Value::F32Array(scores));
  md.Set("tokenizer.ggml.bos_token_id", Value::U32(1));
  md.Set("tokenizer.ggml.eos_token_id", Value::U32(2));
  auto t = shoal::model::Tokenizer::FromMetadata(md);
  Check(t.ok(), "spm vocabulary rejected");
  return std::move(t).value();
}

struct Kind {
  std::unique_ptr<shoal::model::Tokenizer> tok;
  bool exact;  // Decode(Encode(x)) == x expected
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::vector<Kind>* kinds = [] {
    auto* k = new std::vector<Kind>();
    for (const char* pre : {"default", "llama-bpe", "deepseek-v3", "gpt-4o", "kimi-k2"}) {
      k->push_back({Bpe(pre), true});
    }
    k->push_back({Bpe("qwen2"), false});  // NFC
    k->push_back({Spm(), true});
    return k;
  }();
  if (size == 0) return 0;
  const Kind& kind = (*kinds)[data[0] % kinds->size()];
  const bool parse_special = (data[0] & 0x80) != 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  const shoal::model::Tokenizer& t = *kind.tok;

  const std::vector<int32_t> ids = t.Encode(text, /*add_special=*/true, parse_special);
  for (int32_t id : ids) Check(id >= 0 && id < t.n_vocab(), "id out of range");
  const std::vector<int32_t> plain = t.Encode(text, false, false);
  const std::string decoded = t.Decode(plain);
  // SentencePiece maps a literal U+2581 to a space; byte-level BPE keeps every byte.
  if (kind.exact && (!t.add_space_prefix() || text.find("\xE2\x96\x81") == std::string::npos)) {
    Check(decoded == text, "Decode(Encode(x)) != x");
  }
  shoal::model::DecodeStream stream(t, /*special=*/true);
  std::string streamed;
  for (int32_t id : ids) streamed += stream.Push(id);
  streamed += stream.Flush();
  Check(streamed == t.Decode(ids, /*special=*/true), "DecodeStream differs from Decode");

  if (unicode::IsValidUtf8(text)) {
    const std::string nfc = unicode::NormalizeNfc(text);
    Check(unicode::IsValidUtf8(nfc), "NFC made invalid UTF-8");
    Check(unicode::NormalizeNfc(nfc) == nfc, "NFC not idempotent");
  }
  return 0;
}
