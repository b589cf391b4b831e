// The attention phase of the forward pass (GQA in session.cc, MLA in mla.cc) on the tiled
// online-softmax kernel (kernels/attention.h): the query rows of the heads that share a KV head
// (and of several tokens of the batch) go to the kernel together, so each tile of that KV head's
// cache is read once for all of them. Work items are (head group, token chunk), dealt to the
// threads round-robin (the causal mask makes later tokens costlier; contiguous ranges would leave
// the first thread idle). A row's result does not depend on the items or threads (attention.h).
//
// The naive path (per (token, head): every score of the context, a full softmax, then the
// values; each head reads its KV head's cache again) stays selectable for benchmarks.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"

namespace shoal::runtime {

enum class AttentionPath { kTiled, kNaive };
// Process-wide; default kTiled. For benchmarks that compare the two (shoal bench --attention).
void SetAttentionPath(AttentionPath path);
AttentionPath GetAttentionPath();

namespace internal {

// Heads [h0, h1) read the f16 cache rows k + slot * ldk (keys) and v + slot * ldv (values).
struct KvGroup {
  int32_t h0 = 0, h1 = 0;
  const uint16_t* k = nullptr;
  const uint16_t* v = nullptr;
};

struct AttentionPhase {
  int32_t n_tok = 0;
  const int32_t* pos = nullptr;            // [n_tok]: token t sees positions [0, pos[t]]
  const int32_t* const* tables = nullptr;  // [n_tok]: block tables (nullptr: slot = position)
  const float* q = nullptr;                // row (t, h) at q + t * q_tok + h * q_head
  int64_t q_tok = 0, q_head = 0;
  float* out = nullptr;  // row (t, h) at out + t * o_tok + h * o_head
  int64_t o_tok = 0, o_head = 0;
  std::vector<KvGroup> groups;  // every head in exactly one group
  int64_t ldk = 0, ldv = 0, dk = 0, dv = 0;
  float scale = 1.0f;
};

// One ThreadPool::Run.
void RunTiledAttention(ThreadPool& pool, const AttentionPhase& a);

}  // namespace internal
}  // namespace shoal::runtime
