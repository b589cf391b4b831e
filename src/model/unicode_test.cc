#include "model/unicode.h"

#include <gtest/gtest.h>

#include <set>

namespace shoal::model::unicode {
namespace {

TEST(Unicode, DecodeValidSequences) {
  uint32_t cp = 0;
  EXPECT_EQ(DecodeUtf8("A", 0, &cp), 1);
  EXPECT_EQ(cp, 0x41u);
  EXPECT_EQ(DecodeUtf8("\xC3\xA9", 0, &cp), 2);  // é
  EXPECT_EQ(cp, 0xE9u);
  EXPECT_EQ(DecodeUtf8("\xE4\xB8\xAD", 0, &cp), 3);  // 中
  EXPECT_EQ(cp, 0x4E2Du);
  EXPECT_EQ(DecodeUtf8("\xF0\x9F\x98\x80", 0, &cp), 4);  // 😀
  EXPECT_EQ(cp, 0x1F600u);
}

TEST(Unicode, RejectsInvalidSequences) {
  uint32_t cp = 0;
  EXPECT_EQ(DecodeUtf8("\x80", 0, &cp), 0);              // lone continuation
  EXPECT_EQ(DecodeUtf8("\xC0\x80", 0, &cp), 0);          // overlong NUL
  EXPECT_EQ(DecodeUtf8("\xE0\x80\xAF", 0, &cp), 0);      // overlong '/'
  EXPECT_EQ(DecodeUtf8("\xED\xA0\x80", 0, &cp), 0);      // surrogate U+D800
  EXPECT_EQ(DecodeUtf8("\xF4\x90\x80\x80", 0, &cp), 0);  // > U+10FFFF
  EXPECT_EQ(DecodeUtf8("\xE2\x82", 0, &cp), 0);          // truncated
  EXPECT_EQ(DecodeUtf8("\xFF", 0, &cp), 0);
  EXPECT_EQ(DecodeUtf8("", 0, &cp), 0);
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("ab\xFF"));
}

TEST(Unicode, AppendUtf8RoundTrips) {
  for (uint32_t cp : {0x0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    std::string s;
    AppendUtf8(cp, &s);
    uint32_t back = 0;
    ASSERT_EQ(DecodeUtf8(s, 0, &back), static_cast<int>(s.size())) << cp;
    EXPECT_EQ(back, cp);
  }
}

TEST(Unicode, SplitRunsIsolatesInvalidBytes) {
  const std::string s = "ab\xFF\xC3\xA9\xE2\x82";
  const auto runs = SplitUtf8Runs(s);
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_TRUE(runs[0].valid);
  EXPECT_EQ(runs[0].bytes, 2u);
  EXPECT_FALSE(runs[1].valid);
  EXPECT_TRUE(runs[2].valid);  // é
  EXPECT_EQ(runs[2].bytes, 2u);
  EXPECT_FALSE(runs[3].valid);  // \xE2 (truncated sequence, byte by byte)
  EXPECT_FALSE(runs[4].valid);  // \x82
  size_t total = 0;
  for (const auto& r : runs) total += r.bytes;
  EXPECT_EQ(total, s.size());
}

// The GPT-2 alphabet, from its definition: printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF)
// keep their code point; the other 68 bytes get 256, 257, ... in byte order.
TEST(Unicode, ByteLevelAlphabet) {
  EXPECT_EQ(ByteToUnicode(' '), 0x120u);   // 'Ġ'
  EXPECT_EQ(ByteToUnicode('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(ByteToUnicode('\t'), 0x109u);
  EXPECT_EQ(ByteToUnicode(0), 0x100u);
  EXPECT_EQ(ByteToUnicode('A'), static_cast<uint32_t>('A'));
  EXPECT_EQ(ByteToUnicode(0x7F), 0x121u);  // after the 33 bytes 0..32
  EXPECT_EQ(ByteToUnicode(0xAD), 0x143u);  // the last non-printable
  EXPECT_EQ(ByteToUnicode(0xE9), 0xE9u);
  std::set<uint32_t> seen;
  for (int b = 0; b < 256; ++b) {
    const uint32_t cp = ByteToUnicode(static_cast<uint8_t>(b));
    EXPECT_TRUE(seen.insert(cp).second) << "duplicate for byte " << b;
    EXPECT_EQ(UnicodeToByte(cp), b);
  }
  EXPECT_EQ(UnicodeToByte(0x144), -1);
  EXPECT_EQ(UnicodeToByte(0x4E2D), -1);
  EXPECT_EQ(BytesToByteLevel("a b\n"),
            "a\xC4\xA0"
            "b\xC4\x8A");
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string back;
  ASSERT_TRUE(ByteLevelToBytes(BytesToByteLevel(all), &back));
  EXPECT_EQ(back, all);
  EXPECT_FALSE(ByteLevelToBytes("\xE4\xB8\xAD", &back));  // 中 is not in the alphabet
}

// Expected values from the Unicode standard's definition of NFC (checked against Python's
// unicodedata for every code point below U+30000 when the tables were generated).
TEST(Unicode, NormalizeNfc) {
  EXPECT_EQ(NormalizeNfc("plain ascii"), "plain ascii");
  EXPECT_EQ(NormalizeNfc("e\xCC\x81"), "\xC3\xA9");     // e + U+0301 -> é
  EXPECT_EQ(NormalizeNfc("A\xCC\x8A"), "\xC3\x85");     // A + ring -> Å
  EXPECT_EQ(NormalizeNfc("\xE2\x84\xAB"), "\xC3\x85");  // U+212B ANGSTROM SIGN -> Å
  EXPECT_EQ(NormalizeNfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"),
            "\xEA\xB0\x81");  // jamo G + A + G -> 각 (Hangul by formula)
  // q + dot above (230) + dot below (220): reordered, nothing composes with q.
  EXPECT_EQ(NormalizeNfc("q\xCC\x87\xCC\xA3"), "q\xCC\xA3\xCC\x87");
  // s + dot below + dot above -> U+1E69 (composes through both marks in order).
  EXPECT_EQ(NormalizeNfc("s\xCC\xA3\xCC\x87"), "\xE1\xB9\xA9");
  EXPECT_EQ(NormalizeNfc("\xCD\x84"), "\xCC\x88\xCC\x81");            // U+0344 -> U+0308 U+0301
  EXPECT_EQ(NormalizeNfc("\xC3\xA9t\xC3\xA9"), "\xC3\xA9t\xC3\xA9");  // already NFC
}

}  // namespace
}  // namespace shoal::model::unicode
