#include "model/model.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <string>

#include "base/sysinfo.h"
#include "kernels/quant.h"
#include "kernels/repack.h"
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

// Elements [b, e) of a 1-D tensor (all when e < 0), as f32.
std::vector<float> Vector(const gguf::TensorInfo& t, int64_t b = 0, int64_t e = -1) {
  std::vector<float> v(t.n_elements());
  if (t.type == DType::kF32) {
    std::memcpy(v.data(), t.data, v.size() * sizeof(float));
  } else {
    kernels::DequantizeRow(t.type, t.data, v.data(), static_cast<int64_t>(v.size()));
  }
  if (e >= 0) v = std::vector<float>(v.begin() + b, v.begin() + e);
  return v;
}

// The shard's slice of a weight: rows stay in the mmap (a contiguous range); a column slice is
// copied into `owned` (rows x its row bytes) and the mapped source pages are released, so the
// resident memory is the slice alone.
StatusOr<MatrixWeight> MatrixSlice(const gguf::File& file, const gguf::TensorInfo& t,
                                   const TensorSlice& s, OwnedBuffers* owned) {
  MatrixWeight full = Matrix(t);
  MatrixWeight m = full;
  m.rows = s.row_end - s.row_begin;
  m.data = full.data + size_t(s.row_begin) * full.row_bytes;
  if (s.group > 0) {  // the held rows of each group, gathered (whole rows)
    m.rows = s.held_rows();
    const size_t n = size_t(s.group_end - s.group_begin) * full.row_bytes;
    auto buf = std::make_unique_for_overwrite<uint8_t[]>(std::max<size_t>(1, n * size_t(m.rows)));
    uint8_t* dst = buf.get();
    for (int64_t g = s.row_begin; g < s.row_end; g += s.group, dst += n) {
      std::memcpy(dst, full.data + size_t(g + s.group_begin) * full.row_bytes, n);
    }
    file.ReleasePages(t);
    m.data = buf.get();
    owned->push_back(std::move(buf), n * size_t(m.rows));
    return m;
  }
  if (s.full_cols(full.cols)) return m;
  const DTypeInfo& info = Info(t.type);
  if (s.col_begin % info.block_values != 0 || s.col_end % info.block_values != 0) {
    return InvalidArgument("tensor '" + t.name + "': columns [" + std::to_string(s.col_begin) +
                           ", " + std::to_string(s.col_end) + ") cut a " + std::string(info.name) +
                           " block of " + std::to_string(info.block_values) +
                           " values; the plan must split on block boundaries");
  }
  m.cols = s.col_end - s.col_begin;
  m.row_bytes = RowBytes(t.type, m.cols);
  const size_t offset = RowBytes(t.type, s.col_begin);
  auto buf =
      std::make_unique_for_overwrite<uint8_t[]>(std::max<size_t>(1, m.row_bytes * size_t(m.rows)));
  for (int64_t r = 0; r < m.rows; ++r) {
    std::memcpy(buf.get() + size_t(r) * m.row_bytes,
                full.data + size_t(s.row_begin + r) * full.row_bytes + offset, m.row_bytes);
  }
  file.ReleasePages(t);
  m.data = buf.get();
  owned->push_back(std::move(buf), m.row_bytes * size_t(m.rows));
  return m;
}

// Older deepseek2 files hold one attn_kv_b [kv_lora][n_head * (qk_nope + v)] per layer: head h's
// rows are qk_nope rows of its key up-projection, then v rows of its value up-projection. The
// absorbed form needs k_b = (key rows)^T per head ([kv_lora rows][qk_nope]) and v_b = the value
// rows: both are made here as owned f32 matrices.
void SplitKvB(const ModelConfig& c, const MatrixWeight& src, LayerWeights* L, OwnedBuffers* owned) {
  const int64_t kvl = c.kv_lora_rank, nope = c.qk_nope_dim(), vd = c.mla_v_dim;
  const int64_t nh = src.rows / (nope + vd);  // the shard's heads
  auto kb = std::make_unique_for_overwrite<uint8_t[]>(size_t(nh * kvl * nope) * sizeof(float));
  auto vb = std::make_unique_for_overwrite<uint8_t[]>(size_t(nh * vd * kvl) * sizeof(float));
  float* k = reinterpret_cast<float*>(kb.get());
  float* v = reinterpret_cast<float*>(vb.get());
  std::vector<float> row(static_cast<size_t>(kvl));
  for (int64_t h = 0; h < nh; ++h) {
    for (int64_t r = 0; r < nope + vd; ++r) {
      kernels::DequantizeRow(src.type, src.data + size_t(h * (nope + vd) + r) * src.row_bytes,
                             row.data(), kvl);
      if (r < nope) {
        for (int64_t i = 0; i < kvl; ++i) k[(h * kvl + i) * nope + r] = row[size_t(i)];
      } else {
        std::memcpy(v + (h * vd + r - nope) * kvl, row.data(), size_t(kvl) * sizeof(float));
      }
    }
  }
  auto f32 = [](uint8_t* data, int64_t rows, int64_t cols) {
    MatrixWeight m;
    m.data = data;
    m.type = DType::kF32;
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = size_t(cols) * sizeof(float);
    return m;
  };
  L->wk_b = f32(kb.get(), nh * kvl, nope);
  L->wv_b = f32(vb.get(), nh * vd, kvl);
  owned->push_back(std::move(kb), size_t(nh * kvl * nope) * sizeof(float));
  owned->push_back(std::move(vb), size_t(nh * vd * kvl) * sizeof(float));
}

// Copies a q4_0 / q8_0 matrix (and q4_K / q6_K where kernels::CanRepack allows it) into the x8
// layout (in place when it is the private copy of a column slice, the last buffer in `owned`) and
// releases its mapped pages. Other types, and shapes the layout cannot take, stay as they are.
void RepackMatrix(const gguf::File& file, const gguf::TensorInfo& t, MatrixWeight* w,
                  OwnedBuffers* owned) {
  if (!*w || !kernels::CanRepack(w->type, w->rows, w->cols) ||
      w->row_bytes != RowBytes(w->type, w->cols)) {
    return;
  }
  if (!owned->empty() && owned->back().get() == w->data) {
    kernels::Repack(w->type, w->data, w->row_bytes, w->rows, w->cols,
                    const_cast<uint8_t*>(w->data));
  } else {
    auto buf = std::make_unique_for_overwrite<uint8_t[]>(
        kernels::RepackedBytes(w->type, w->rows, w->cols));
    kernels::Repack(w->type, w->data, w->row_bytes, w->rows, w->cols, buf.get());
    file.ReleasePages(t);
    w->data = buf.get();
    owned->push_back(std::move(buf), kernels::RepackedBytes(w->type, w->rows, w->cols));
  }
  w->repacked = true;
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

  m->shard_ = options.shard.value_or(Shard::Whole(c));
  SHOAL_RETURN_IF_ERROR(ValidateShard(c, m->shard_));
  const bool whole = m->shard_.IsWhole(c);

  Weights& w = m->weights_;
  w.layers.resize(c.n_layer);
  Status status;
  size_t bytes = 0;
  // The bytes this shard holds of a tensor.
  auto held_bytes = [&](const gguf::TensorInfo& t, const TensorSlice& slice) -> size_t {
    return whole ? t.bytes : slice.held_rows() * RowBytes(t.type, slice.col_end - slice.col_begin);
  };
  size_t total_bytes = 0;  // for on_progress
  if (options.on_progress) {
    FindArch(c.arch)->for_each_tensor(c, [&](const TensorSpec& spec) {
      const gguf::TensorInfo* t = m->file_->FindTensor(spec.name);
      if (t == nullptr || !CheckTensor(spec, t).ok()) return;  // the load below says why
      const TensorSlice slice = SliceFor(c, m->shard_, spec);
      if (slice.held) total_bytes += held_bytes(*t, slice);
    });
    options.on_progress(0, total_bytes);
  }
  FindArch(c.arch)->for_each_tensor(c, [&](const TensorSpec& spec) {
    if (!status.ok()) return;
    const gguf::TensorInfo* t = m->file_->FindTensor(spec.name);
    status = CheckTensor(spec, t);
    if (!status.ok()) return;
    const TensorSlice slice = SliceFor(c, m->shard_, spec);
    if (!slice.held) return;
    auto Matrix = [&](const gguf::TensorInfo& t) {
      if (whole) return model::Matrix(t);
      StatusOr<MatrixWeight> mw = MatrixSlice(*m->file_, t, slice, &m->owned_);
      if (!mw.ok()) {
        status = mw.status();
        return MatrixWeight{};
      }
      return *mw;
    };
    // The projections (attention, MLA, dense FFN, router, experts, output): in the x8 layout
    // when they can be. A 3-D expert (or per-head) tensor is repacked as one matrix when each of
    // its matrices (the rows held of it) is whole groups of 8 rows, so an expert's rows stay a
    // repacked matrix. (With expert columns a fused gate_up's groups are its halves.)
    auto Projection = [&](const gguf::TensorInfo& t) {
      MatrixWeight mw = Matrix(t);
      const int64_t per = slice.group > 0         ? slice.group_end - slice.group_begin
                          : spec.shape.size() > 1 ? spec.shape[1]
                                                  : 1;  // held rows of one expert / head
      const bool whole_groups = spec.shape.size() < 3 || per % 8 == 0;
      if (options.repack && status.ok() && whole_groups) {
        RepackMatrix(*m->file_, t, &mw, &m->owned_);
      }
      return mw;
    };
    auto Vector = [&](const gguf::TensorInfo& t) {
      return model::Vector(t, slice.col_begin, slice.col_end);
    };
    bytes += held_bytes(*t, slice);
    LayerWeights* L = spec.layer >= 0 ? &w.layers[spec.layer] : nullptr;
    switch (spec.role) {
      case TensorRole::kTokenEmbd:
        w.token_embd = Matrix(*t);
        break;
      case TensorRole::kOutputNorm:
        w.output_norm = Vector(*t);
        break;
      case TensorRole::kOutput:
        w.output = Projection(*t);
        break;
      case TensorRole::kRopeFreqs:
        w.rope_freqs = Vector(*t);
        break;
      case TensorRole::kAttnNorm:
        L->attn_norm = Vector(*t);
        break;
      case TensorRole::kAttnQ:
        L->wq = Projection(*t);
        break;
      case TensorRole::kAttnK:
        L->wk = Projection(*t);
        break;
      case TensorRole::kAttnV:
        L->wv = Projection(*t);
        break;
      case TensorRole::kAttnOut:
        L->wo = Projection(*t);
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
        L->w_gate = Projection(*t);
        break;
      case TensorRole::kFfnUp:
        L->w_up = Projection(*t);
        break;
      case TensorRole::kFfnDown:
        L->w_down = Projection(*t);
        break;
      case TensorRole::kFfnGateInp:
        L->ffn_gate_inp = Projection(*t);
        break;
      case TensorRole::kFfnExpProbsB:
        L->exp_probs_b = Vector(*t);
        break;
      case TensorRole::kFfnGateExps:
        L->gate_exps = Projection(*t);
        break;
      case TensorRole::kFfnUpExps:
        L->up_exps = Projection(*t);
        break;
      case TensorRole::kFfnDownExps:
        L->down_exps = Projection(*t);
        break;
      case TensorRole::kFfnGateShexp:
        L->gate_shexp = Projection(*t);
        break;
      case TensorRole::kFfnUpShexp:
        L->up_shexp = Projection(*t);
        break;
      case TensorRole::kFfnDownShexp:
        L->down_shexp = Projection(*t);
        break;
      case TensorRole::kAttnQA:
        L->wq_a = Projection(*t);
        break;
      case TensorRole::kAttnQANorm:
        L->q_a_norm = Vector(*t);
        break;
      case TensorRole::kAttnQB:
        L->wq_b = Projection(*t);
        break;
      case TensorRole::kAttnKvAMqa:
        L->wkv_a = Projection(*t);
        break;
      case TensorRole::kAttnKvANorm:
        L->kv_a_norm = Vector(*t);
        break;
      case TensorRole::kAttnKB:
        L->wk_b = Projection(*t);
        break;
      case TensorRole::kAttnVB:
        L->wv_b = Projection(*t);
        break;
      case TensorRole::kAttnKvB:
        SplitKvB(c, Matrix(*t), L, &m->owned_);
        break;
    }
    if (options.on_progress && status.ok()) options.on_progress(bytes, total_bytes);
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
  const uint64_t kv = ShardKvCacheBytes(config_, shard_, n_ctx), need = bytes + kv;
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
