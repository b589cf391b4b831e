#include "model/tokenizer.h"

#include "model/tokenizer_bpe.h"
#include "model/tokenizer_spm.h"
#include "model/tokenizer_vocab.h"

namespace shoal::model {

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromMetadata(const gguf::Metadata& md) {
  if (!md.Has("tokenizer.ggml.model")) {
    return NotFound("tokenizer.ggml.model: missing (the file has no tokenizer)");
  }
  SHOAL_ASSIGN_OR_RETURN(std::string model, md.GetString("tokenizer.ggml.model"));
  if (model == "gpt2") {
    SHOAL_ASSIGN_OR_RETURN(Vocab v, LoadVocab(md, /*default_add_bos=*/false,
                                              /*default_add_space_prefix=*/false));
    return BpeTokenizer::Create(md, std::move(v));
  }
  if (model == "llama") {
    SHOAL_ASSIGN_OR_RETURN(Vocab v, LoadVocab(md, /*default_add_bos=*/true,
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
