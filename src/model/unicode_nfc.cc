// NFC from the tables in unicode_nfc_data.cc; Hangul syllables by their formula.
#include <algorithm>
#include <unordered_map>
#include <vector>

#include "model/unicode.h"
#include "model/unicode_nfc_data.h"

namespace shoal::model::unicode {
namespace {

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount;
constexpr uint32_t kSCount = kLCount * kNCount;

struct Tables {
  std::unordered_map<uint32_t, std::pair<uint32_t, uint32_t>> decomp;
  std::unordered_map<uint64_t, uint32_t> compose;  // first << 32 | second -> composite
};

const Tables& Get() {
  static const Tables t = [] {
    Tables t;
    t.decomp.reserve(kNumCanonicalDecompositions);
    for (size_t i = 0; i < kNumCanonicalDecompositions; ++i) {
      const CanonicalDecomposition& d = kCanonicalDecompositions[i];
      t.decomp.emplace(d.cp, std::make_pair(d.first, d.second));
      if (d.composes) t.compose.emplace((uint64_t{d.first} << 32) | d.second, d.cp);
    }
    return t;
  }();
  return t;
}

uint8_t Ccc(uint32_t cp) {
  if (cp < 0x300) return 0;
  const CombiningClass* end = kCombiningClasses + kNumCombiningClasses;
  const CombiningClass* it = std::lower_bound(
      kCombiningClasses, end, cp, [](const CombiningClass& c, uint32_t x) { return c.cp < x; });
  return (it != end && it->cp == cp) ? it->ccc : 0;
}

void Decompose(const Tables& t, uint32_t cp, std::vector<uint32_t>* out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  auto it = t.decomp.find(cp);
  if (it == t.decomp.end()) {
    out->push_back(cp);
    return;
  }
  Decompose(t, it->second.first, out);
  if (it->second.second != 0) Decompose(t, it->second.second, out);
}

// The composite of a starter and the next character, or 0.
uint32_t Compose(const Tables& t, uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  auto it = t.compose.find((uint64_t{a} << 32) | b);
  return it == t.compose.end() ? 0 : it->second;
}

}  // namespace

std::string NormalizeNfc(std::string_view s) {
  std::vector<uint32_t> cps;
  cps.reserve(s.size());
  bool simple = true;
  uint32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const int n = DecodeUtf8(s, i, &cp);
    if (n == 0) return std::string(s);  // not valid UTF-8: left alone
    simple = simple && cp < 0x300;
    cps.push_back(cp);
    i += n;
  }
  if (simple) return std::string(s);

  const Tables& t = Get();
  std::vector<uint32_t> d;
  d.reserve(cps.size() + 8);
  for (uint32_t c : cps) Decompose(t, c, &d);
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (Ccc(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && Ccc(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j,
                     [](uint32_t a, uint32_t b) { return Ccc(a) < Ccc(b); });
    i = j;
  }
  // Canonical composition.
  std::vector<uint32_t> out;
  out.reserve(d.size());
  int64_t starter = -1;  // index in out of the last starter
  int last_ccc = -1;     // class of the last character kept after it; -1: none yet
  for (uint32_t c : d) {
    const int ccc = Ccc(c);
    if (starter >= 0 && (last_ccc == -1 || (last_ccc != 0 && last_ccc < ccc))) {
      const uint32_t comp = Compose(t, out[starter], c);
      if (comp != 0) {
        out[starter] = comp;
        continue;
      }
    }
    if (ccc == 0) {
      starter = static_cast<int64_t>(out.size());
      last_ccc = -1;
    } else {
      last_ccc = ccc;
    }
    out.push_back(c);
  }
  std::string r;
  r.reserve(s.size());
  for (uint32_t c : out) AppendUtf8(c, &r);
  return r;
}

}  // namespace shoal::model::unicode
