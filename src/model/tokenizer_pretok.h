// Pre-tokenizers of byte-level BPE models: the regex splits named by tokenizer.ggml.pre, run
// with PCRE2 (UTF + UCP, JIT when available). Each step splits every piece from the step before
// into its matches and the gaps between them ("Isolated" splitting, as HF tokenizers does).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace shoal::model {

class PreTokenizer {
 public:
  // Known names: "default", "gpt2"/"gpt-2", "llama-bpe"/"llama3", "qwen2", "deepseek-v3",
  // "gpt-4o", "kimi-k2".
  static StatusOr<std::unique_ptr<PreTokenizer>> ForName(std::string_view name);
  // Builds one from explicit patterns, applied in order.
  static StatusOr<std::unique_ptr<PreTokenizer>> FromPatterns(
      const std::vector<std::string>& patterns);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // `text` must be valid UTF-8. Appends the pieces (views into text, none empty, covering it).
  void Split(std::string_view text, std::vector<std::string_view>* pieces) const;

  // Whether a whole piece that is itself a token is taken as is, before any merge (Llama 3).
  bool ignore_merges() const { return ignore_merges_; }
  // Whether text is put in Unicode NFC before splitting (Qwen's tokenizer.json normalizer).
  bool nfc() const { return nfc_; }

 private:
  struct Regex;
  PreTokenizer() = default;
  void SplitOne(const Regex& re, void* state, std::string_view text,
                std::vector<std::string_view>* pieces) const;

  std::vector<std::unique_ptr<Regex>> steps_;
  bool ignore_merges_ = false;
  bool nfc_ = false;
};

}  // namespace shoal::model
