#include "model/tokenizer_stream.h"

namespace shoal::model {
namespace {

// How many bytes at the end of `s` are the beginning of a UTF-8 character that needs more bytes.
size_t IncompleteTail(const std::string& s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto b = static_cast<uint8_t>(s[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    size_t need = 0;
    if ((b & 0xE0) == 0xC0) {
      need = 2;
    } else if ((b & 0xF0) == 0xE0) {
      need = 3;
    } else if ((b & 0xF8) == 0xF0) {
      need = 4;
    }
    return need > back ? back : 0;  // a lead byte still missing bytes, or complete/ASCII
  }
  return 0;  // only continuation bytes: invalid, nothing to wait for
}

}  // namespace

std::string DecodeStream::Push(int32_t id) {
  std::string piece = tok_.TokenToPiece(id, special_);
  if (piece.empty()) return {};
  if (at_start_ && tok_.add_space_prefix() && piece[0] == ' ') piece.erase(0, 1);
  at_start_ = false;
  pending_ += piece;
  const size_t hold = IncompleteTail(pending_);
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string DecodeStream::Flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace shoal::model
