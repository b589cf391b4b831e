// The forward pass of the shared pre-norm decoder (llama, qwen2, qwen3: they differ only in the
// config flags read here: biases, q/k norm, rope style and scaling).
//
// Per layer, each phase is one ThreadPool::Run (a barrier):
//   1 attention RMSNorm + activation conversion        split by token
//   2 Q/K/V matmul, bias, q/k norm, rope, K/V -> cache  split by head-sized row blocks
//   3 causal GQA attention                              split by (token, head)
//   4 conversion of the attention output                split by token
//   5 output projection + bias + residual               split by rows
//   6 FFN RMSNorm + conversion                          split by token
//   7 gate/up matmul + SiLU(gate) * up                  split by rows
//   8 conversion of the FFN hidden state                split by token
//   9 down projection + residual                        split by rows
// Every value is computed by exactly one thread in an order that does not depend on the thread
// count, so results are bit-identical for any number of threads.
//
// Models with multi-head latent attention (ModelConfig::mla) replace phases 2-3 by MlaAttention
// (runtime/mla.h); mixture-of-experts layers (ModelConfig::IsMoeLayer) replace phases 6-9 by
// MoeFfn (runtime/moe.h). Both follow the same one-Run-per-phase, one-thread-per-value rule.
#include "runtime/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>

#include "base/sysinfo.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/quant.h"
#include "model/arch.h"
#include "model/rope.h"
#include "runtime/attention.h"
#include "runtime/layer_util.h"
#include "runtime/mla.h"
#include "runtime/moe.h"

namespace shoal::runtime {

using model::LayerWeights;
using model::MatrixWeight;
using model::ModelConfig;

namespace {

constexpr int32_t kMaxBatch = Session::kMaxBatchTokens;

// Converted activations of one input for a set of weights: one buffer per distinct activation
// type (q, k and v usually share one; q4_k_m's q6_K attn_v shares q8_K with q4_K).
struct Converted {
  DType types[3];
  std::vector<uint8_t> buf[3];
  int n = 0;
  // Registers the weights that will read this input; sizes buffers for n_tok rows of k values.
  void Prepare(std::initializer_list<const MatrixWeight*> ws, int64_t k, int64_t n_tok) {
    n = 0;
    for (const MatrixWeight* w : ws) {
      const DType a = kernels::ActivationType(w->type);
      if (Find(w->type) >= 0) continue;
      types[n] = w->type;
      const size_t need = kernels::ActivationRowBytes(w->type, k) * size_t(n_tok);
      if (buf[n].size() < need) buf[n].resize(need);
      (void)a;
      ++n;
    }
  }
  int Find(DType w) const {
    const DType a = kernels::ActivationType(w);
    for (int i = 0; i < n; ++i) {
      if (kernels::ActivationType(types[i]) == a) return i;
    }
    return -1;
  }
  // Converts rows [t0, t1) of x (n_tok rows of k floats) for every registered type.
  void Convert(const float* x, int64_t k, int64_t t0, int64_t t1) {
    for (int i = 0; i < n; ++i) {
      const size_t rb = kernels::ActivationRowBytes(types[i], k);
      kernels::ConvertActivations(types[i], x + t0 * k, k, k, t1 - t0, buf[i].data() + t0 * rb);
    }
  }
  const void* For(const MatrixWeight& w) const { return buf[Find(w.type)].data(); }
};

}  // namespace

using internal::MatMulRows;

struct Session::Scratch {
  explicit Scratch(const ModelConfig& c, const model::Shard& sh, const model::Weights& w,
                   int n_threads, int32_t n_ctx)
      : rope(c, w.rope_freqs) {
    const size_t B = kMaxBatch;
    x.resize(B * c.n_embd);
    xn.resize(B * c.n_embd);
    if (!c.mla) {  // MLA keeps its own buffers (runtime/mla.h)
      q.resize(B * sh.heads.size() * c.head_dim_k);
      k.resize(B * sh.kv_heads.size() * c.head_dim_k);
      v.resize(B * sh.kv_heads.size() * c.head_dim_v);
    }
    attn.resize(B * size_t(sh.heads.size()) * (c.mla ? c.mla_v_dim : c.head_dim_v));
    gate.resize(B * sh.ff.size());
    up.resize(B * sh.ff.size());
    partial.resize(B * c.n_embd);
    cos.resize(B * rope.n_pairs());
    sin.resize(B * rope.n_pairs());
    scores.resize(n_threads, std::vector<float>(n_ctx));
  }
  model::Rope rope;
  // Shapes use the shard's sizes (n_head, n_head_kv, n_ff, n_vocab: its heads, KV heads, FFN
  // columns, vocabulary rows); the residual stream is whole and identical on every rank.
  std::vector<float> x;                    // [n_tok][n_embd] residual stream
  std::vector<float> xn;                   // [n_tok][n_embd] normalized
  std::vector<float> q, k, v;              // [n_tok][n_head(_kv) * head_dim]
  std::vector<float> attn;                 // [n_tok][n_head * head_dim_v]
  std::vector<float> gate, up;             // [n_tok][n_ff]; gate becomes silu(gate) * up
  std::vector<float> partial;              // [n_tok][n_embd] this rank's share of a projection
  std::vector<float> cos, sin;             // [n_tok][rope_dim / 2]
  std::vector<std::vector<float>> scores;  // per thread: [n_ctx]
  Converted cx;                            // conversions of xn or attn or gate
};

namespace {
int32_t SlotsFor(int32_t n_ctx, int32_t kv_blocks) {
  return kv_blocks > 0 ? kv_blocks * kBlockTokens : n_ctx;
}
}  // namespace

Session::Session(const model::Model& m, ThreadPool& pool, int32_t n_ctx, const Parallelism& par,
                 int32_t kv_blocks)
    : model_(m),
      pool_(pool),
      par_(par),
      stage_(par.stage != nullptr ? par.stage : par.group),
      n_ctx_(n_ctx > 0 ? n_ctx : m.config().n_ctx_train),
      kv_(m.config(), m.shard(), SlotsFor(n_ctx_, kv_blocks)),
      scratch_(std::make_unique<Scratch>(m.config(), m.shard(), m.weights(), pool.size(), n_ctx_)),
      step_times_(par.group != nullptr ? par.group->size() : 1) {
  if (par.group != nullptr) {  // every collective through a timed group (step_times.h)
    timed_group_ = std::make_unique<comm::TimedGroup>(*par.group, &comm_ns_);
    if (par.stage != nullptr) {
      timed_stage_ = std::make_unique<comm::TimedGroup>(*par.stage, &comm_ns_);
    }
    par_.group = timed_group_.get();
    if (timed_stage_) par_.stage = timed_stage_.get();
    stage_ = par_.stage != nullptr ? par_.stage : par_.group;
  }
  if (m.config().mla) {
    mla_ = std::make_unique<MlaAttention>(m.config(), m.shard().heads.size(), kMaxBatch,
                                          pool.size(), n_ctx_);
  }
  if (m.config().n_expert > 0) moe_ = std::make_unique<MoeFfn>(m.config(), m.shard(), kMaxBatch);
}

Session::~Session() = default;

StatusOr<std::unique_ptr<Session>> Session::Create(const model::Model& m, ThreadPool& pool,
                                                   int32_t n_ctx, const Parallelism& par,
                                                   int32_t kv_blocks) {
  const ModelConfig& c = m.config();
  const model::Shard& sh = m.shard();
  if (n_ctx < 0) return InvalidArgument("context length " + std::to_string(n_ctx) + " < 0");
  if (kv_blocks < 0 || int64_t(kv_blocks) * kBlockTokens > (int64_t{1} << 30)) {
    return InvalidArgument("KV cache blocks " + std::to_string(kv_blocks) + " out of range");
  }
  if (par.group != nullptr) {
    const comm::Group& g = *par.group;
    if (par.vocab_by_rank.size() != size_t(g.size())) {
      return InvalidArgument("pooled session: " + std::to_string(par.vocab_by_rank.size()) +
                             " vocabulary ranges for " + std::to_string(g.size()) + " ranks");
    }
    const model::Range mine = sh.last_stage ? sh.vocab : model::Range{};
    if (!(par.vocab_by_rank[size_t(g.rank())] == mine)) {
      return InvalidArgument("pooled session: this rank's logits rows differ from its shard's");
    }
    if (sh.first_stage != (par.prev_stage_rank < 0) || (par.prev_stage_rank >= g.size()) ||
        (sh.last_stage && !par.next_stage_ranks.empty())) {
      return InvalidArgument("pooled session: stage links do not match the shard (" +
                             sh.ToString() + ")");
    }
    for (int r : par.next_stage_ranks) {
      if (r <= 0 || r >= g.size()) return InvalidArgument("pooled session: bad next-stage rank");
    }
  } else if (!sh.IsWhole(c)) {
    return InvalidArgument("a session over a model shard (" + sh.ToString() +
                           ") needs the group of the other shards");
  }
  const int32_t ctx = n_ctx > 0 ? n_ctx : c.n_ctx_train;
  const uint64_t kv = model::ShardKvCacheBytes(c, sh, SlotsFor(ctx, kv_blocks));
  const uint64_t scratch =
      uint64_t(kMaxBatch) * 4 *
          (3 * uint64_t(c.n_embd) + uint64_t(sh.heads.size()) * (c.head_dim_k + c.head_dim_v) +
           uint64_t(sh.kv_heads.size()) * (c.head_dim_k + c.head_dim_v) +
           2 * uint64_t(sh.ff.size())) +
      uint64_t(pool.size()) * ctx * 4;
  const uint64_t avail = AvailableMemoryBytes();
  if (avail > 0 && kv + scratch > avail) {
    return ResourceExhausted("a session of context " + std::to_string(ctx) + " needs " +
                             std::to_string((kv + scratch) >> 20) + " MiB (f16 KV cache " +
                             std::to_string(kv >> 20) + " MiB) but only " +
                             std::to_string(avail >> 20) + " MiB of memory is available");
  }
  return std::make_unique<Session>(m, pool, ctx, par, kv_blocks);
}

Status Session::Check(std::span<const int32_t> tokens) const {
  const ModelConfig& c = model_.config();
  if (tokens.empty()) return InvalidArgument("Eval: no tokens");
  if (int64_t(n_past_) + int64_t(tokens.size()) > std::min(n_ctx_, kv_.n_slots())) {
    return ResourceExhausted("context full: " + std::to_string(n_past_) + " + " +
                             std::to_string(tokens.size()) + " tokens > context length " +
                             std::to_string(std::min(n_ctx_, kv_.n_slots())));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.n_vocab) {
      return InvalidArgument("token id " + std::to_string(tokens[i]) + " at index " +
                             std::to_string(i) + " is out of range [0, " +
                             std::to_string(c.n_vocab) + ")");
    }
  }
  return Status::Ok();
}

StatusOr<std::span<const float>> Session::Eval(std::span<const int32_t> tokens, bool all_logits) {
  const ModelConfig& c = model_.config();
  SHOAL_RETURN_IF_ERROR(Check(tokens));
  const size_t n = tokens.size();
  const bool root = par_.group == nullptr || par_.group->rank() == 0;
  logits_.resize(root ? (all_logits ? n : 1) * size_t(c.n_vocab) : 0);
  std::vector<int32_t> pos(std::min<size_t>(kMaxBatch, n)), out(pos.size());
  const std::vector<const int32_t*> tables(pos.size(), nullptr);  // slot = position
  for (size_t i = 0; i < out.size(); ++i) out[i] = int32_t(i);
  for (size_t t0 = 0; t0 < n; t0 += kMaxBatch) {
    const int32_t nb = static_cast<int32_t>(std::min<size_t>(kMaxBatch, n - t0));
    const bool last = t0 + nb == n;
    float* dst = !root        ? nullptr
                 : all_logits ? logits_.data() + t0 * c.n_vocab
                              : (last ? logits_.data() : nullptr);
    for (int32_t t = 0; t < nb; ++t) pos[size_t(t)] = n_past_ + t;
    Rows b{tokens.data() + t0, pos.data(), tables.data(), nb, nullptr, 0};
    if (all_logits) {
      b.out = out.data(), b.n_out = nb;
    } else if (last) {
      b.out = out.data() + (nb - 1), b.n_out = 1;
    }
    SHOAL_RETURN_IF_ERROR(EvalBatch(b, dst));
    n_past_ += nb;
  }
  return std::span<const float>(logits_);
}

Status Session::Reduce(float* data, size_t count) {
  if (stage_ == nullptr || stage_->size() == 1) return Status::Ok();
  // Step: the direct algorithm adds the ranks' rows in rank order whatever the message size, so
  // a row's sum does not depend on the other rows of the batch (the ring's order depends on the
  // chunk an element falls in, that is on the batch's size).
  return stage_->AllReduceSum(
      data, count, comm::ElemType::kF32,
      invariant_reduce_ ? comm::Algorithm::kDirect : comm::Algorithm::kAuto);
}

Status Session::EvalBatch(const Rows& batch, float* logits) {
  const int32_t* tokens = batch.tokens;
  const int32_t* pos = batch.pos;
  const int32_t n_tok = batch.n_tok;
  const ModelConfig& c = model_.config();
  const model::Weights& W = model_.weights();
  const model::Shard& sh = model_.shard();
  Scratch& s = *scratch_;
  const bool split = stage_ != nullptr && stage_->size() > 1;  // tensor parallel in this stage
  const bool pooled = par_.group != nullptr && par_.group->size() > 1;
  const int64_t E = c.n_embd, HK = c.head_dim_k, HV = c.head_dim_v;
  const int32_t n_head = sh.heads.size(), n_head_kv = sh.kv_heads.size();
  const int64_t NQ = n_head * HK, NK = n_head_kv * HK, NV = n_head_kv * HV;
  const int64_t FF = sh.ff.size();
  const int64_t NA = int64_t(n_head) * (c.mla ? c.mla_v_dim : HV);  // attention output width
  const int32_t group = c.n_head / c.n_head_kv;
  const int32_t n_pairs = s.rope.n_pairs();
  const float attn_scale = 1.0f / std::sqrt(float(HK));
  BeginPass();

  // Embeddings (first stage: this rank's vocabulary rows, the all-reduce fills in the others;
  // later stages: the previous stage's output) and rope angles.
  const MatrixWeight& emb = W.token_embd;
  pool_.Run([&](int ti, int nt) {
    int64_t b, e;
    ThreadPool::Chunk(n_tok, 1, ti, nt, &b, &e);
    for (int64_t t = b; t < e; ++t) {
      float* xt = s.x.data() + t * E;
      if (sh.first_stage && sh.vocab.contains(tokens[t])) {
        kernels::DequantizeRow(
            emb.type, emb.data + size_t(tokens[t] - sh.vocab.begin) * emb.row_bytes, xt, E);
      } else if (sh.first_stage) {
        std::fill(xt, xt + E, 0.0f);
      }
      s.rope.Angles(pos[t], s.cos.data() + t * n_pairs, s.sin.data() + t * n_pairs);
    }
  });
  if (!sh.first_stage) {
    SHOAL_RETURN_IF_ERROR(
        par_.group->Recv(par_.prev_stage_rank, s.x.data(), size_t(n_tok) * E * sizeof(float)));
  } else if (split && sh.vocab.size() != c.n_vocab) {
    SHOAL_RETURN_IF_ERROR(Reduce(s.x.data(), n_tok * E));
  }

  // Norm + conversion of the residual stream into s.cx, split by token.
  auto norm_convert = [&](const std::vector<float>& w) {
    pool_.Run([&](int ti, int nt) {
      int64_t b, e;
      ThreadPool::Chunk(n_tok, 1, ti, nt, &b, &e);
      for (int64_t t = b; t < e; ++t) {
        kernels::RmsNorm(s.x.data() + t * E, w.data(), c.rms_eps, s.xn.data() + t * E, E);
      }
      if (b < e) s.cx.Convert(s.xn.data(), E, b, e);
    });
  };
  auto convert = [&](const float* x, int64_t k) {
    pool_.Run([&](int ti, int nt) {
      int64_t b, e;
      ThreadPool::Chunk(n_tok, 1, ti, nt, &b, &e);
      if (b < e) s.cx.Convert(x, k, b, e);
    });
  };
  // x += w * (converted input) + bias. One rank: fused, split by output rows. Several: each
  // rank's partial product over its slice of the input, summed by the all-reduce, then added.
  auto proj_residual = [&](const MatrixWeight& w, const std::vector<float>& bias) -> Status {
    const void* xq = s.cx.For(w);
    float* tmp = s.partial.data();
    pool_.Run([&](int ti, int nt) {
      int64_t r0, r1;
      ThreadPool::Chunk(w.rows, 16, ti, nt, &r0, &r1);
      if (r0 >= r1) return;
      if (w.cols == 0) {
        for (int64_t t = 0; t < n_tok; ++t) std::fill(tmp + t * E + r0, tmp + t * E + r1, 0.0f);
      } else {
        MatMulRows(w, xq, n_tok, tmp, E, r0, r1);
      }
      if (split) return;
      for (int64_t t = 0; t < n_tok; ++t) {
        float* y = s.x.data() + t * E;
        const float* d = tmp + t * E;
        for (int64_t r = r0; r < r1; ++r) y[r] += d[r] + (bias.empty() ? 0.0f : bias[r]);
      }
    });
    if (!split) return Status::Ok();
    SHOAL_RETURN_IF_ERROR(Reduce(tmp, n_tok * E));
    pool_.Run([&](int ti, int nt) {
      int64_t r0, r1;
      ThreadPool::Chunk(E, 16, ti, nt, &r0, &r1);
      for (int64_t t = 0; t < n_tok; ++t) {
        float* y = s.x.data() + t * E;
        const float* d = tmp + t * E;
        for (int64_t r = r0; r < r1; ++r) y[r] += d[r] + (bias.empty() ? 0.0f : bias[r]);
      }
    });
    return Status::Ok();
  };

  // Phases 1-3: grouped-query attention of one layer into s.attn.
  auto attention = [&](const LayerWeights& L, int32_t ll) -> Status {
    // 1
    s.cx.Prepare({&L.wq, &L.wk, &L.wv}, E, n_tok);
    norm_convert(L.attn_norm);
    // 2: rows of q, k and v in head-sized blocks; the thread owning a head finishes it.
    const int64_t heads_total = n_head + 2 * int64_t(n_head_kv);
    pool_.Run([&](int ti, int nt) {
      int64_t h0, h1;
      ThreadPool::Chunk(heads_total, 1, ti, nt, &h0, &h1);
      for (int64_t h = h0; h < h1; ++h) {
        const MatrixWeight* w;
        const std::vector<float>* bias;
        const std::vector<float>* norm = nullptr;
        float* y;
        int64_t ld, r0, hd;
        bool rope = true, is_v = false;
        int32_t kv_head = -1;
        if (h < n_head) {
          w = &L.wq, bias = &L.bq, y = s.q.data(), ld = NQ, hd = HK, r0 = h * HK;
          if (!L.q_norm.empty()) norm = &L.q_norm;
        } else if (h < n_head + n_head_kv) {
          kv_head = int32_t(h - n_head);
          w = &L.wk, bias = &L.bk, y = s.k.data(), ld = NK, hd = HK, r0 = kv_head * HK;
          if (!L.k_norm.empty()) norm = &L.k_norm;
        } else {
          kv_head = int32_t(h - n_head - n_head_kv);
          w = &L.wv, bias = &L.bv, y = s.v.data(), ld = NV, hd = HV, r0 = kv_head * HV;
          rope = false, is_v = true;
        }
        MatMulRows(*w, s.cx.For(*w), n_tok, y, ld, r0, r0 + hd);
        for (int64_t t = 0; t < n_tok; ++t) {
          float* row = y + t * ld + r0;
          if (!bias->empty()) kernels::Add(row, bias->data() + r0, row, hd);
          if (norm != nullptr) kernels::RmsNorm(row, norm->data(), c.rms_eps, row, hd);
          if (rope) s.rope.Apply(row, s.cos.data() + t * n_pairs, s.sin.data() + t * n_pairs);
          if (kv_head >= 0) {
            uint16_t* dst = is_v ? kv_.v(ll, kv_head) : kv_.k(ll, kv_head);
            kernels::F32ToF16Row(row, dst + SlotOf(batch.tables[t], pos[t]) * hd, hd);
          }
        }
      }
    });
    // 3: attention: tiled, the heads of a KV head together (runtime/attention.h), or the naive
    // loop, one (token, head) per work item.
    if (GetAttentionPath() == AttentionPath::kTiled) {
      internal::AttentionPhase ap;
      ap.n_tok = n_tok, ap.pos = pos, ap.tables = batch.tables;
      ap.q = s.q.data(), ap.q_tok = NQ, ap.q_head = HK;
      ap.out = s.attn.data(), ap.o_tok = NA, ap.o_head = HV;
      ap.ldk = ap.dk = HK, ap.ldv = ap.dv = HV, ap.scale = attn_scale;
      for (int32_t h = 0; h < n_head; ++h) {
        const int32_t g = (sh.heads.begin + h) / group - sh.kv_heads.begin;
        if (h == 0 || ap.groups.back().k != kv_.k(ll, g)) {
          ap.groups.push_back({h, h + 1, kv_.k(ll, g), kv_.v(ll, g)});
        } else {
          ap.groups.back().h1 = h + 1;
        }
      }
      internal::RunTiledAttention(pool_, ap);
      return Status::Ok();
    }
    pool_.Run([&](int ti, int nt) {
      int64_t i0, i1;
      ThreadPool::Chunk(int64_t(n_tok) * n_head, 1, ti, nt, &i0, &i1);
      float* sc = s.scores[ti].data();
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t t = i / n_head, h = i % n_head;
        const int32_t g = (sh.heads.begin + int32_t(h)) / group - sh.kv_heads.begin;
        const float* q = s.q.data() + t * NQ + h * HK;
        const int32_t n_kv = pos[t] + 1;
        const int32_t* table = batch.tables[t];
        const uint16_t* K = kv_.k(ll, g);
        const uint16_t* V = kv_.v(ll, g);
        for (int32_t j = 0; j < n_kv; ++j) {
          sc[j] = kernels::DotF16(K + SlotOf(table, j) * HK, q, HK) * attn_scale;
        }
        kernels::SoftmaxInPlace(sc, n_kv);
        float* o = s.attn.data() + t * NA + h * HV;
        std::memset(o, 0, HV * sizeof(float));
        for (int32_t j = 0; j < n_kv; ++j) {
          kernels::AxpyF16(sc[j], V + SlotOf(table, j) * HV, o, HV);
        }
      }
    });
    return Status::Ok();
  };

  for (int32_t l = sh.layers.begin; l < sh.layers.end; ++l) {
    const LayerWeights& L = W.layers[l];
    const int32_t ll = l - sh.layers.begin;  // local layer in the KV cache
    if (mla_ != nullptr) {  // multi-head latent attention (runtime/mla.h) into s.attn
      s.cx.Prepare({}, E, n_tok);
      norm_convert(L.attn_norm);
      mla_->Forward(pool_, L, s.rope, s.cos.data(), s.sin.data(), s.xn.data(), n_tok, pos,
                    batch.tables, kv_.latent(ll), s.attn.data());
    } else {
      SHOAL_RETURN_IF_ERROR(attention(L, ll));
    }
    // 4, 5
    s.cx.Prepare({&L.wo}, NA, n_tok);
    convert(s.attn.data(), NA);
    SHOAL_RETURN_IF_ERROR(proj_residual(L.wo, L.bo));
    if (c.IsMoeLayer(l)) {  // mixture of experts (runtime/moe.h), residual added
      s.cx.Prepare({}, E, n_tok);
      norm_convert(L.ffn_norm);
      if (!split) {
        moe_->Forward(pool_, L, s.xn.data(), n_tok, s.x.data());
        continue;
      }
      // Split over the stage: this rank's part of the weighted sum (its experts, or its columns
      // of every chosen expert, and its shared-expert columns), completed by the stage's
      // all-reduce (the expert exchange), then added to the residual.
      moe_->Forward(pool_, L, s.xn.data(), n_tok, s.partial.data(), /*accumulate=*/false);
      const auto t0 = std::chrono::steady_clock::now();
      SHOAL_RETURN_IF_ERROR(Reduce(s.partial.data(), n_tok * E));
      exchange_.seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      exchange_.count += 1;
      exchange_.bytes += uint64_t(n_tok) * E * sizeof(float);
      exchange_.local_pairs += moe_->local_pairs();
      exchange_.pairs += int64_t(n_tok) * c.n_expert_used;
      pool_.Run([&](int ti, int nt) {
        int64_t b, e;
        ThreadPool::Chunk(n_tok, 1, ti, nt, &b, &e);
        for (int64_t t = b; t < e; ++t) {
          kernels::Add(s.x.data() + t * E, s.partial.data() + t * E, s.x.data() + t * E, E);
        }
      });
      continue;
    }
    // 6
    s.cx.Prepare({&L.w_gate, &L.w_up}, E, n_tok);
    norm_convert(L.ffn_norm);
    // 7
    pool_.Run([&](int ti, int nt) {
      int64_t r0, r1;
      ThreadPool::Chunk(FF, 16, ti, nt, &r0, &r1);
      if (r0 >= r1) return;
      MatMulRows(L.w_gate, s.cx.For(L.w_gate), n_tok, s.gate.data(), FF, r0, r1);
      MatMulRows(L.w_up, s.cx.For(L.w_up), n_tok, s.up.data(), FF, r0, r1);
      for (int64_t t = 0; t < n_tok; ++t) {
        float* g = s.gate.data() + t * FF + r0;
        kernels::SiluMul(g, s.up.data() + t * FF + r0, g, r1 - r0);
      }
    });
    // 8, 9
    s.cx.Prepare({&L.w_down}, FF, n_tok);
    convert(s.gate.data(), FF);
    SHOAL_RETURN_IF_ERROR(proj_residual(L.w_down, {}));
  }

  if (!sh.last_stage && stage_->rank() == 0) {
    for (int r : par_.next_stage_ranks) {
      SHOAL_RETURN_IF_ERROR(par_.group->Send(r, s.x.data(), size_t(n_tok) * E * sizeof(float)));
    }
  }
  if (batch.n_out == 0) {  // the step goes on with the next pass
    EndPass(false);
    return Status::Ok();
  }
  // Final norm and logits of the rows asked for: this rank's vocabulary rows (last stage),
  // gathered on rank 0.
  const int64_t n_out = batch.n_out;
  const int64_t n_vocab_local = sh.last_stage ? sh.vocab.size() : 0;
  const size_t trailer = kStepTrailerBytes / sizeof(float);  // after the rows (step_times.h)
  if (pooled) {
    s.partial.resize(std::max(s.partial.size(), size_t(n_out * n_vocab_local) + trailer));
  }
  float* local = pooled ? s.partial.data() : logits;  // [n_out][n_vocab_local]
  if (sh.last_stage) {
    const MatrixWeight& out = W.output;
    s.cx.Prepare({&out}, E, n_out);
    pool_.Run([&](int ti, int nt) {
      int64_t b, e;
      ThreadPool::Chunk(n_out, 1, ti, nt, &b, &e);
      for (int64_t t = b; t < e; ++t) {
        kernels::RmsNorm(s.x.data() + int64_t(batch.out[t]) * E, W.output_norm.data(), c.rms_eps,
                         s.xn.data() + t * E, E);
      }
      if (b < e) s.cx.Convert(s.xn.data(), E, b, e);
    });
    const void* xq = s.cx.For(out);
    pool_.Run([&](int ti, int nt) {
      int64_t r0, r1;
      ThreadPool::Chunk(out.rows, 16, ti, nt, &r0, &r1);
      MatMulRows(out, xq, n_out, local, n_vocab_local, r0, r1);
    });
  }
  EndPass(true);
  if (!pooled) {
    EndStep();
    return Status::Ok();
  }
  return GatherLogits(local, n_out, logits);
}

namespace internal {

void MatMulRepackedRagged(const MatrixWeight& w, const void* xq, int64_t n_tok, float* y,
                          int64_t ldy, int64_t r0, int64_t r1) {
  const int64_t a0 = r0 / 8 * 8, a1 = std::min(w.rows, (r1 + 7) / 8 * 8);
  thread_local std::vector<float> tmp;
  tmp.resize(size_t(n_tok) * size_t(a1 - a0));
  // Groups of 8 rows are contiguous: rows [a0, a1) are a repacked matrix of their own.
  const uint8_t* group0 = w.data + size_t(a0) * RowBytes(w.type, w.cols);
  kernels::MatMulRepacked(w.type, group0, w.cols, xq, n_tok, tmp.data(), a1 - a0, 0, a1 - a0);
  for (int64_t t = 0; t < n_tok; ++t) {
    std::memcpy(y + t * ldy + r0, tmp.data() + t * (a1 - a0) + (r0 - a0),
                size_t(r1 - r0) * sizeof(float));
  }
}

}  // namespace internal
}  // namespace shoal::runtime
