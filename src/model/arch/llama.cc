// llama: Llama 2, Llama 3 / 3.1+ (rope_freqs.weight), Mistral. Plain pre-norm decoder, no biases.
// llama.cpp's converter permutes the rows of Q and K so that rope pairs adjacent dimensions
// (2i, 2i+1): RopeStyle::kNormal.
#include "model/arch.h"

namespace shoal::model {

namespace {
Status ParseLlama(const gguf::Metadata& md, ModelConfig* c) {
  // Some converters write attn_output.bias / attn_q.bias for llama-family variants; the flags
  // follow the tensors, see Model::Load.
  return Status::Ok();
}
}  // namespace

extern const Arch kLlamaArch;
const Arch kLlamaArch = {
    .name = "llama",
    .rope_style = RopeStyle::kNormal,
    .default_rms_eps = 1e-5f,
    .parse = ParseLlama,
    .for_each_tensor = ForEachDecoderTensor,
};

}  // namespace shoal::model
