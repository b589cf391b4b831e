#include "reference.h"

#include <algorithm>
#include <cmath>

#include "kernels/quant.h"

namespace shoal::golden {
namespace {

StatusOr<std::vector<double>> ReadAll(const gguf::File& f, const std::string& name,
                                      int64_t expect_elems, bool optional = false) {
  const gguf::TensorInfo* t = f.FindTensor(name);
  if (!t) {
    if (optional) return std::vector<double>{};
    return NotFound("reference: tensor '" + name + "' missing");
  }
  if (expect_elems >= 0 && t->n_elements() != expect_elems) {
    return InvalidArgument("reference: tensor '" + name + "' has " +
                           std::to_string(t->n_elements()) + " values, expected " +
                           std::to_string(expect_elems));
  }
  const int64_t ne0 = t->shape[0], rows = t->n_rows();
  const size_t row_bytes = RowBytes(t->type, ne0);
  std::vector<float> tmp(static_cast<size_t>(ne0));
  std::vector<double> out;
  out.reserve(static_cast<size_t>(ne0 * rows));
  for (int64_t r = 0; r < rows; ++r) {
    kernels::scalar::DequantizeRow(t->type, t->data + static_cast<size_t>(r) * row_bytes,
                                   tmp.data(), ne0);
    out.insert(out.end(), tmp.begin(), tmp.end());
  }
  return out;
}

StatusOr<Mat> ReadMat(const gguf::File& f, const std::string& name, int64_t cols, int64_t rows) {
  const gguf::TensorInfo* t = f.FindTensor(name);
  if (!t) return NotFound("reference: tensor '" + name + "' missing");
  if (t->shape.size() != 2 || t->shape[0] != cols || t->shape[1] != rows) {
    return InvalidArgument("reference: tensor '" + name + "' has the wrong shape");
  }
  Mat m;
  m.rows = rows;
  m.cols = cols;
  SHOAL_ASSIGN_OR_RETURN(m.w, ReadAll(f, name, rows * cols));
  return m;
}

// y = W x (+ b)
std::vector<double> MatVec(const Mat& m, const std::vector<double>& x,
                           const std::vector<double>& bias = {}) {
  std::vector<double> y(static_cast<size_t>(m.rows));
  for (int64_t r = 0; r < m.rows; ++r) {
    const double* w = m.row(r);
    double s = 0;
    for (int64_t i = 0; i < m.cols; ++i) s += w[i] * x[static_cast<size_t>(i)];
    y[static_cast<size_t>(r)] = s + (bias.empty() ? 0.0 : bias[static_cast<size_t>(r)]);
  }
  return y;
}

// x[off..off+n) = x / rms(x) * w
void RmsNorm(double* x, int64_t n, const std::vector<double>& w, double eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * scale * w[static_cast<size_t>(i)];
}

}  // namespace

StatusOr<RefModel> RefModel::Load(const gguf::File& f) {
  const gguf::Metadata& md = f.metadata();
  RefModel m;
  SHOAL_ASSIGN_OR_RETURN(m.arch_, md.GetString("general.architecture"));
  if (m.arch_ != "llama" && m.arch_ != "qwen2" && m.arch_ != "qwen3") {
    return Unimplemented("reference: arch '" + m.arch_ + "'");
  }
  const std::string& a = m.arch_;
  m.neox_ = a != "llama";
  SHOAL_ASSIGN_OR_RETURN(m.n_embd_, md.GetInt(a + ".embedding_length"));
  SHOAL_ASSIGN_OR_RETURN(m.n_layer_, md.GetInt(a + ".block_count"));
  SHOAL_ASSIGN_OR_RETURN(m.n_head_, md.GetInt(a + ".attention.head_count"));
  SHOAL_ASSIGN_OR_RETURN(m.n_head_kv_, md.GetInt(a + ".attention.head_count_kv"));
  SHOAL_ASSIGN_OR_RETURN(m.n_ff_, md.GetInt(a + ".feed_forward_length"));
  SHOAL_ASSIGN_OR_RETURN(m.eps_, md.GetFloat(a + ".attention.layer_norm_rms_epsilon"));
  m.freq_base_ = md.GetFloatOr(a + ".rope.freq_base", 10000.0);
  m.head_dim_ = static_cast<int64_t>(
      md.GetUintOr(a + ".attention.key_length", static_cast<uint64_t>(m.n_embd_ / m.n_head_)));
  const int64_t e = m.n_embd_, hd = m.head_dim_, nq = m.n_head_ * hd, nkv = m.n_head_kv_ * hd;

  const gguf::TensorInfo* te = f.FindTensor("token_embd.weight");
  if (!te || te->shape.size() != 2) return NotFound("reference: token_embd.weight missing");
  m.n_vocab_ = te->shape[1];
  SHOAL_ASSIGN_OR_RETURN(m.embd_, ReadMat(f, "token_embd.weight", e, m.n_vocab_));
  SHOAL_ASSIGN_OR_RETURN(m.rope_freqs_, ReadAll(f, "rope_freqs.weight", hd / 2, true));
  for (int64_t i = 0; i < m.n_layer_; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    RefLayer L;
    SHOAL_ASSIGN_OR_RETURN(L.attn_norm, ReadAll(f, p + "attn_norm.weight", e));
    SHOAL_ASSIGN_OR_RETURN(L.ffn_norm, ReadAll(f, p + "ffn_norm.weight", e));
    SHOAL_ASSIGN_OR_RETURN(L.wq, ReadMat(f, p + "attn_q.weight", e, nq));
    SHOAL_ASSIGN_OR_RETURN(L.wk, ReadMat(f, p + "attn_k.weight", e, nkv));
    SHOAL_ASSIGN_OR_RETURN(L.wv, ReadMat(f, p + "attn_v.weight", e, nkv));
    SHOAL_ASSIGN_OR_RETURN(L.wo, ReadMat(f, p + "attn_output.weight", nq, e));
    SHOAL_ASSIGN_OR_RETURN(L.bq, ReadAll(f, p + "attn_q.bias", nq, true));
    SHOAL_ASSIGN_OR_RETURN(L.bk, ReadAll(f, p + "attn_k.bias", nkv, true));
    SHOAL_ASSIGN_OR_RETURN(L.bv, ReadAll(f, p + "attn_v.bias", nkv, true));
    SHOAL_ASSIGN_OR_RETURN(L.q_norm, ReadAll(f, p + "attn_q_norm.weight", hd, true));
    SHOAL_ASSIGN_OR_RETURN(L.k_norm, ReadAll(f, p + "attn_k_norm.weight", hd, true));
    SHOAL_ASSIGN_OR_RETURN(L.gate, ReadMat(f, p + "ffn_gate.weight", e, m.n_ff_));
    SHOAL_ASSIGN_OR_RETURN(L.up, ReadMat(f, p + "ffn_up.weight", e, m.n_ff_));
    SHOAL_ASSIGN_OR_RETURN(L.down, ReadMat(f, p + "ffn_down.weight", m.n_ff_, e));
    m.layers_.push_back(std::move(L));
  }
  SHOAL_ASSIGN_OR_RETURN(m.output_norm_, ReadAll(f, "output_norm.weight", e));
  if (f.FindTensor("output.weight")) {
    SHOAL_ASSIGN_OR_RETURN(m.output_, ReadMat(f, "output.weight", e, m.n_vocab_));
  }
  return m;
}

std::vector<std::vector<double>> RefModel::Forward(const std::vector<int32_t>& tokens,
                                                   bool kv_f16) const {
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t e = n_embd_, hd = head_dim_, group = n_head_ / n_head_kv_;
  // Residual stream of every position: [T][n_embd].
  std::vector<std::vector<double>> x(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    const double* row = embd_.row(tokens[static_cast<size_t>(t)]);
    x[static_cast<size_t>(t)].assign(row, row + e);
  }
  // Rotates one head vector in place for position pos.
  auto rope = [&](double* v, int64_t pos) {
    for (int64_t i = 0; i < hd / 2; ++i) {
      double theta = static_cast<double>(pos) *
                     std::pow(freq_base_, -2.0 * static_cast<double>(i) / static_cast<double>(hd));
      if (!rope_freqs_.empty()) theta /= rope_freqs_[static_cast<size_t>(i)];
      const int64_t i0 = neox_ ? i : 2 * i, i1 = neox_ ? i + hd / 2 : 2 * i + 1;
      const double c = std::cos(theta), s = std::sin(theta), a = v[i0], b = v[i1];
      v[i0] = a * c - b * s;
      v[i1] = a * s + b * c;
    }
  };

  for (const RefLayer& L : layers_) {
    std::vector<std::vector<double>> q(static_cast<size_t>(T)), k(q.size()), v(q.size());
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> h = x[static_cast<size_t>(t)];
      RmsNorm(h.data(), e, L.attn_norm, eps_);
      auto& qt = q[static_cast<size_t>(t)] = MatVec(L.wq, h, L.bq);
      auto& kt = k[static_cast<size_t>(t)] = MatVec(L.wk, h, L.bk);
      v[static_cast<size_t>(t)] = MatVec(L.wv, h, L.bv);
      for (int64_t hh = 0; hh < n_head_; ++hh) {
        if (!L.q_norm.empty()) RmsNorm(qt.data() + hh * hd, hd, L.q_norm, eps_);
        rope(qt.data() + hh * hd, t);
      }
      for (int64_t hh = 0; hh < n_head_kv_; ++hh) {
        if (!L.k_norm.empty()) RmsNorm(kt.data() + hh * hd, hd, L.k_norm, eps_);
        rope(kt.data() + hh * hd, t);
      }
      if (kv_f16) {
        auto round = [](double x) {
          return static_cast<double>(kernels::F16ToF32(kernels::F32ToF16(static_cast<float>(x))));
        };
        for (double& x : kt) x = round(x);
        for (double& x : v[static_cast<size_t>(t)]) x = round(x);
      }
    }
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> att(static_cast<size_t>(n_head_ * hd), 0.0);
      for (int64_t hh = 0; hh < n_head_; ++hh) {
        const int64_t kvh = hh / group;
        const double* qh = q[static_cast<size_t>(t)].data() + hh * hd;
        std::vector<double> score(static_cast<size_t>(t + 1));
        double mx = -INFINITY;
        for (int64_t j = 0; j <= t; ++j) {
          const double* kj = k[static_cast<size_t>(j)].data() + kvh * hd;
          double s = 0;
          for (int64_t d = 0; d < hd; ++d) s += qh[d] * kj[d];
          score[static_cast<size_t>(j)] = s / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, score[static_cast<size_t>(j)]);
        }
        double sum = 0;
        for (double& s : score) sum += (s = std::exp(s - mx));
        for (int64_t j = 0; j <= t; ++j) {
          const double p = score[static_cast<size_t>(j)] / sum;
          const double* vj = v[static_cast<size_t>(j)].data() + kvh * hd;
          for (int64_t d = 0; d < hd; ++d) att[static_cast<size_t>(hh * hd + d)] += p * vj[d];
        }
      }
      const std::vector<double> o = MatVec(L.wo, att);
      for (int64_t i = 0; i < e; ++i) x[static_cast<size_t>(t)][static_cast<size_t>(i)] += o[i];
    }
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> h = x[static_cast<size_t>(t)];
      RmsNorm(h.data(), e, L.ffn_norm, eps_);
      std::vector<double> g = MatVec(L.gate, h);
      const std::vector<double> u = MatVec(L.up, h);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      const std::vector<double> d = MatVec(L.down, g);
      for (int64_t i = 0; i < e; ++i) x[static_cast<size_t>(t)][static_cast<size_t>(i)] += d[i];
    }
  }
  std::vector<std::vector<double>> logits(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> h = x[static_cast<size_t>(t)];
    RmsNorm(h.data(), e, output_norm_, eps_);
    logits[static_cast<size_t>(t)] = MatVec(output_.rows ? output_ : embd_, h);
  }
  return logits;
}

}  // namespace shoal::golden
