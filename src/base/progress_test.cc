#include "base/progress.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace shoal {
namespace {

TEST(FormatProgress, CountsWithBarAndTimeLeft) {
  // 3 of 8 after 30 s: 5 left at 10 s each.
  EXPECT_EQ(FormatProgress("bench", 3, 8, "runs", 30.0, 8),
            "bench [===>    ]  37%  3/8 runs  50s left");
  EXPECT_EQ(FormatProgress("bench", 0, 8, "runs", 0.0, 4), "bench [>   ]   0%  0/8 runs");
  EXPECT_EQ(FormatProgress("bench", 8, 8, "runs", 125.0, 4), "bench [====] 100%  8/8 runs  2m05s");
  EXPECT_EQ(FormatProgress("x", 9, 8, "", 1.0, 0), "x 100%  8/8  1s");  // done capped at total
}

TEST(FormatProgress, BytesWithRate) {
  const uint64_t MiB = 1 << 20;
  EXPECT_EQ(FormatProgress("ship", 256 * MiB, 1024 * MiB, "B", 2.0, 0),
            "ship  25%  256.0 MiB of 1.0 GiB  128.0 MiB/s  6s left");
  EXPECT_EQ(FormatProgress("ship", 0, 0, "B", 0.0, 0), "ship 100%  0 B of 0 B  0s");
  EXPECT_EQ(FormatProgress("ship", 2 * 3600 * MiB, 4 * 3600 * MiB, "B", 3600.0, 0),
            "ship  50%  7.0 GiB of 14.1 GiB  2.0 MiB/s  1h00m left");
}

// What a Progress writes, through a temporary file.
std::string Written(bool tty) {
  FILE* f = std::tmpfile();
  {
    Progress p("gen", 4, "tensors", f, tty, /*line_interval_s=*/1000.0);
    for (int i = 1; i <= 4; ++i) p.Update(uint64_t(i));
  }
  std::rewind(f);
  std::string s;
  char buf[256];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

TEST(Progress, PlainLinesWhenNotATerminal) {
  const std::string s = Written(false);
  // The first line, then (the interval being long) only the last: no control characters.
  EXPECT_EQ(s.find('\r'), std::string::npos);
  EXPECT_EQ(s.find('\x1b'), std::string::npos);
  ASSERT_EQ(std::count(s.begin(), s.end(), '\n'), 2) << s;
  EXPECT_EQ(s.rfind("gen   0%  0/4 tensors\n", 0), 0u) << s;
  EXPECT_NE(s.find("gen 100%  4/4 tensors"), std::string::npos) << s;
}

TEST(Progress, RedrawsInPlaceOnATerminal) {
  const std::string s = Written(true);
  EXPECT_EQ(s.rfind("\rgen [>", 0), 0u) << s;
  ASSERT_EQ(std::count(s.begin(), s.end(), '\n'), 1) << s;  // only after the last draw
  EXPECT_EQ(s.back(), '\n');
  EXPECT_NE(s.find("[==============================] 100%  4/4 tensors"), std::string::npos) << s;
}

}  // namespace
}  // namespace shoal
