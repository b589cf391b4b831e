// One rank's part of a model: the layers, attention heads, FFN columns and vocabulary rows it
// holds. parallel::Plan decides the ranges (before any weight is read); Model::Load then maps or
// copies only these slices, so a rank's memory is its share of the weights plus its KV cache.
//
// The slicing itself is one pure function of (config, shard, tensor role), SliceFor below: every
// tensor's split follows from its role, never from its name. In GGUF a weight is [rows][cols] with
// rows = output features, cols = input features, so:
//   rows split ("column-parallel" in Megatron's words): attn_q/k/v (by head), ffn_gate/up (by FFN
//     column), token_embd/output (by vocabulary row; "vocab-parallel")
//   cols split ("row-parallel"): attn_output (by head), ffn_down (by FFN column); each rank's
//     product is a partial sum that an all-reduce completes
//   replicated: norms, rope frequencies, the attention output bias (added after the all-reduce)
// Mixture of experts: "expert-parallel", a rank holds whole experts, a contiguous range of each
// MoE layer's 3-D expert tensors (rows of those experts); or "expert columns", a rank holds the
// same hidden columns of every expert (exp_ff: rows of each expert's gate/up, columns of its
// down, like a dense FFN per expert); both may combine. The shared experts split by their hidden
// columns like a dense FFN; the router and its bias are replicated (every rank routes every
// token the same way). Multi-head latent attention splits by head: attn_q_b / attn_q, attn_k_b,
// attn_v_b (or attn_kv_b) rows and attn_output columns; the latent projection attn_kv_a_mqa,
// attn_q_a and their norms are replicated (the latent KV cache is the same on every rank).
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "model/arch.h"
#include "model/config.h"

namespace shoal::model {

struct Range {
  int32_t begin = 0;
  int32_t end = 0;  // exclusive
  int32_t size() const { return end - begin; }
  bool empty() const { return end <= begin; }
  bool contains(int64_t i) const { return i >= begin && i < end; }
  bool operator==(const Range&) const = default;
};

struct Shard {
  Range layers;    // decoder blocks held (pipeline stage)
  Range heads;     // query heads
  Range kv_heads;  // the KV heads those query heads read; shared ones are held by several ranks
  Range ff;        // FFN hidden columns
  Range vocab;     // token_embd / output rows
  Range experts;   // routed experts of the MoE layers (expert parallelism)
  Range exp_ff;    // hidden columns held of each of those experts (n_ff_exp: all)
  Range shexp;     // shared-expert hidden columns (n_ff_exp * n_expert_shared)
  bool first_stage = true;  // holds token_embd (the embedding lookup)
  bool last_stage = true;   // holds output_norm and output (the logits)
  static Shard Whole(const ModelConfig& c);
  bool IsWhole(const ModelConfig& c) const { return *this == Whole(c); }
  bool operator==(const Shard&) const = default;
  // "layers 0-16 heads 0-16 kv 0-4 ff 0-2816 vocab 0-64128" (+ " experts 0-64 shexp 0-512")
  std::string ToString() const;
};

// InvalidArgument when a range lies outside the model or kv_heads does not cover the query heads'
// groups. (Whether a column slice cuts a quantization block depends on the file's tensor types:
// Model::Load checks that.)
Status ValidateShard(const ModelConfig& c, const Shard& s);

// The part of one tensor a shard holds: rows [row_begin, row_end) and columns [col_begin,
// col_end) of its [rows][cols] layout (1-D tensors: cols only, rows = [0, 1)). held = false when
// the shard needs none of it (a layer outside its stage).
struct TensorSlice {
  bool held = false;
  int64_t row_begin = 0, row_end = 0;
  int64_t col_begin = 0, col_end = 0;
  // group > 0: rows [row_begin, row_end) come in groups of `group` rows (an expert's gate or up
  // rows) of which only [group_begin, group_end) of each are held.
  int64_t group = 0, group_begin = 0, group_end = 0;
  int64_t held_rows() const {
    return group > 0 ? (row_end - row_begin) / group * (group_end - group_begin)
                     : row_end - row_begin;
  }
  bool full_rows(int64_t rows) const { return row_begin == 0 && row_end == rows; }
  bool full_cols(int64_t cols) const { return col_begin == 0 && col_end == cols; }
};
TensorSlice SliceFor(const ModelConfig& c, const Shard& s, const TensorSpec& spec);

// Bytes of an f16 KV cache of n_ctx positions for the shard's layers and KV heads.
uint64_t ShardKvCacheBytes(const ModelConfig& c, const Shard& s, int32_t n_ctx);

}  // namespace shoal::model
