#include "base/progress_board.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace shoal {
namespace {

std::string ReadAll(FILE* f) {
  std::rewind(f);
  std::string s;
  char buf[256];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) s.append(buf, n);
  return s;
}

TEST(ProgressBoard, SumsItemsPerPhaseInTheOrderTheyStarted) {
  ProgressBoard b;
  EXPECT_EQ(b.Snapshot().current, -1);
  // Two nodes' shipping, then rank 0's mapping.
  b.Report("ship", "shipping weights", "B", 1, 0, 300);
  b.Report("ship", "shipping weights", "B", 2, 0, 500);
  b.Report("ship", "shipping weights", "B", 1, 120, 300);
  b.Report("ship", "shipping weights", "B", 2, 50, 500);
  ProgressSnapshot s = b.Snapshot();
  ASSERT_EQ(s.phases.size(), 1u);
  EXPECT_EQ(s.state, LoadState::kLoading);
  EXPECT_EQ(s.current, 0);
  const ProgressPhase& ship = s.phases[0];
  EXPECT_EQ(ship.unit, "B");
  EXPECT_TRUE(ship.per_node());
  ASSERT_EQ(ship.items.size(), 2u);
  EXPECT_EQ(ship.items[0].node, 1);
  EXPECT_EQ(ship.items[1].node, 2);
  EXPECT_EQ(ship.done(), 120u + 50u);
  EXPECT_EQ(ship.total(), 300u + 500u);
  EXPECT_FALSE(ship.finished());

  b.Report("ship", "shipping weights", "B", 1, 300, 300);
  b.Report("ship", "shipping weights", "B", 2, 500, 500);
  b.Report("map", "mapping weights", "B", -1, 10, 40);
  s = b.Snapshot();
  ASSERT_EQ(s.phases.size(), 2u);
  EXPECT_TRUE(s.phases[0].finished());
  EXPECT_TRUE(s.phases[0].items[0].finished);
  EXPECT_EQ(s.phases[1].name, "map");
  EXPECT_FALSE(s.phases[1].per_node());
  EXPECT_EQ(s.current, 1);
  b.Report("map", "mapping weights", "B", -1, 40, 40);
  s = b.Snapshot();
  EXPECT_TRUE(s.phases[1].finished());
  EXPECT_EQ(s.current, 1);  // all finished: the last
  b.SetReady();
  EXPECT_EQ(b.state(), LoadState::kReady);
  EXPECT_STREQ(LoadStateName(b.Snapshot().state), "ready");
}

TEST(ProgressBoard, DoneIsCappedAndARestartedItemRunsAgain) {
  ProgressBoard b;
  ProgressFn f = b.Reporter("warmup", "warming up", "steps");
  f(5, 2);  // more than the total: capped, finished
  ProgressSnapshot s = b.Snapshot();
  EXPECT_EQ(s.phases[0].items[0].done, 2u);
  EXPECT_TRUE(s.phases[0].items[0].finished);
  f(0, 3);  // again (a pool re-forming)
  s = b.Snapshot();
  ASSERT_EQ(s.phases[0].items.size(), 1u);
  EXPECT_EQ(s.phases[0].items[0].done, 0u);
  EXPECT_EQ(s.phases[0].items[0].total, 3u);
  EXPECT_FALSE(s.phases[0].finished());
  EXPECT_EQ(s.current, 0);
  // Nothing to do is done at once.
  b.Report("load", "loading", "nodes", 4, 0, 0);
  EXPECT_TRUE(b.Snapshot().phases[1].finished());
  b.SetFailed("node 4: out of memory");
  s = b.Snapshot();
  EXPECT_EQ(s.state, LoadState::kFailed);
  EXPECT_EQ(s.error, "node 4: out of memory");
}

TEST(ProgressBoard, ElapsedGrowsUntilFinished) {
  ProgressBoard b;
  b.Report("map", "mapping", "B", -1, 1, 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const double running = b.Snapshot().phases[0].items[0].elapsed_s;
  EXPECT_GE(running, 0.025);
  b.Report("map", "mapping", "B", -1, 10, 10);
  const double at_finish = b.Snapshot().phases[0].items[0].elapsed_s;
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(b.Snapshot().phases[0].items[0].elapsed_s, at_finish);  // frozen
}

TEST(ProgressBoard, ManyThreadsReportConsistently) {
  ProgressBoard b;
  std::vector<std::thread> ts;
  for (int node = 0; node < 4; ++node) {
    ts.emplace_back([&b, node] {
      for (uint64_t d = 0; d <= 1000; ++d) b.Report("ship", "shipping", "B", node, d, 1000);
    });
  }
  for (std::thread& t : ts) t.join();
  const ProgressSnapshot s = b.Snapshot();
  ASSERT_EQ(s.phases[0].items.size(), 4u);
  EXPECT_EQ(s.phases[0].done(), 4000u);
  EXPECT_TRUE(s.phases[0].finished());
}

TEST(ProgressBoard, TerminalRedrawsOneLineAndClearsItWhenReady) {
  FILE* f = std::tmpfile();
  {
    ProgressBoard b(f, /*tty=*/true, /*min_log_s=*/1000.0);  // every step quick
    for (uint64_t d = 0; d <= 4; ++d) b.Report("map", "mapping weights", "tensors", -1, d, 4);
    b.Report("ship", "shipping weights", "B", 2, 0, 1 << 20);
    b.SetReady();  // clears the line
  }
  const std::string s = ReadAll(f);
  std::fclose(f);
  EXPECT_EQ(s.rfind("\rshoal: mapping weights [>", 0), 0u) << s;
  EXPECT_NE(s.find("\rshoal: mapping weights [==============================] 100%  4/4 tensors"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("\rshoal: shipping weights, node 2 [>"), std::string::npos) << s;
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 0) << s;  // one line throughout
  EXPECT_EQ(s.substr(s.size() - 4), "\r\x1b[K") << s;
}

TEST(ProgressBoard, TerminalKeepsTheLineOfALongStep) {
  FILE* f = std::tmpfile();
  {
    ProgressBoard b(f, /*tty=*/true, /*min_log_s=*/0.0);  // every step "long"
    b.Report("map", "mapping weights", "tensors", -1, 0, 2);
    b.Report("map", "mapping weights", "tensors", -1, 2, 2);
    b.Report("warmup", "warming up", "steps", -1, 0, 1);
    b.Report("warmup", "warming up", "steps", -1, 1, 1);
    b.SetReady();  // nothing open: nothing to clear
  }
  const std::string s = ReadAll(f);
  std::fclose(f);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 2) << s;
  EXPECT_NE(s.find("100%  2/2 tensors  0s\x1b[K\n"), std::string::npos) << s;
  EXPECT_EQ(s.substr(s.size() - 4), "\x1b[K\n") << s;
}

TEST(ProgressBoard, PlainLinesOnlyForStepsThatTookLong) {
  FILE* f = std::tmpfile();
  {
    ProgressBoard quiet(f, /*tty=*/false, /*min_log_s=*/1000.0);
    quiet.Report("map", "mapping weights", "tensors", -1, 0, 2);
    quiet.Report("map", "mapping weights", "tensors", -1, 2, 2);
    quiet.SetReady();
    ProgressBoard all(f, /*tty=*/false, /*min_log_s=*/0.0);
    all.Report("map", "mapping weights", "tensors", -1, 0, 2);
    all.Report("map", "mapping weights", "tensors", -1, 1, 2);
    all.Report("map", "mapping weights", "tensors", -1, 2, 2);
    all.Report("map", "mapping weights", "tensors", -1, 2, 2);  // again: no second line
  }
  const std::string s = ReadAll(f);
  std::fclose(f);
  EXPECT_EQ(s.find('\r'), std::string::npos);
  EXPECT_EQ(s.find('\x1b'), std::string::npos);
  ASSERT_EQ(std::count(s.begin(), s.end(), '\n'), 1) << s;
  EXPECT_EQ(s.rfind("shoal: mapping weights 100%  2/2 tensors", 0), 0u) << s;
}

}  // namespace
}  // namespace shoal
