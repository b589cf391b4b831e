#include "model/model.h"

#include <cstring>
#include <sstream>
#include <string>

#include "base/sysinfo.h"
#include "kernels/quant.h"
#include "model/arch.h"

namespace shoal::model {
namespace {

std::string ShapeString(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

// GGUF shapes may carry trailing 1s; compare without them.
std::vector<int64_t> Trim(std::vector<int64_t> s) {
  while (s.size() > 1 && s.back() == 1) s.pop_back();
  return s;
}

std::string GiB(uint64_t bytes) {
  std::ostringstream o;
  o.precision(2);
  o << std::fixed << double(bytes) / double(uint64_t{1} << 30) << " GiB";
  return o.str();
}

Status CheckTensor(const TensorSpec& spec, const gguf::TensorInfo* t) {
  if (t == nullptr) return NotFound("tensor '" + spec.name + "' is missing");
  if (Trim(t->shape) != Trim(spec.shape)) {
    return InvalidArgument("tensor '" + spec.name + "' has shape " + ShapeString(t->shape) +
                           ", expected " + ShapeString(spec.shape));
  }
  const DTypeInfo& info = Info(t->type);
  if (!info.computable) {
    return Unimplemented("tensor '" + spec.name + "' has type " + std::string(info.name) +
                         ", which this build cannot compute");
  }
  if (spec.shape[0] % info.block_values != 0) {
    return InvalidArgument("tensor '" + spec.name + "': row length " +
                           std::to_string(spec.shape[0]) + " is not a multiple of the " +
                           std::string(info.name) + " block");
  }
  return Status::Ok();
}

MatrixWeight Matrix(const gguf::TensorInfo& t) {
  MatrixWeight m;
  m.data = t.data;
  m.type = t.type;
  m.cols = t.shape[0];
  m.rows = t.n_rows();
  m.row_bytes = RowBytes(t.type, m.cols);
  return m;
}

std::vector<float> Vector(const gguf::TensorInfo& t) {
  std::vector<float> v(t.n_elements());
  if (t.type == DType::kF32) {
    std::memcpy(v.data(), t.data, v.size() * sizeof(float));
  } else {
    kernels::DequantizeRow(t.type, t.data, v.data(), static_cast<int64_t>(v.size()));
  }
  return v;
}

}  // namespace

StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path, const LoadOptions& options) {
  auto file = gguf::File::Open(path);
  if (!file.ok()) return file.status();
  auto m = FromFile(std::move(file).value(), options);
  if (!m.ok()) return m.status().With(path);
  return m;
}

StatusOr<std::unique_ptr<Model>> Model::FromFile(std::unique_ptr<gguf::File> file,
                                                 const LoadOptions& options) {
  std::unique_ptr<Model> m(new Model);
  m->file_ = std::move(file);
  const gguf::Metadata& md = m->file_->metadata();
  SHOAL_ASSIGN_OR_RETURN(m->config_, ParseConfig(md, m->file_.get()));
  const ModelConfig& c = m->config_;
  SHOAL_ASSIGN_OR_RETURN(m->tokenizer_, Tokenizer::FromMetadata(md));
  if (m->tokenizer_->n_vocab() != c.n_vocab) {
    return Internal("tokenizer has " + std::to_string(m->tokenizer_->n_vocab()) +
                    " tokens, config " + std::to_string(c.n_vocab));
  }

  Weights& w = m->weights_;
  w.layers.resize(c.n_layer);
  Status status;
  size_t bytes = 0;
  FindArch(c.arch)->for_each_tensor(c, [&](const TensorSpec& spec) {
    if (!status.ok()) return;
    const gguf::TensorInfo* t = m->file_->FindTensor(spec.name);
    status = CheckTensor(spec, t);
    if (!status.ok()) return;
    bytes += t->bytes;
    LayerWeights* L = spec.layer >= 0 ? &w.layers[spec.layer] : nullptr;
    switch (spec.role) {
      case TensorRole::kTokenEmbd:
        w.token_embd = Matrix(*t);
        break;
      case TensorRole::kOutputNorm:
        w.output_norm = Vector(*t);
        break;
      case TensorRole::kOutput:
        w.output = Matrix(*t);
        break;
      case TensorRole::kRopeFreqs:
        w.rope_freqs = Vector(*t);
        break;
      case TensorRole::kAttnNorm:
        L->attn_norm = Vector(*t);
        break;
      case TensorRole::kAttnQ:
        L->wq = Matrix(*t);
        break;
      case TensorRole::kAttnK:
        L->wk = Matrix(*t);
        break;
      case TensorRole::kAttnV:
        L->wv = Matrix(*t);
        break;
      case TensorRole::kAttnOut:
        L->wo = Matrix(*t);
        break;
      case TensorRole::kAttnQBias:
        L->bq = Vector(*t);
        break;
      case TensorRole::kAttnKBias:
        L->bk = Vector(*t);
        break;
      case TensorRole::kAttnVBias:
        L->bv = Vector(*t);
        break;
      case TensorRole::kAttnOutBias:
        L->bo = Vector(*t);
        break;
      case TensorRole::kAttnQNorm:
        L->q_norm = Vector(*t);
        break;
      case TensorRole::kAttnKNorm:
        L->k_norm = Vector(*t);
        break;
      case TensorRole::kFfnNorm:
        L->ffn_norm = Vector(*t);
        break;
      case TensorRole::kFfnGate:
        L->w_gate = Matrix(*t);
        break;
      case TensorRole::kFfnUp:
        L->w_up = Matrix(*t);
        break;
      case TensorRole::kFfnDown:
        L->w_down = Matrix(*t);
        break;
    }
  });
  SHOAL_RETURN_IF_ERROR(status);
  if (c.tied_output) w.output = w.token_embd;
  m->weight_bytes_ = bytes;

  if (options.check_memory) {
    SHOAL_RETURN_IF_ERROR(m->CheckFitsInMemory(options.n_ctx > 0 ? options.n_ctx : c.n_ctx_train));
  }
  return m;
}

Status Model::CheckFitsInMemory(int32_t n_ctx) const {
  const uint64_t bytes = weight_bytes_;
  const uint64_t kv = config_.KvCacheBytes(n_ctx), need = bytes + kv;
  const uint64_t total = TotalMemoryBytes();
  if (total > 0 && need > total) {
    return ResourceExhausted("the model needs " + GiB(need) + " (weights " + GiB(bytes) +
                             " + f16 KV cache " + GiB(kv) + " at context " + std::to_string(n_ctx) +
                             ") but this machine has " + GiB(total) + " of memory (" +
                             GiB(AvailableMemoryBytes()) +
                             " available); use a shorter context or more machines");
  }
  return Status::Ok();
}

}  // namespace shoal::model
