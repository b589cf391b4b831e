// Unicode tables for NFC (generated into unicode_nfc_data.cc by
// tests/tokenizer/gen_unicode_nfc.py). Both tables are sorted by code point.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shoal::model::unicode {

struct CanonicalDecomposition {
  uint32_t cp;
  uint32_t first;
  uint32_t second;   // 0 for a singleton decomposition
  uint8_t composes;  // 1: a primary composite, NFC puts first+second back into cp
};
extern const CanonicalDecomposition kCanonicalDecompositions[];
extern const size_t kNumCanonicalDecompositions;

struct CombiningClass {
  uint32_t cp;
  uint8_t ccc;  // nonzero
};
extern const CombiningClass kCombiningClasses[];
extern const size_t kNumCombiningClasses;

}  // namespace shoal::model::unicode
