// qwen2: Qwen2 / Qwen2.5. The llama decoder plus biases on Q, K and V; NeoX rope (pairs
// (i, i + rope_dim/2): its converter does not permute Q/K).
#include "model/arch.h"

namespace shoal::model {

namespace {
Status ParseQwen2(const gguf::Metadata& md, ModelConfig* c) {
  c->attn_qkv_bias = true;
  return Status::Ok();
}
}  // namespace

extern const Arch kQwen2Arch;
const Arch kQwen2Arch = {
    .name = "qwen2",
    .rope_style = RopeStyle::kNeox,
    .default_rms_eps = 1e-6f,
    .parse = ParseQwen2,
    .for_each_tensor = ForEachDecoderTensor,
};

}  // namespace shoal::model
