// qwen3: Qwen3 dense. The llama decoder without biases, with a per-head RMSNorm of Q and K
// (attn_q_norm / attn_k_norm, head_dim values, applied before rope); head size from
// attention.key_length (128, not n_embd / n_head); NeoX rope.
#include "model/arch.h"

namespace shoal::model {

namespace {
Status ParseQwen3(const gguf::Metadata& md, ModelConfig* c) {
  c->qk_norm = true;
  return Status::Ok();
}
}  // namespace

extern const Arch kQwen3Arch;
const Arch kQwen3Arch = {
    .name = "qwen3",
    .rope_style = RopeStyle::kNeox,
    .default_rms_eps = 1e-6f,
    .parse = ParseQwen3,
    .for_each_tensor = ForEachDecoderTensor,
};

}  // namespace shoal::model
