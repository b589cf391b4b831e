// The token table every tokenizer shares: texts, types, scores and special ids read from the
// GGUF tokenizer.ggml.* keys, the splitting of special/user-defined token text out of input, and
// TokenizerBase, which implements the parts of Tokenizer common to all models.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "format/gguf.h"
#include "model/tokenizer.h"

namespace shoal::model {

// tokenizer.ggml.token_type values (as sentencepiece numbers them).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Vocab {
  std::vector<std::string> text;  // [n_vocab]
  std::vector<TokenType> type;    // [n_vocab]
  std::vector<float> score;       // [n_vocab]; 0 when the file has no scores
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> id_of;

  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
  bool add_bos = false, add_eos = false, add_space_prefix = false;
  std::vector<int32_t> eog;  // sorted: eos, eot, eom and known end-of-turn control tokens

  int32_t n() const { return static_cast<int32_t>(text.size()); }
  int32_t Find(std::string_view s) const {
    auto it = id_of.find(s);
    return it == id_of.end() ? -1 : it->second;
  }
};

// Reads tokens, token_type, scores and the special ids/flags. `default_add_bos` applies when
// tokenizer.ggml.add_bos_token is absent.
StatusOr<Vocab> LoadVocab(const gguf::Metadata& md, bool default_add_bos,
                          bool default_add_space_prefix);

// A piece of input: either text to tokenize or a special token found in it.
struct Fragment {
  int32_t token = -1;     // >= 0: this special token
  std::string_view text;  // otherwise: this raw text
};

// Finds special-token text, leftmost first and longest at a position. User-defined tokens always
// split; control (and unknown) tokens only when parse_special.
class SpecialSplitter {
 public:
  explicit SpecialSplitter(const Vocab& vocab);
  std::vector<Fragment> Split(std::string_view text, bool parse_special) const;

 private:
  struct Entry {
    std::string_view text;
    int32_t id;
    bool always;  // user-defined
  };
  std::vector<std::vector<Entry>> by_first_byte_;  // [256], each longest first
};

// Common part of the GGUF tokenizers: special splitting, BOS/EOS, accessors.
class TokenizerBase : public Tokenizer {
 public:
  explicit TokenizerBase(Vocab vocab) : vocab_(std::move(vocab)), splitter_(vocab_) {}
  TokenizerBase(const TokenizerBase&) = delete;  // splitter_ points into vocab_
  TokenizerBase& operator=(const TokenizerBase&) = delete;

  std::vector<int32_t> Encode(std::string_view text, bool add_special,
                              bool parse_special) const override;
  int32_t n_vocab() const override { return vocab_.n(); }
  int32_t bos() const override { return vocab_.bos; }
  int32_t eos() const override { return vocab_.eos; }
  bool IsEog(int32_t id) const override;
  bool add_bos() const override { return vocab_.add_bos; }
  const Vocab& vocab() const { return vocab_; }

 protected:
  // Tokenizes one stretch of raw text (no special tokens in it) onto `out`. `first` is true for
  // the first stretch and for stretches right after a special token.
  virtual void EncodeText(std::string_view text, bool first, std::vector<int32_t>* out) const = 0;

  Vocab vocab_;
  SpecialSplitter splitter_;
};

}  // namespace shoal::model
