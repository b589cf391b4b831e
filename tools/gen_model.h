// Shared by gen-model and bench: presets and type names for model::GenSpec.
#pragma once

#include <string>

#include "base/status.h"
#include "model/generate.h"

namespace shoal::cli {

// "" (keep the spec) or "1b" (llama 1B shape: n_embd 2048, 16 layers, 32 heads, 8 kv heads,
// ffn 5632, vocab 128256, context 8192).
Status ApplyPreset(const std::string& preset, model::GenSpec* spec);
// A GGUF type name ("q4_0", "Q8_0", "f16", "q6_k") or the mix "q4_k_m".
Status ApplyTypeName(const std::string& name, model::GenSpec* spec);
std::string TypeHelp();

}  // namespace shoal::cli
