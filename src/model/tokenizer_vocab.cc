#include "model/tokenizer_vocab.h"

#include <algorithm>

namespace shoal::model {
namespace {

// Control tokens that end a turn in common chat formats; counted as end of generation besides
// the eos/eot/eom ids the file names.
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>",    "<|eom_id|>",      "<|im_end|>",
    "<|endoftext|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>",
    "<|EOT|>",       "<end_of_turn>",   "<|end|>",
    "</s>",
};

Status ReadOptionalId(const gguf::Metadata& md, std::string_view key, int32_t n_vocab,
                      int32_t* id) {
  if (!md.Has(key)) return Status::Ok();
  SHOAL_ASSIGN_OR_RETURN(int64_t v, md.GetInt(key));
  if (v < 0 || v >= n_vocab) {
    // Files in the wild carry ids past the table (e.g. a pad id of the untrimmed model);
    // treat them as absent rather than rejecting the model.
    *id = -1;
    return Status::Ok();
  }
  *id = static_cast<int32_t>(v);
  return Status::Ok();
}

}  // namespace

StatusOr<Vocab> LoadVocab(const gguf::Metadata& md, bool default_add_bos,
                          bool default_add_space_prefix) {
  Vocab v;
  SHOAL_ASSIGN_OR_RETURN(v.text, md.GetStringArray("tokenizer.ggml.tokens"));
  if (v.text.empty()) return InvalidArgument("tokenizer.ggml.tokens is empty");
  if (v.text.size() > static_cast<size_t>(INT32_MAX)) {
    return InvalidArgument("tokenizer.ggml.tokens: too many tokens");
  }
  const int32_t n = v.n();
  v.type.assign(n, TokenType::kNormal);
  if (md.Has("tokenizer.ggml.token_type")) {
    SHOAL_ASSIGN_OR_RETURN(std::vector<int64_t> types, md.GetIntArray("tokenizer.ggml.token_type"));
    if (types.size() != v.text.size()) {
      return InvalidArgument("tokenizer.ggml.token_type has " + std::to_string(types.size()) +
                             " entries, tokenizer.ggml.tokens " + std::to_string(n));
    }
    for (int32_t i = 0; i < n; ++i) {
      const int64_t t = types[i];
      v.type[i] = (t >= 0 && t <= 6) ? static_cast<TokenType>(t) : TokenType::kNormal;
    }
  }
  v.score.assign(n, 0.0f);
  if (md.Has("tokenizer.ggml.scores")) {
    SHOAL_ASSIGN_OR_RETURN(v.score, md.GetFloatArray("tokenizer.ggml.scores"));
    if (v.score.size() != v.text.size()) {
      return InvalidArgument("tokenizer.ggml.scores has " + std::to_string(v.score.size()) +
                             " entries, tokenizer.ggml.tokens " + std::to_string(n));
    }
  }
  v.id_of.reserve(v.text.size());
  for (int32_t i = 0; i < n; ++i) v.id_of.emplace(v.text[i], i);  // first id wins on duplicates

  SHOAL_RETURN_IF_ERROR(ReadOptionalId(md, "tokenizer.ggml.bos_token_id", n, &v.bos));
  SHOAL_RETURN_IF_ERROR(ReadOptionalId(md, "tokenizer.ggml.eos_token_id", n, &v.eos));
  SHOAL_RETURN_IF_ERROR(ReadOptionalId(md, "tokenizer.ggml.eot_token_id", n, &v.eot));
  SHOAL_RETURN_IF_ERROR(ReadOptionalId(md, "tokenizer.ggml.eom_token_id", n, &v.eom));
  SHOAL_RETURN_IF_ERROR(ReadOptionalId(md, "tokenizer.ggml.unknown_token_id", n, &v.unk));
  SHOAL_RETURN_IF_ERROR(ReadOptionalId(md, "tokenizer.ggml.padding_token_id", n, &v.pad));
  v.add_bos = md.GetBoolOr("tokenizer.ggml.add_bos_token", default_add_bos);
  v.add_eos = md.GetBoolOr("tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = md.GetBoolOr("tokenizer.ggml.add_space_prefix", default_add_space_prefix);
  if (v.add_bos && v.bos < 0) v.add_bos = false;
  if (v.add_eos && v.eos < 0) v.add_eos = false;

  for (int32_t id : {v.eos, v.eot, v.eom}) {
    if (id >= 0) v.eog.push_back(id);
  }
  for (std::string_view t : kEogTexts) {
    const int32_t id = v.Find(t);
    if (id >= 0 && v.type[id] == TokenType::kControl) v.eog.push_back(id);
  }
  std::sort(v.eog.begin(), v.eog.end());
  v.eog.erase(std::unique(v.eog.begin(), v.eog.end()), v.eog.end());
  return v;
}

SpecialSplitter::SpecialSplitter(const Vocab& vocab) : by_first_byte_(256) {
  for (int32_t id = 0; id < vocab.n(); ++id) {
    const TokenType t = vocab.type[id];
    const bool user = t == TokenType::kUserDefined;
    if (!user && t != TokenType::kControl && t != TokenType::kUnknown) continue;
    const std::string& text = vocab.text[id];
    if (text.empty()) continue;
    by_first_byte_[static_cast<uint8_t>(text[0])].push_back({text, id, user});
  }
  for (auto& list : by_first_byte_) {
    std::stable_sort(list.begin(), list.end(),
                     [](const Entry& a, const Entry& b) { return a.text.size() > b.text.size(); });
  }
}

std::vector<Fragment> SpecialSplitter::Split(std::string_view text, bool parse_special) const {
  std::vector<Fragment> out;
  size_t start = 0;  // start of the pending raw text
  size_t i = 0;
  while (i < text.size()) {
    const Entry* hit = nullptr;
    for (const Entry& e : by_first_byte_[static_cast<uint8_t>(text[i])]) {
      if (!e.always && !parse_special) continue;
      if (text.compare(i, e.text.size(), e.text) == 0) {
        hit = &e;
        break;
      }
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    if (i > start) out.push_back({-1, text.substr(start, i - start)});
    out.push_back({hit->id, {}});
    i += hit->text.size();
    start = i;
  }
  if (start < text.size()) out.push_back({-1, text.substr(start)});
  return out;
}

std::vector<int32_t> TokenizerBase::Encode(std::string_view text, bool add_special,
                                           bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && vocab_.add_bos) out.push_back(vocab_.bos);
  bool first = true;
  for (const Fragment& f : splitter_.Split(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      first = true;
    } else {
      EncodeText(f.text, first, &out);
      first = false;
    }
  }
  if (add_special && vocab_.add_eos) out.push_back(vocab_.eos);
  return out;
}

bool TokenizerBase::IsEog(int32_t id) const {
  return std::binary_search(vocab_.eog.begin(), vocab_.eog.end(), id);
}

}  // namespace shoal::model
