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
#include "runtime/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "base/sysinfo.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/quant.h"
#include "model/arch.h"
#include "model/rope.h"

namespace shoal::runtime {

using model::LayerWeights;
using model::MatrixWeight;
using model::ModelConfig;

namespace {

constexpr int32_t kMaxBatch = 256;  // tokens per forward pass; longer inputs are split

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

void MatMulRows(const MatrixWeight& w, const void* xq, int64_t n_tok, float* y, int64_t ldy,
                int64_t r0, int64_t r1) {
  if (r0 < r1) kernels::MatMul(w.type, w.data, w.row_bytes, w.cols, xq, n_tok, y, ldy, r0, r1);
}

}  // namespace

struct Session::Scratch {
  explicit Scratch(const ModelConfig& c, const model::Weights& w, int n_threads, int32_t n_ctx)
      : rope(c, w.rope_freqs) {
    const size_t B = kMaxBatch;
    x.resize(B * c.n_embd);
    xn.resize(B * c.n_embd);
    q.resize(B * c.n_embd_q());
    k.resize(B * c.n_embd_k());
    v.resize(B * c.n_embd_v());
    attn.resize(B * size_t(c.n_head) * c.head_dim_v);
    gate.resize(B * c.n_ff);
    up.resize(B * c.n_ff);
    cos.resize(B * rope.n_pairs());
    sin.resize(B * rope.n_pairs());
    scores.resize(n_threads, std::vector<float>(n_ctx));
  }
  model::Rope rope;
  std::vector<float> x;                    // [n_tok][n_embd] residual stream
  std::vector<float> xn;                   // [n_tok][n_embd] normalized
  std::vector<float> q, k, v;              // [n_tok][n_head(_kv) * head_dim]
  std::vector<float> attn;                 // [n_tok][n_head * head_dim_v]
  std::vector<float> gate, up;             // [n_tok][n_ff]; gate becomes silu(gate) * up
  std::vector<float> cos, sin;             // [n_tok][rope_dim / 2]
  std::vector<std::vector<float>> scores;  // per thread: [n_ctx]
  Converted cx;                            // conversions of xn or attn or gate
};

Session::Session(const model::Model& m, ThreadPool& pool, int32_t n_ctx)
    : model_(m),
      pool_(pool),
      kv_(m.config(), n_ctx > 0 ? n_ctx : m.config().n_ctx_train),
      scratch_(std::make_unique<Scratch>(m.config(), m.weights(), pool.size(), kv_.n_ctx())) {}

Session::~Session() = default;

StatusOr<std::unique_ptr<Session>> Session::Create(const model::Model& m, ThreadPool& pool,
                                                   int32_t n_ctx) {
  const ModelConfig& c = m.config();
  if (n_ctx < 0) return InvalidArgument("context length " + std::to_string(n_ctx) + " < 0");
  const int32_t ctx = n_ctx > 0 ? n_ctx : c.n_ctx_train;
  const uint64_t kv = c.KvCacheBytes(ctx);
  const uint64_t scratch =
      uint64_t(kMaxBatch) * 4 *
          (2 * uint64_t(c.n_embd) + c.n_embd_q() + c.n_embd_k() + c.n_embd_v() +
           uint64_t(c.n_head) * c.head_dim_v + 2 * uint64_t(c.n_ff)) +
      uint64_t(pool.size()) * ctx * 4;
  const uint64_t avail = AvailableMemoryBytes();
  if (avail > 0 && kv + scratch > avail) {
    return ResourceExhausted("a session of context " + std::to_string(ctx) + " needs " +
                             std::to_string((kv + scratch) >> 20) + " MiB (f16 KV cache " +
                             std::to_string(kv >> 20) + " MiB) but only " +
                             std::to_string(avail >> 20) + " MiB of memory is available");
  }
  return std::make_unique<Session>(m, pool, ctx);
}

StatusOr<std::span<const float>> Session::Eval(std::span<const int32_t> tokens, bool all_logits) {
  const ModelConfig& c = model_.config();
  if (tokens.empty()) return InvalidArgument("Eval: no tokens");
  if (int64_t(n_past_) + int64_t(tokens.size()) > kv_.n_ctx()) {
    return ResourceExhausted("context full: " + std::to_string(n_past_) + " + " +
                             std::to_string(tokens.size()) + " tokens > context length " +
                             std::to_string(kv_.n_ctx()));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.n_vocab) {
      return InvalidArgument("token id " + std::to_string(tokens[i]) + " at index " +
                             std::to_string(i) + " is out of range [0, " +
                             std::to_string(c.n_vocab) + ")");
    }
  }
  const size_t n = tokens.size();
  logits_.resize((all_logits ? n : 1) * size_t(c.n_vocab));
  for (size_t t0 = 0; t0 < n; t0 += kMaxBatch) {
    const int32_t nb = static_cast<int32_t>(std::min<size_t>(kMaxBatch, n - t0));
    const bool last = t0 + nb == n;
    float* out = all_logits ? logits_.data() + t0 * c.n_vocab : (last ? logits_.data() : nullptr);
    EvalBatch(tokens.data() + t0, nb, all_logits, out);
  }
  return std::span<const float>(logits_);
}

void Session::EvalBatch(const int32_t* tokens, int32_t n_tok, bool all_logits, float* logits) {
  const ModelConfig& c = model_.config();
  const model::Weights& W = model_.weights();
  Scratch& s = *scratch_;
  const int64_t E = c.n_embd, NQ = c.n_embd_q(), NK = c.n_embd_k(), NV = c.n_embd_v();
  const int64_t HK = c.head_dim_k, HV = c.head_dim_v, FF = c.n_ff;
  const int64_t NA = int64_t(c.n_head) * HV;  // attention output width
  const int32_t pos0 = n_past_;
  const int32_t group = c.n_head / c.n_head_kv;
  const int32_t n_pairs = s.rope.n_pairs();
  const float attn_scale = 1.0f / std::sqrt(float(HK));

  // Embeddings and rope angles.
  const MatrixWeight& emb = W.token_embd;
  pool_.Run([&](int ti, int nt) {
    int64_t b, e;
    ThreadPool::Chunk(n_tok, 1, ti, nt, &b, &e);
    for (int64_t t = b; t < e; ++t) {
      kernels::DequantizeRow(emb.type, emb.data + size_t(tokens[t]) * emb.row_bytes,
                             s.x.data() + t * E, E);
      s.rope.Angles(pos0 + int32_t(t), s.cos.data() + t * n_pairs, s.sin.data() + t * n_pairs);
    }
  });

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
  // Row-parallel matmul of one weight into y [n_tok][ldy] (+ residual when `add_to`).
  auto proj_residual = [&](const MatrixWeight& w, const std::vector<float>& bias, float* tmp) {
    const void* xq = s.cx.For(w);
    pool_.Run([&](int ti, int nt) {
      int64_t r0, r1;
      ThreadPool::Chunk(w.rows, 16, ti, nt, &r0, &r1);
      if (r0 >= r1) return;
      MatMulRows(w, xq, n_tok, tmp, E, r0, r1);
      for (int64_t t = 0; t < n_tok; ++t) {
        float* y = s.x.data() + t * E;
        const float* d = tmp + t * E;
        for (int64_t r = r0; r < r1; ++r) y[r] += d[r] + (bias.empty() ? 0.0f : bias[r]);
      }
    });
  };

  for (int32_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& L = W.layers[l];
    // 1
    s.cx.Prepare({&L.wq, &L.wk, &L.wv}, E, n_tok);
    norm_convert(L.attn_norm);
    // 2: rows of q, k and v in head-sized blocks; the thread owning a head finishes it.
    const int64_t heads_total = c.n_head + 2 * int64_t(c.n_head_kv);
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
        if (h < c.n_head) {
          w = &L.wq, bias = &L.bq, y = s.q.data(), ld = NQ, hd = HK, r0 = h * HK;
          if (!L.q_norm.empty()) norm = &L.q_norm;
        } else if (h < c.n_head + c.n_head_kv) {
          kv_head = int32_t(h - c.n_head);
          w = &L.wk, bias = &L.bk, y = s.k.data(), ld = NK, hd = HK, r0 = kv_head * HK;
          if (!L.k_norm.empty()) norm = &L.k_norm;
        } else {
          kv_head = int32_t(h - c.n_head - c.n_head_kv);
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
            uint16_t* dst = is_v ? kv_.v(l, kv_head) : kv_.k(l, kv_head);
            kernels::F32ToF16Row(row, dst + (size_t(pos0) + t) * hd, hd);
          }
        }
      }
    });
    // 3: attention, one (token, head) per work item.
    pool_.Run([&](int ti, int nt) {
      int64_t i0, i1;
      ThreadPool::Chunk(int64_t(n_tok) * c.n_head, 1, ti, nt, &i0, &i1);
      float* sc = s.scores[ti].data();
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t t = i / c.n_head, h = i % c.n_head;
        const int32_t g = int32_t(h / group);
        const float* q = s.q.data() + t * NQ + h * HK;
        const int32_t n_kv = pos0 + int32_t(t) + 1;
        const uint16_t* K = kv_.k(l, g);
        const uint16_t* V = kv_.v(l, g);
        for (int32_t j = 0; j < n_kv; ++j)
          sc[j] = kernels::DotF16(K + size_t(j) * HK, q, HK) * attn_scale;
        kernels::SoftmaxInPlace(sc, n_kv);
        float* o = s.attn.data() + t * NA + h * HV;
        std::memset(o, 0, HV * sizeof(float));
        for (int32_t j = 0; j < n_kv; ++j) kernels::AxpyF16(sc[j], V + size_t(j) * HV, o, HV);
      }
    });
    // 4, 5
    s.cx.Prepare({&L.wo}, NA, n_tok);
    convert(s.attn.data(), NA);
    proj_residual(L.wo, L.bo, s.xn.data());
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
    proj_residual(L.w_down, {}, s.xn.data());
  }

  n_past_ += n_tok;
  if (logits == nullptr) return;
  // Final norm and logits of the last token (or all).
  const int64_t t_first = all_logits ? 0 : n_tok - 1;
  const int64_t n_out = n_tok - t_first;
  const MatrixWeight& out = W.output;
  s.cx.Prepare({&out}, E, n_out);
  pool_.Run([&](int ti, int nt) {
    int64_t b, e;
    ThreadPool::Chunk(n_out, 1, ti, nt, &b, &e);
    for (int64_t t = b; t < e; ++t) {
      kernels::RmsNorm(s.x.data() + (t_first + t) * E, W.output_norm.data(), c.rms_eps,
                       s.xn.data() + t * E, E);
    }
    if (b < e) s.cx.Convert(s.xn.data(), E, b, e);
  });
  const void* xq = s.cx.For(out);
  pool_.Run([&](int ti, int nt) {
    int64_t r0, r1;
    ThreadPool::Chunk(out.rows, 16, ti, nt, &r0, &r1);
    MatMulRows(out, xq, n_out, logits, c.n_vocab, r0, r1);
  });
}

}  // namespace shoal::runtime
