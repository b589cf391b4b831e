// Internal to the model generator (generate.cc, generate_moe.cc): the tensor list it builds and
// the architecture-specific parts of it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "model/generate.h"
#include "tensor/dtype.h"

namespace shoal::model::gen {

enum class Init { kMatrix, kEmbedding, kNorm, kBias, kFixed };

struct GenTensor {
  std::string name;
  std::vector<int64_t> shape;  // ne[0] first
  DType type;
  Init init;
  std::vector<float> fixed;  // kFixed
};

inline bool IsMoeArch(const std::string& a) { return a == "qwen3moe" || a == "deepseek2"; }

// The type llama-quantize falls back to when a row of ne0 values does not fill the blocks of t
// (q2_K/q3_K -> q4_0, q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0, then f16).
DType FallbackType(DType t, int64_t ne0);

// InvalidArgument for inconsistent MoE / MLA fields of a qwen3moe or deepseek2 spec.
Status CheckMoeSpec(const GenSpec& s);
// The MoE / MLA / YaRN metadata keys convert_hf_to_gguf.py writes for these architectures.
void AddMoeMetadata(const GenSpec& s, int64_t n_vocab, gguf::Metadata* md);
// deepseek2's attention tensors of layer l (MLA), in the converter's order.
void AddMlaTensors(const GenSpec& s, int l, DType type, std::vector<GenTensor>* ts);
// The FFN tensors of layer l of a MoE architecture (dense before leading_dense_block_count).
void AddMoeFfnTensors(const GenSpec& s, int l, DType type, std::vector<GenTensor>* ts);

}  // namespace shoal::model::gen
