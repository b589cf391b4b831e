#include "runtime/block_manager.h"

#include <gtest/gtest.h>

#include <vector>

namespace shoal::runtime {
namespace {

std::vector<int32_t> Range(int32_t from, int32_t n) {
  std::vector<int32_t> t;
  for (int32_t i = 0; i < n; ++i) t.push_back(from + i);
  return t;
}

TEST(BlockManager, AllocatesEveryBlockOnceAndFreesThem) {
  BlockManager m(4, 4, true);
  std::vector<int32_t> got;
  for (int i = 0; i < 4; ++i) got.push_back(m.Allocate());
  EXPECT_EQ(got, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(m.Allocate(), -1);
  EXPECT_EQ(m.n_available(), 0);
  m.Release(2);
  EXPECT_EQ(m.n_available(), 1);
  EXPECT_EQ(m.Allocate(), 2);
}

TEST(BlockManager, PrefixChainsMatchOnlyTheSamePrefix) {
  BlockManager m(6, 4, true);
  const std::vector<int32_t> t = Range(10, 12);  // three blocks
  std::vector<int32_t> table;
  uint64_t parent = BlockManager::kRootKey;
  for (int i = 0; i < 3; ++i) {
    table.push_back(m.Allocate());
    parent = m.Commit(table.back(), parent, std::span<const int32_t>(t).subspan(4 * i, 4));
  }
  std::vector<uint64_t> keys;
  // The same tokens: all three blocks (at most max_blocks).
  EXPECT_EQ(m.Match(t, 3, &keys), table);
  EXPECT_EQ(keys.size(), 3u);
  for (int32_t b : table) m.Release(b);
  EXPECT_EQ(m.Match(t, 2, &keys), (std::vector<int32_t>{table[0], table[1]}));
  for (int i = 0; i < 2; ++i) m.Release(table[size_t(i)]);
  // A different second block: only the first matches; a different first block: nothing.
  std::vector<int32_t> u = t;
  u[5] = 99;
  EXPECT_EQ(m.Match(u, 3, &keys), (std::vector<int32_t>{table[0]}));
  m.Release(table[0]);
  u = t;
  u[0] = 99;
  EXPECT_TRUE(m.Match(u, 3, &keys).empty());
  // The same third block after another prefix is another key.
  std::vector<int32_t> v = Range(50, 8);
  v.insert(v.end(), t.begin() + 8, t.end());
  EXPECT_TRUE(m.Match(v, 3, &keys).empty());
  for (int32_t b : table) m.Release(b);
  EXPECT_EQ(m.n_cached(), 3);
}

TEST(BlockManager, UnreferencedCachedBlocksAreEvictedOldestFirst) {
  BlockManager m(3, 2, true);
  const std::vector<int32_t> a = {1, 2}, b = {3, 4}, c = {5, 6};
  const int32_t ba = m.Allocate(), bb = m.Allocate(), bc = m.Allocate();
  m.Commit(ba, BlockManager::kRootKey, a);
  m.Commit(bb, BlockManager::kRootKey, b);
  m.Commit(bc, BlockManager::kRootKey, c);
  m.Release(bb);  // least recently used first
  m.Release(ba);
  EXPECT_EQ(m.n_available(), 2);
  EXPECT_EQ(m.n_cached(), 3);
  // Referenced again: out of the eviction list.
  std::vector<uint64_t> keys;
  EXPECT_EQ(m.Match(b, 1, &keys), (std::vector<int32_t>{bb}));
  EXPECT_EQ(m.n_available(), 1);
  m.Release(bb);                // now the youngest
  EXPECT_EQ(m.Allocate(), ba);  // the oldest unreferenced goes first
  EXPECT_EQ(m.n_cached(), 2);
  EXPECT_TRUE(m.Match(a, 1, &keys).empty());
  EXPECT_EQ(m.Allocate(), bb);
  EXPECT_EQ(m.Allocate(), -1);  // bc is still referenced
}

TEST(BlockManager, WithoutPrefixCacheNothingIsCached) {
  BlockManager m(2, 2, false);
  const int32_t b = m.Allocate();
  m.Commit(b, BlockManager::kRootKey, std::vector<int32_t>{1, 2});
  m.Release(b);
  std::vector<uint64_t> keys;
  EXPECT_TRUE(m.Match(std::vector<int32_t>{1, 2}, 1, &keys).empty());
  EXPECT_EQ(m.n_available(), 2);
}

}  // namespace
}  // namespace shoal::runtime
