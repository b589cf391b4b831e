#include "server/stop_filter.h"

#include <gtest/gtest.h>

#include <random>

namespace shoal::server {
namespace {

// The reference: the whole text cut at the earliest occurrence of any stop string.
std::string Reference(const std::string& text, const std::vector<std::string>& stops, bool* hit) {
  size_t first = std::string::npos;
  for (const std::string& s : stops) first = std::min(first, text.find(s));
  *hit = first != std::string::npos;
  return text.substr(0, first == std::string::npos ? text.size() : first);
}

TEST(StopFilter, SplitAcrossPiecesNeverLeaks) {
  StopFilter f({"</end>"});
  std::string out;
  for (const char* piece : {"hello </", "en", "d> world"}) {
    const std::string got = f.Push(piece);
    EXPECT_EQ(got.find('<'), std::string::npos) << "a prefix of the stop string was released";
    out += got;
  }
  out += f.Finish();
  EXPECT_EQ(out, "hello ");
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(f.matched(), "</end>");
}

TEST(StopFilter, PartialMatchThatFailsIsReleased) {
  StopFilter f({"abc"});
  EXPECT_EQ(f.Push("xab"), "x");
  EXPECT_EQ(f.Push("d"), "abd");
  EXPECT_EQ(f.Push("ab"), "");
  EXPECT_EQ(f.Finish(), "ab");
  EXPECT_FALSE(f.stopped());
}

TEST(StopFilter, EarliestOfSeveral) {
  StopFilter f({"world", "lo w"});
  EXPECT_EQ(f.Push("hello world"), "hel");
  EXPECT_EQ(f.matched(), "lo w");
}

TEST(StopFilter, NoStopsPassesThrough) {
  StopFilter f({});
  EXPECT_EQ(f.Push("abc"), "abc");
  EXPECT_EQ(f.Finish(), "");
}

// Random texts over a small alphabet (so stop strings occur and nearly occur), random splits:
// the concatenated output always equals the reference, and nothing after a stop is released.
TEST(StopFilter, RandomSplitsMatchTheReference) {
  std::mt19937 rng(12345);
  const std::string alphabet = "ab<>/";
  auto word = [&](int lo, int hi) {
    std::string s;
    const int n = std::uniform_int_distribution<int>(lo, hi)(rng);
    for (int i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
    return s;
  };
  for (int iter = 0; iter < 5000; ++iter) {
    std::vector<std::string> stops;
    const int n_stop = int(rng() % 3);
    for (int i = 0; i < n_stop; ++i) stops.push_back(word(1, 4));
    const std::string text = word(0, 40);
    bool hit = false;
    const std::string want = Reference(text, stops, &hit);
    StopFilter f(stops);
    std::string got;
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t n = 1 + rng() % 4;
      got += f.Push(text.substr(pos, n));
      pos += n;
      ASSERT_LE(got.size(), want.size()) << "released text past a stop string";
      ASSERT_EQ(got, want.substr(0, got.size()));
    }
    got += f.Finish();
    ASSERT_EQ(got, want) << "text '" << text << "'";
    ASSERT_EQ(f.stopped(), hit);
  }
}

}  // namespace
}  // namespace shoal::server
