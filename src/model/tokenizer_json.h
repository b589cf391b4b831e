// Converts a Hugging Face tokenizer.json (and optionally its tokenizer_config.json) into the GGUF
// tokenizer metadata that Tokenizer::FromMetadata reads, the way llama.cpp's converter lays it
// out: tokenizer.ggml.model ("gpt2" for byte-level BPE, "llama" for SentencePiece-style BPE with
// byte fallback), .pre, .tokens, .token_type, .scores ("llama" only), .merges ("gpt2" only), the
// special ids, .add_bos_token / .add_eos_token / .add_space_prefix, and tokenizer.chat_template.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "base/status.h"
#include "format/gguf.h"

namespace shoal::model {

// `tokenizer`: the parsed tokenizer.json. `config`: the parsed tokenizer_config.json, or null
// (nlohmann::json()) when there is none. `pre`: the tokenizer.ggml.pre name to record for
// byte-level BPE ("llama-bpe", "qwen2", "deepseek-v3", "default"...); ignored for "llama".
// Sets the keys on `md` (replacing any present).
Status SetTokenizerMetadata(const nlohmann::json& tokenizer, const nlohmann::json& config,
                            std::string_view pre, gguf::Metadata* md);

// The same from files; `config_path` may be empty.
Status SetTokenizerMetadataFromFiles(const std::string& tokenizer_json_path,
                                     const std::string& config_path, std::string_view pre,
                                     gguf::Metadata* md);

}  // namespace shoal::model
