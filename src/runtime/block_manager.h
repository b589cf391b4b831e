// The scheduler's KV memory: n_blocks blocks of kBlockTokens token slots (kv_cache.h), reference
// counted, with automatic prefix caching: a full block is keyed by a hash chain (the previous
// block's key and the block's tokens), so a sequence that starts with the same tokens finds the
// blocks that already hold their KV. A cached block nobody references stays cached until an
// allocation needs it (least recently used first). Single-threaded (the scheduler thread).
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

namespace shoal::runtime {

class BlockManager {
 public:
  static constexpr uint64_t kRootKey = 0x5eed5eed5eed5eedULL;  // the parent of a first block

  BlockManager(int32_t n_blocks, int32_t block_tokens, bool prefix_cache);

  int32_t n_blocks() const { return int32_t(refs_.size()); }
  // Blocks an allocation can take: free ones and unreferenced cached ones.
  int32_t n_available() const { return int32_t(free_.size() + lru_.size()); }
  int32_t n_referenced() const { return n_blocks() - n_available(); }
  int32_t n_cached() const { return int32_t(key_of_.size()); }

  // One block with one reference, or -1 when every block is referenced. Takes a free block
  // first, else evicts the least recently used cached one.
  int32_t Allocate();
  void AddRef(int32_t block);
  // Drops a reference; at zero a cached block becomes evictable, any other block free.
  void Release(int32_t block);

  // The cached blocks that hold the first full blocks of `tokens` (at most max_blocks), each
  // with a reference taken; *keys receives their keys (the chain).
  std::vector<int32_t> Match(std::span<const int32_t> tokens, int32_t max_blocks,
                             std::vector<uint64_t>* keys);
  // Block `block` now holds `tokens` (block_tokens of them) after the block keyed `parent`:
  // caches it unless an equal block is cached already. Returns the block's key.
  uint64_t Commit(int32_t block, uint64_t parent, std::span<const int32_t> tokens);

 private:
  struct Cached {
    uint64_t key = 0, parent = 0;
    std::vector<int32_t> tokens;
    std::list<int32_t>::iterator lru;  // valid while unreferenced
  };
  uint64_t Key(uint64_t parent, std::span<const int32_t> tokens) const;

  int32_t block_tokens_;
  bool prefix_cache_;
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;                       // stack
  std::list<int32_t> lru_;                          // unreferenced cached, oldest first
  std::unordered_map<int32_t, Cached> key_of_;      // cached block -> its key and tokens
  std::unordered_map<uint64_t, int32_t> block_of_;  // key -> cached block
};

}  // namespace shoal::runtime
