#include "runtime/attention.h"

#include <algorithm>
#include <atomic>

#include "kernels/attention.h"
#include "runtime/kv_cache.h"

namespace shoal::runtime {
namespace {
std::atomic<AttentionPath> g_path{AttentionPath::kTiled};
}  // namespace

void SetAttentionPath(AttentionPath path) { g_path.store(path); }
AttentionPath GetAttentionPath() { return g_path.load(); }

namespace internal {

void RunTiledAttention(ThreadPool& pool, const AttentionPhase& a) {
  if (a.n_tok <= 0 || a.groups.empty()) return;
  // Head groups split further while there are fewer items than threads (decode of a model with
  // few KV heads, or MLA's single latent cache).
  std::vector<KvGroup> groups = a.groups;
  const int n_threads = pool.size();
  const int32_t heads_per_group = groups.front().h1 - groups.front().h0;
  const int32_t tok_chunk = std::max(1, kernels::kAttentionRows / std::max(1, heads_per_group));
  const int64_t n_chunks = (a.n_tok + tok_chunk - 1) / tok_chunk;
  while (int64_t(groups.size()) * n_chunks < n_threads) {
    std::vector<KvGroup> split;
    bool any = false;
    for (const KvGroup& g : groups) {
      if (g.h1 - g.h0 >= 2) {
        const int32_t mid = g.h0 + (g.h1 - g.h0) / 2;
        split.push_back({g.h0, mid, g.k, g.v});
        split.push_back({mid, g.h1, g.k, g.v});
        any = true;
      } else {
        split.push_back(g);
      }
    }
    groups.swap(split);
    if (!any) break;
  }
  const int64_t n_groups = int64_t(groups.size());
  const int64_t n_items = n_groups * n_chunks;
  // Items are claimed from the last token chunk down (the costliest first under the causal mask);
  // which thread runs an item does not change its results.
  std::atomic<int64_t> next{0};
  pool.Run([&](int, int) {
    std::vector<const float*> q;
    std::vector<float*> out;
    std::vector<int32_t> n_kv;
    for (;;) {
      const int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_items) break;
      const int64_t chunk = n_chunks - 1 - i / n_groups;
      const KvGroup& g = groups[size_t(i % n_groups)];
      const int32_t t_end = int32_t(std::min<int64_t>(a.n_tok, (chunk + 1) * tok_chunk));
      // One kernel call per run of tokens with the same block table.
      for (int32_t t0 = int32_t(chunk * tok_chunk); t0 < t_end;) {
        int32_t t1 = t0 + 1;
        while (t1 < t_end && a.tables[t1] == a.tables[t0]) ++t1;
        q.clear(), out.clear(), n_kv.clear();
        for (int32_t t = t0; t < t1; ++t) {
          for (int32_t h = g.h0; h < g.h1; ++h) {
            q.push_back(a.q + t * a.q_tok + h * a.q_head);
            out.push_back(a.out + t * a.o_tok + h * a.o_head);
            n_kv.push_back(a.pos[t] + 1);
          }
        }
        kernels::AttentionArgs args;
        args.n_q = int32_t(q.size());
        args.q = q.data();
        args.out = out.data();
        args.n_kv = n_kv.data();
        args.k = g.k;
        args.v = g.v;
        args.ldk = a.ldk;
        args.ldv = a.ldv;
        args.table = a.tables[t0];
        args.block_tokens = kBlockTokens;
        args.dk = a.dk;
        args.dv = a.dv;
        args.scale = a.scale;
        kernels::Attention(args);
        t0 = t1;
      }
    }
  });
}

}  // namespace internal
}  // namespace shoal::runtime
