// Published shapes of well-known models as ModelConfig presets, so that `shoal plan --preset
// deepseek-v3 --type q8_0` can plan a cluster for a model whose weights one does not have. A
// preset plus a weight type gives a ModelDesc by visiting the architecture's own tensor list
// (model::FindArch(arch)->for_each_tensor): the same list loading and slicing use, so a preset's
// bytes are those of the GGUF file llama.cpp's converter would write (up to its per-tensor type
// choices, approximated below).
//
// Each preset's numbers come from the model's published config.json; presets.cc cites them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/config.h"
#include "parallel/plan.h"
#include "tensor/dtype.h"

namespace shoal::parallel {

struct ModelPreset {
  std::string name;     // "deepseek-v3"
  std::string aliases;  // "deepseek-v3.1 deepseek-r1" (space-separated)
  std::string source;   // where the shapes come from
  model::ModelConfig config;
};

// Every preset: deepseek-v3 (= v3.1, r1), kimi-k2, qwen3-235b-a22b, qwen3-30b-a3b,
// llama-3.1-70b, llama-3.1-405b.
const std::vector<ModelPreset>& ModelPresets();
// By name or alias (case-insensitive); NotFound lists the names.
StatusOr<ModelPreset> FindPreset(std::string_view name);

// Weight types a preset can be described with: a GGUF type name ("q8_0", "q4_0", "q4_k", "f16",
// "bf16", ...) for every matrix, or "q4_k_m" (llama.cpp's mix: Q4_K, with Q6_K for the output
// and for attn_v / ffn_down / ffn_down_exps / ffn_down_shexp of the layers llama.cpp gives more
// bits: the first and last eighth and every third layer between). A matrix whose row length is
// not a multiple of the type's block falls back to q8_0 (or f16 when 32 does not divide it
// either), as llama.cpp's quantizer does with its own fallbacks. 1-D tensors and the MoE
// routers (ffn_gate_inp) are f32, as in the files llama.cpp writes.
StatusOr<ModelDesc> DescribeConfig(const model::ModelConfig& config, std::string_view type);

// Parameter counts of a description (matrix values; 1-D tensors included in total).
struct ParamCounts {
  double total = 0;   // every tensor
  double active = 0;  // what one token uses: all but the token embedding and the routed experts,
                      // plus n_expert_used / n_expert of the routed experts
};
ParamCounts CountParams(const ModelDesc& desc);

}  // namespace shoal::parallel
