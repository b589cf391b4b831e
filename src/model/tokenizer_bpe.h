// Byte-level BPE (tokenizer.ggml.model = "gpt2"): text -> regex pre-tokenizer pieces -> bytes in
// the GPT-2 alphabet -> merges applied lowest rank first (leftmost on ties), as HF tokenizers do.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/gguf.h"
#include "model/tokenizer_pretok.h"
#include "model/tokenizer_vocab.h"

namespace shoal::model {

class BpeTokenizer final : public TokenizerBase {
 public:
  static StatusOr<std::unique_ptr<Tokenizer>> Create(const gguf::Metadata& md, Vocab vocab);
  std::string TokenToPiece(int32_t id, bool special = false) const override;

 protected:
  void EncodeText(std::string_view text, bool first, std::vector<int32_t>* out) const override;

 private:
  struct Merge {
    int32_t rank;
    int32_t result;  // token id of the merged pair
  };
  explicit BpeTokenizer(Vocab vocab) : TokenizerBase(std::move(vocab)) {}
  // One pre-tokenizer piece (raw bytes, valid UTF-8) to tokens.
  void EncodePiece(std::string_view bytes, std::vector<int32_t>* out) const;
  void EmitByte(uint8_t b, std::vector<int32_t>* out) const;
  const Merge* FindMerge(int32_t left, int32_t right) const;

  std::unique_ptr<PreTokenizer> pre_;
  std::unordered_map<uint64_t, Merge> merges_;  // key: left id << 32 | right id
  std::array<int32_t, 256> byte_token_{};       // token of each byte's alphabet character, or -1
  std::vector<std::string> piece_;              // [n_vocab] bytes of each normal token
};

}  // namespace shoal::model
