// Attention of query rows over an f16 key/value cache, tiled over the key positions with an online
// (streaming) softmax, so no row of scores longer than one tile is ever held:
//   for each tile of T positions [j0, j0 + T) (tiles start at multiples of T):
//     s_j   = scale * q . k_j                      for the positions the row sees in the tile
//     m'    = max(m, max_j s_j),  c = exp(m - m')  (0 for the first tile)
//     l     = c l + sum_j exp(s_j - m')
//     o     = c o + sum_j exp(s_j - m') v_j
//   out = o / l
// The rows of one call share the cache (the query heads of one KV head, for the tokens of a
// batch: GQA / MQA / MLA), so each tile of keys and values is converted to f32 once per group of
// up to kAttentionRows rows and read from L1 by all of them. Each row sees a prefix of the
// positions (n_kv[i]: the causal mask of a token at position n_kv[i] - 1, or any shorter prefix).
//
// A row's result depends only on its own query, n_kv and the cache: not on the other rows of the
// call, nor on how the caller splits rows between calls or threads (the tiles are fixed by T).
#pragma once

#include <cstdint>

namespace shoal::kernels {

constexpr int32_t kAttentionRows = 16;  // rows sharing one converted tile

struct AttentionArgs {
  int32_t n_q = 0;                  // query rows
  const float* const* q = nullptr;  // [n_q] rows of dk floats
  float* const* out = nullptr;      // [n_q] rows of dv floats (written)
  const int32_t* n_kv = nullptr;    // [n_q] positions [0, n_kv[i]) seen by row i (>= 0)
  const uint16_t* k = nullptr;      // f16 key of position j at k + Slot(j) * ldk
  const uint16_t* v = nullptr;      // f16 value of position j at v + Slot(j) * ldv (may be k)
  int64_t ldk = 0, ldv = 0;         // values between consecutive slots
  const int32_t* table = nullptr;   // block table: Slot(j) = table[j / bt] * bt + j % bt
  int32_t block_tokens = 1;         // bt; table == nullptr: Slot(j) = j
  int64_t dk = 0, dv = 0;           // key and value widths
  float scale = 1.0f;               // score multiplier (1 / sqrt(dk) usually)
};

// Positions per tile for these widths (the converted keys and values of a tile stay in L1).
int32_t AttentionTile(int64_t dk, int64_t dv);

// Highway, dispatched once per call. A row with n_kv 0 gets zeros.
void Attention(const AttentionArgs& a);

namespace internal {
// For tests: s[j] = scale * q . k[j] for j < n (k: rows of dk floats), as Attention computes its
// scores; per_position reduces each position's sum on its own (the path the wider ones must equal
// bit for bit).
void AttentionScores(const float* q, const float* k, int64_t dk, int64_t n, float scale, float* s,
                     bool per_position);
}  // namespace internal

namespace scalar {
// The scalar twin: the same tiles and online softmax in plain loops.
void Attention(const AttentionArgs& a);
}  // namespace scalar

}  // namespace shoal::kernels
