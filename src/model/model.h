// A loaded model: the mapped GGUF, its configuration, its tokenizer and pointers to every weight
// (used in place from the mmap; only small 1-D tensors are converted to owned f32).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "format/gguf.h"
#include "model/config.h"
#include "model/shard.h"
#include "model/tokenizer.h"
#include "tensor/dtype.h"

namespace shoal::model {

struct LoadOptions {
  bool check_memory = true;
  // Context length the memory check budgets a KV cache for; 0: the training context length.
  int32_t n_ctx = 0;
  // Load only this rank's part (see model/shard.h); unset: the whole model. Rows of a sliced
  // weight stay in the mmap; column slices are copied out and their source pages released.
  std::optional<Shard> shard;
  // Interleave q4_0 / q8_0 projection matrices (attention, dense FFN, output) for the x8 kernels:
  // they are copied out of the mmap once at load (the mapped pages are released).
  bool repack = true;
  // Called after each tensor is mapped (and repacked) with the bytes of weights done so far and
  // the bytes this load holds in all (what weight_bytes() then says). Optional.
  std::function<void(uint64_t done_bytes, uint64_t total_bytes)> on_progress;
};

// A 2-D weight in the mmap: rows of `cols` values of `type`, row_bytes apart.
struct MatrixWeight {
  const uint8_t* data = nullptr;
  DType type = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
  // Rows interleaved in groups of 8 (kernels/repack.h): multiply with kernels::MatMulRepacked.
  bool repacked = false;
  explicit operator bool() const { return data != nullptr; }
};

// Under a Shard the shapes below are the shard's: n_head -> its heads, n_head_kv -> its KV heads,
// n_ff -> its FFN columns, n_vocab -> its vocabulary rows; layers outside its stage are empty.
struct LayerWeights {
  std::vector<float> attn_norm;       // [n_embd]
  MatrixWeight wq;                    // [n_head*head_dim_k rows][n_embd]
  MatrixWeight wk;                    // [n_head_kv*head_dim_k rows][n_embd]
  MatrixWeight wv;                    // [n_head_kv*head_dim_v rows][n_embd]
  MatrixWeight wo;                    // [n_embd rows][n_head*head_dim_v]
  std::vector<float> bq, bk, bv, bo;  // biases, empty when absent
  std::vector<float> q_norm, k_norm;  // [head_dim_k], empty when absent
  std::vector<float> ffn_norm;        // [n_embd]
  MatrixWeight w_gate;                // [n_ff rows][n_embd]
  MatrixWeight w_up;                  // [n_ff rows][n_embd]
  MatrixWeight w_down;                // [n_embd rows][n_ff]

  // Mixture of experts (ModelConfig::IsMoeLayer): expert e owns rows [e*n, (e+1)*n) of each
  // expert matrix, n = n_ff_exp (gate, up) or n_embd (down).
  MatrixWeight ffn_gate_inp;          // [n_expert rows][n_embd] router
  std::vector<float> exp_probs_b;     // [n_expert] selection bias, empty when absent
  MatrixWeight gate_exps, up_exps;    // [n_expert*n_ff_exp rows][n_embd]
  MatrixWeight down_exps;             // [n_expert*n_embd rows][n_ff_exp]
  MatrixWeight gate_shexp, up_shexp;  // [n_ff_exp*n_expert_shared rows][n_embd], or empty
  MatrixWeight down_shexp;            // [n_embd rows][n_ff_exp*n_expert_shared]

  // Multi-head latent attention (ModelConfig::mla); wq above when q_lora_rank is 0.
  MatrixWeight wq_a;             // [q_lora_rank rows][n_embd]
  std::vector<float> q_a_norm;   // [q_lora_rank]
  MatrixWeight wq_b;             // [n_head*mla_k_dim rows][q_lora_rank]
  MatrixWeight wkv_a;            // [kv_lora_rank+rope_dim rows][n_embd]
  std::vector<float> kv_a_norm;  // [kv_lora_rank]
  MatrixWeight wk_b;             // [n_head*kv_lora_rank rows][qk_nope]: head h's block
  MatrixWeight wv_b;             // [n_head*mla_v_dim rows][kv_lora_rank]
};

struct Weights {
  MatrixWeight token_embd;         // [n_vocab rows][n_embd]
  std::vector<float> output_norm;  // [n_embd]
  MatrixWeight output;             // [n_vocab rows][n_embd]; token_embd when tied
  std::vector<float> rope_freqs;   // [rope_dim/2] frequency divisors, empty when absent
  std::vector<LayerWeights> layers;
};

// Weights copied out of the mmap (column slices, repacked matrices, split MLA matrices): this
// process's own memory, unlike the mapped rows that the page cache can drop and read again.
class OwnedBuffers {
 public:
  void push_back(std::unique_ptr<uint8_t[]> buffer, size_t bytes) {
    buffers_.push_back(std::move(buffer));
    bytes_ += bytes;
  }
  bool empty() const { return buffers_.empty(); }
  const std::unique_ptr<uint8_t[]>& back() const { return buffers_.back(); }
  size_t bytes() const { return bytes_; }

 private:
  std::vector<std::unique_ptr<uint8_t[]>> buffers_;
  size_t bytes_ = 0;
};

class Model {
 public:
  static StatusOr<std::unique_ptr<Model>> Load(const std::string& path,
                                               const LoadOptions& options = {});
  // The same from an opened file (tests build images in memory with gguf::File::FromMemory).
  static StatusOr<std::unique_ptr<Model>> FromFile(std::unique_ptr<gguf::File> file,
                                                   const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  std::shared_ptr<const Tokenizer> shared_tokenizer() const { return tokenizer_; }
  const gguf::File& file() const { return *file_; }
  const Weights& weights() const { return weights_; }
  const Shard& shard() const { return shard_; }          // Shard::Whole when loaded whole
  size_t weight_bytes() const { return weight_bytes_; }  // bytes of the tensors the model uses
  // Of those, the bytes copied out of the file's mapping into memory of the process's own
  // (column slices, repacked matrices): what releasing the model gives back beyond page cache.
  size_t copied_bytes() const { return owned_.bytes(); }
  // ResourceExhausted, with the numbers, when the weights (this shard's) plus an f16 KV cache of
  // n_ctx positions exceed this machine's memory (Load does this with LoadOptions::n_ctx when
  // check_memory).
  Status CheckFitsInMemory(int32_t n_ctx) const;

 private:
  Model() = default;
  std::unique_ptr<gguf::File> file_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  ModelConfig config_;
  Weights weights_;
  size_t weight_bytes_ = 0;
  Shard shard_;
  OwnedBuffers owned_;  // column slices and repacked matrices copied out of the mmap
};

}  // namespace shoal::model
