// Tokenizers read from GGUF metadata (tokenizer.ggml.*): byte-level BPE (model "gpt2", with the
// pre-tokenizer named by tokenizer.ggml.pre) and SentencePiece-style (model "llama").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "format/gguf.h"

namespace shoal::model {

// Whether BOS is added when a GGUF has no tokenizer.ggml.add_bos_token, by tokenizer model
// ("gpt2", "llama") and pre-tokenizer (tokenizer.ggml.pre), as llama.cpp decides it:
// SentencePiece models and the Llama-3 family of BPE pre-tokenizers (llama-bpe, llama3, ...,
// tekken, chameleon) add it; other BPE vocabularies (qwen2, deepseek-v3, gpt-4o, ...) do not.
bool DefaultAddBos(std::string_view model, std::string_view pre);

class Tokenizer {
 public:
  static StatusOr<std::unique_ptr<Tokenizer>> FromMetadata(const gguf::Metadata& md);
  virtual ~Tokenizer() = default;

  // add_special: add BOS/EOS as the metadata says (tokenizer.ggml.add_bos_token / add_eos_token).
  // parse_special: text such as "<|eot_id|>" becomes its control token instead of plain text.
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;
  // The bytes of one token as it appears in text (byte tokens become their byte; may be a partial
  // UTF-8 sequence). Control tokens give their text only when `special` is set.
  virtual std::string TokenToPiece(int32_t id, bool special = false) const = 0;
  std::string Decode(const std::vector<int32_t>& ids, bool special = false) const;

  virtual int32_t n_vocab() const = 0;
  virtual int32_t bos() const = 0;  // -1 when none
  virtual int32_t eos() const = 0;
  virtual bool IsEog(int32_t id) const = 0;  // end of generation: eos, eot, eom ...
  virtual bool add_bos() const = 0;
  // SentencePiece-style models put a space before the text; Decode drops that one space again.
  virtual bool add_space_prefix() const { return false; }
};

}  // namespace shoal::model
