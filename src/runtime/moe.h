// The mixture-of-experts FFN of one layer (qwen3moe, deepseek2), for Session's forward pass:
//   scores  = softmax or sigmoid(ffn_gate_inp · n)                         [n_expert]
//   choice  = top n_expert_used of scores + exp_probs_b, within the expert_group_used_count
//             groups whose two best (biased) scores sum highest (when expert_group_count > 1)
//   w_j     = scores[choice_j], / sum_j w_j when expert_weights_norm, * expert_weights_scale
//   x      += sum_j w_j · down_j(silu(gate_j · n) ⊙ up_j · n) + shared experts(n)
// Phases, each one ThreadPool::Run: conversion (by token); router (by rows); routing (by token);
// gathering each expert's tokens (by slot); gate/up + SiLU (by expert x 16-row block); conversion
// (by slot); down (by expert x 16-row block); weighted sum + residual (by token). Every value is
// computed by one thread in a fixed order: bit-identical for any thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "model/model.h"
#include "runtime/layer_util.h"

namespace shoal::runtime {

// Expert parallel (a shard holding some experts, Shard::experts, and some shared-expert columns,
// Shard::shexp): every rank routes every token (the router is replicated, the input identical),
// runs only the (token, expert) pairs of its own experts and its shared-expert columns, and
// returns its weighted partial sum; the all-reduce over the stage's ranks completes it.
class MoeFfn {
 public:
  MoeFfn(const model::ModelConfig& c, const model::Shard& shard, int32_t max_tokens);
  // y[t] (+)= MoE(xn[t]) for t < n_tok (accumulate: added to y, the residual; else stored: this
  // rank's partial sum); xn: the FFN-normalized input, [n_tok][n_embd].
  void Forward(ThreadPool& pool, const model::LayerWeights& L, const float* xn, int32_t n_tok,
               float* y, bool accumulate = true);
  // (token, expert) pairs the last Forward computed here (of n_tok * n_expert_used).
  int64_t local_pairs() const { return n_local_; }
  // The experts chosen for token t by the last Forward (n_expert_used ids, best first).
  const int32_t* chosen(int32_t t) const { return choice_.data() + size_t(t) * k_; }

 private:
  // One matmul job: an expert (or the shared experts) over its gathered rows.
  struct Job {
    model::MatrixWeight gate, up, down;
    int64_t slot0 = 0;         // first row of this job in the slot-ordered buffers
    int64_t n = 0;             // rows (tokens)
    int64_t ff = 0;            // hidden width
    const void* xg = nullptr;  // converted inputs of gate and up: n rows
    const void* xu = nullptr;
    const void* xd = nullptr;  // converted hidden for down: n rows
  };
  void Route(const model::LayerWeights& L, int32_t t);

  const model::ModelConfig& c_;
  int32_t k_;
  model::Range experts_;  // held experts
  int64_t f_ = 0;         // held hidden columns of each (Shard::exp_ff)
  int64_t fs_ = 0;        // held shared-expert columns
  int64_t n_local_ = 0;
  std::vector<float> logits_;        // [n_tok][n_expert]
  std::vector<int32_t> choice_;      // [n_tok][k]
  std::vector<float> weight_;        // [n_tok][k]
  std::vector<int64_t> slot_;        // [n_tok][k] row of (t, j) in the slot buffers; -1: remote
  std::vector<int32_t> slot_token_;  // [n_tok*k + n_tok] token of each slot row
  std::vector<Job> jobs_;
  std::vector<float> hidden_, up_;  // [slots][n_ff of its job] (rows of max width)
  std::vector<float> out_;          // [slots][n_embd]
  internal::ActBuffers xin_;        // xn converted: router, experts, shared
  internal::ActBuffers xg_;         // expert inputs gathered per slot
  internal::ActBuffers hq_;         // routed hidden converted for down
  internal::ActBuffers hqs_;        // shared-expert hidden converted for down
};

}  // namespace shoal::runtime
