// qwen3moe: Qwen3-30B-A3B, Qwen3-235B-A22B. Qwen3 attention (per-head q/k RMSNorm, NeoX rope)
// with a mixture-of-experts FFN in every layer: router ffn_gate_inp, softmax over the experts,
// the expert_used_count best, their weights renormalized to sum 1 (llama.cpp always normalizes
// for this architecture), experts as 3-D ffn_{gate,up,down}_exps tensors.
#include "model/arch.h"

namespace shoal::model {

namespace {
Status ParseQwen3Moe(const gguf::Metadata& md, ModelConfig* c) {
  c->qk_norm = true;
  SHOAL_RETURN_IF_ERROR(ParseMoeKeys(md, c).status());
  c->expert_gating = ExpertGating::kSoftmax;
  c->expert_weights_norm = true;
  return Status::Ok();
}
}  // namespace

extern const Arch kQwen3MoeArch;
const Arch kQwen3MoeArch = {
    .name = "qwen3moe",
    .rope_style = RopeStyle::kNeox,
    .default_rms_eps = 1e-6f,
    .parse = ParseQwen3Moe,
    .for_each_tensor = ForEachDecoderTensor,
};

}  // namespace shoal::model
