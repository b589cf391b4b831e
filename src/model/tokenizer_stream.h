// Streaming detokenization: token ids in, text out as whole UTF-8 characters. A character whose
// bytes span several tokens (byte-fallback tokens, byte-level BPE pieces) is held back until it
// is complete, so a client never receives half a character.
#pragma once

#include <cstdint>
#include <string>

#include "model/tokenizer.h"

namespace shoal::model {

class DecodeStream {
 public:
  // `tokenizer` must outlive the stream. `special`: control tokens give their text.
  explicit DecodeStream(const Tokenizer& tokenizer, bool special = false)
      : tok_(tokenizer), special_(special) {}

  // The text that became complete with this token (may be empty). The concatenation of all
  // Push results and the final Flush equals Tokenizer::Decode of the same ids.
  std::string Push(int32_t id);
  // Whatever is held back (an incomplete or invalid UTF-8 tail), at the end of the stream.
  std::string Flush();

 private:
  const Tokenizer& tok_;
  bool special_;
  bool at_start_ = true;
  std::string pending_;  // at most 3 bytes: the start of an unfinished character
};

}  // namespace shoal::model
