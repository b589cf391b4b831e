#include "model/tokenizer.h"

#include "model/tokenizer_bpe.h"
#include "model/tokenizer_spm.h"
#include "model/tokenizer_vocab.h"

namespace shoal::model {

bool DefaultAddBos(std::string_view model, std::string_view pre) {
  if (model == "llama") return true;  // SentencePiece
  if (model != "gpt2") return false;
  // The BPE pre-tokenizers whose models start every text with BOS (llama.cpp's defaults, for
  // files converted without tokenizer.ggml.add_bos_token).
  static constexpr std::string_view kWithBos[] = {
      "llama3",   "llama-v3", "llama-bpe",    "falcon3", "falcon-h1", "pixtral",
      "midm-2.0", "lfm2",     "jina-v5-nano", "tekken",  "chameleon"};
  for (std::string_view p : kWithBos) {
    if (pre == p) return true;
  }
  return false;
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromMetadata(const gguf::Metadata& md) {
  if (!md.Has("tokenizer.ggml.model")) {
    return NotFound("tokenizer.ggml.model: missing (the file has no tokenizer)");
  }
  SHOAL_ASSIGN_OR_RETURN(std::string model, md.GetString("tokenizer.ggml.model"));
  if (model == "gpt2") {
    const std::string pre = md.GetStringOr("tokenizer.ggml.pre", "");
    SHOAL_ASSIGN_OR_RETURN(Vocab v, LoadVocab(md, DefaultAddBos(model, pre),
                                              /*default_add_space_prefix=*/false));
    return BpeTokenizer::Create(md, std::move(v));
  }
  if (model == "llama") {
    SHOAL_ASSIGN_OR_RETURN(Vocab v, LoadVocab(md, DefaultAddBos(model, ""),
                                              /*default_add_space_prefix=*/true));
    return SpmTokenizer::Create(md, std::move(v));
  }
  return Unimplemented("tokenizer.ggml.model = '" + model +
                       "' is not supported (supported: gpt2, llama)");
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool special) const {
  std::string out;
  bool at_start = true;
  for (int32_t id : ids) {
    std::string piece = TokenToPiece(id, special);
    if (piece.empty()) continue;
    if (at_start && add_space_prefix() && piece[0] == ' ') piece.erase(0, 1);
    at_start = false;
    out += piece;
  }
  return out;
}

}  // namespace shoal::model
