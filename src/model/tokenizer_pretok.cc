#include "model/tokenizer_pretok.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace shoal::model {
namespace {

// The patterns below are the "Split" pre-tokenizer regexes of each model's HF tokenizer.json.
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kDeepseekV3Digits = R"(\p{N}{1,3})";
// CJK ideographs U+4E00-U+9FA5, hiragana U+3040-U+309F, katakana U+30A0-U+30FF.
constexpr const char* kDeepseekV3Cjk = R"([\x{4e00}-\x{9fa5}\x{3040}-\x{309f}\x{30a0}-\x{30ff}]+)";
constexpr const char* kDeepseekV3Main =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// GPT-4o (o200k) and gpt-oss: cased words with an optional contraction, 1-3 digits.
constexpr const char* kGpt4o =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Kimi K2 (its tokenization_kimi.py pattern): Han runs first, then GPT-4o-like words over
// letters that are not Han. The original writes "[classes&&[^\p{Han}]]" (class intersection,
// which PCRE2 10.42 lacks); "(?:(?!\p{Han})[classes])" is the same set.
constexpr const char* kKimiK2 =
    R"([\p{Han}]+|[^\r\n\p{L}\p{N}]?(?:(?!\p{Han})[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])*(?:(?!\p{Han})[\p{Ll}\p{Lm}\p{Lo}\p{M}])+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?(?:(?!\p{Han})[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])+(?:(?!\p{Han})[\p{Ll}\p{Lm}\p{Lo}\p{M}])*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::~PreTokenizer() = default;

StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromPatterns(
    const std::vector<std::string>& patterns) {
  std::unique_ptr<PreTokenizer> p(new PreTokenizer());
  for (const std::string& pat : patterns) {
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    auto re = std::make_unique<Regex>();
    re->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat.data()), pat.size(),
                             PCRE2_UTF | PCRE2_UCP, &err, &err_offset, nullptr);
    if (re->code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return InvalidArgument("pre-tokenizer regex at offset " + std::to_string(err_offset) + ": " +
                             reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on error
    p->steps_.push_back(std::move(re));
  }
  return p;
}

StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::ForName(std::string_view name) {
  std::vector<std::string> pats;
  bool ignore_merges = false;
  bool nfc = false;
  if (name.empty() || name == "default" || name == "gpt2" || name == "gpt-2") {
    pats = {kGpt2};
  } else if (name == "llama-bpe" || name == "llama3") {
    pats = {kLlama3};
    ignore_merges = true;
  } else if (name == "qwen2") {
    pats = {kQwen2};
    nfc = true;
  } else if (name == "gpt-4o") {
    pats = {kGpt4o};
    ignore_merges = true;  // tiktoken semantics: a piece that is a token is taken whole
  } else if (name == "kimi-k2") {
    pats = {kKimiK2};
    ignore_merges = true;  // tiktoken semantics
  } else if (name == "deepseek-v3") {
    pats = {kDeepseekV3Digits, kDeepseekV3Cjk, kDeepseekV3Main};
  } else {
    return Unimplemented(
        "unknown pre-tokenizer tokenizer.ggml.pre = '" + std::string(name) +
        "' (known: default, gpt-2, llama-bpe, qwen2, deepseek-v3, gpt-4o, kimi-k2)");
  }
  SHOAL_ASSIGN_OR_RETURN(auto p, FromPatterns(pats));
  p->ignore_merges_ = ignore_merges;
  p->nfc_ = nfc;
  return p;
}

namespace {

// Per-call PCRE2 state: match data, and a JIT stack deep enough for long runs of one class
// (e.g. 100k spaces under \s+(?!\S) overflow the default 32 KiB; this one grows to 64 MiB).
struct MatchState {
  MatchState() {
    md = pcre2_match_data_create(1, nullptr);
    mctx = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr);
    if (mctx != nullptr && stack != nullptr) pcre2_jit_stack_assign(mctx, nullptr, stack);
  }
  ~MatchState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(mctx);
    pcre2_match_data_free(md);
  }
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mctx = nullptr;
  pcre2_jit_stack* stack = nullptr;
};

}  // namespace

void PreTokenizer::SplitOne(const Regex& re, void* state, std::string_view text,
                            std::vector<std::string_view>* pieces) const {
  auto* st = static_cast<MatchState*>(state);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  size_t gap_start = 0;
  while (pos < text.size()) {
    const int rc =
        pcre2_match(re.code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, st->md, st->mctx);
    if (rc < 0) break;  // no more matches (or a resource error: the rest stays one piece)
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st->md);
    const size_t b = ov[0], e = ov[1];
    if (e == b) {  // empty match: step one character on
      pos = b + 1;
      while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80) ++pos;
      continue;
    }
    if (b > gap_start) pieces->push_back(text.substr(gap_start, b - gap_start));
    pieces->push_back(text.substr(b, e - b));
    pos = gap_start = e;
  }
  if (gap_start < text.size()) pieces->push_back(text.substr(gap_start));
}

void PreTokenizer::Split(std::string_view text, std::vector<std::string_view>* pieces) const {
  if (text.empty()) return;
  thread_local MatchState state;  // reused: creating a JIT stack costs a syscall
  std::vector<std::string_view> cur{text};
  std::vector<std::string_view> next;
  for (const auto& re : steps_) {
    next.clear();
    for (std::string_view piece : cur) SplitOne(*re, &state, piece, &next);
    cur.swap(next);
  }
  pieces->insert(pieces->end(), cur.begin(), cur.end());
}

}  // namespace shoal::model
