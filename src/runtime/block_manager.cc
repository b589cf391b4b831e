#include "runtime/block_manager.h"

namespace shoal::runtime {

BlockManager::BlockManager(int32_t n_blocks, int32_t block_tokens, bool prefix_cache)
    : block_tokens_(block_tokens), prefix_cache_(prefix_cache), refs_(size_t(n_blocks), 0) {
  // Lowest ids first out of the stack.
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

uint64_t BlockManager::Key(uint64_t parent, std::span<const int32_t> tokens) const {
  // FNV-1a over the parent key and the token ids, then a final mix (splitmix64's).
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 0x100000001b3ULL;
    }
  };
  mix(parent);
  for (int32_t t : tokens) mix(uint64_t(uint32_t(t)));
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

int32_t BlockManager::Allocate() {
  int32_t b = -1;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    b = lru_.front();
    lru_.pop_front();
    auto it = key_of_.find(b);
    block_of_.erase(it->second.key);
    key_of_.erase(it);
  } else {
    return -1;
  }
  refs_[size_t(b)] = 1;
  return b;
}

void BlockManager::AddRef(int32_t block) {
  if (refs_[size_t(block)]++ == 0) {
    auto it = key_of_.find(block);
    if (it != key_of_.end()) lru_.erase(it->second.lru);
  }
}

void BlockManager::Release(int32_t block) {
  if (--refs_[size_t(block)] > 0) return;
  auto it = key_of_.find(block);
  if (it != key_of_.end()) {
    it->second.lru = lru_.insert(lru_.end(), block);
  } else {
    free_.push_back(block);
  }
}

std::vector<int32_t> BlockManager::Match(std::span<const int32_t> tokens, int32_t max_blocks,
                                         std::vector<uint64_t>* keys) {
  std::vector<int32_t> out;
  keys->clear();
  if (!prefix_cache_) return out;
  uint64_t parent = kRootKey;
  for (int32_t i = 0; i < max_blocks && size_t(i + 1) * block_tokens_ <= tokens.size(); ++i) {
    const auto toks = tokens.subspan(size_t(i) * block_tokens_, size_t(block_tokens_));
    const uint64_t key = Key(parent, toks);
    auto it = block_of_.find(key);
    if (it == block_of_.end()) break;
    const Cached& c = key_of_.at(it->second);
    // A hash collision must not hand out another prefix's KV.
    if (c.parent != parent || !std::equal(toks.begin(), toks.end(), c.tokens.begin())) break;
    AddRef(it->second);
    out.push_back(it->second);
    keys->push_back(key);
    parent = key;
  }
  return out;
}

uint64_t BlockManager::Commit(int32_t block, uint64_t parent, std::span<const int32_t> tokens) {
  const uint64_t key = Key(parent, tokens);
  if (!prefix_cache_ || block_of_.count(key) > 0 || key_of_.count(block) > 0) return key;
  Cached c;
  c.key = key;
  c.parent = parent;
  c.tokens.assign(tokens.begin(), tokens.end());
  key_of_.emplace(block, std::move(c));
  block_of_.emplace(key, block);
  return key;
}

}  // namespace shoal::runtime
