// UTF-8 helpers and the GPT-2 byte-level alphabet used by byte-level BPE tokenizers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shoal::model::unicode {

// Decodes the code point starting at s[pos]. Returns the number of bytes it takes (1-4), or 0
// when the bytes there are not valid UTF-8 (truncated, overlong, surrogate, > U+10FFFF).
int DecodeUtf8(std::string_view s, size_t pos, uint32_t* cp);
void AppendUtf8(uint32_t cp, std::string* out);
bool IsValidUtf8(std::string_view s);

// A stretch of a byte string: either a maximal run of valid UTF-8 or one invalid byte.
struct Utf8Run {
  size_t begin = 0;
  size_t bytes = 0;
  bool valid = true;
};
std::vector<Utf8Run> SplitUtf8Runs(std::string_view s);

// GPT-2 byte-level alphabet: every byte maps to one printable code point (printable Latin-1
// bytes to themselves, the rest to U+0100 upwards in byte order), so any byte string becomes
// a string of visible characters (space -> U+0120 'Ġ', '\n' -> U+010A 'Ċ').
uint32_t ByteToUnicode(uint8_t b);
int UnicodeToByte(uint32_t cp);  // the byte, or -1 when cp is not in the alphabet
std::string BytesToByteLevel(std::string_view bytes);
// Maps each character back to its byte. Fails (returns false) on a character outside the
// alphabet or invalid UTF-8; `out` then holds what was decoded so far.
bool ByteLevelToBytes(std::string_view text, std::string* out);

// Unicode Normalization Form C of valid UTF-8 (canonical decomposition, canonical ordering,
// canonical composition). Text with no code point at or above U+0300 is returned unchanged
// without any table lookup.
std::string NormalizeNfc(std::string_view valid_utf8);

}  // namespace shoal::model::unicode
