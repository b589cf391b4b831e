// SentencePiece-style BPE (tokenizer.ggml.model = "llama": Llama 2, Mistral): spaces become
// U+2581 ('▁'), a '▁' is put before the text (add_space_prefix), then adjacent symbols merge
// highest token score first (leftmost on ties); characters left without a token fall back to
// their byte tokens <0xXX>.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "model/tokenizer_vocab.h"

namespace shoal::model {

class SpmTokenizer final : public TokenizerBase {
 public:
  static StatusOr<std::unique_ptr<Tokenizer>> Create(const gguf::Metadata& md, Vocab vocab);
  std::string TokenToPiece(int32_t id, bool special = false) const override;
  bool add_space_prefix() const override { return vocab_.add_space_prefix; }

 protected:
  void EncodeText(std::string_view text, bool first, std::vector<int32_t>* out) const override;

 private:
  explicit SpmTokenizer(Vocab vocab) : TokenizerBase(std::move(vocab)) {}
  void EmitBytes(std::string_view bytes, std::vector<int32_t>* out) const;

  std::array<int32_t, 256> byte_token_{};  // <0xXX> token of each byte, or -1
  std::vector<std::string> piece_;         // [n_vocab] text of normal/byte/user tokens
};

}  // namespace shoal::model
