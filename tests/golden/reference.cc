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
  if (m.arch_ != "llama" && m.arch_ != "qwen2" && m.arch_ != "qwen3" && m.arch_ != "qwen3moe" &&
      m.arch_ != "deepseek2") {
    return Unimplemented("reference: arch '" + m.arch_ + "'");
  }
  const std::string& a = m.arch_;
  m.neox_ = a != "llama" && a != "deepseek2";  // deepseek2 rotates adjacent pairs
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
  m.rope_dim_ = static_cast<int64_t>(md.GetUintOr(a + ".rope.dimension_count", uint64_t(hd)));
  SHOAL_RETURN_IF_ERROR(m.LoadRopeScaling(md));
  if (a == "qwen3moe" || a == "deepseek2") SHOAL_RETURN_IF_ERROR(m.LoadArchKeys(md));
  const int64_t n_dense =
      static_cast<int64_t>(a == "deepseek2" ? md.GetUintOr(a + ".leading_dense_block_count", 0)
                                            : (a == "qwen3moe" ? 0 : m.n_layer_));

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
    if (i >= n_dense) {
      SHOAL_RETURN_IF_ERROR(m.LoadMoe(f, p, &L));
    } else {
      SHOAL_ASSIGN_OR_RETURN(L.gate, ReadMat(f, p + "ffn_gate.weight", e, m.n_ff_));
      SHOAL_ASSIGN_OR_RETURN(L.up, ReadMat(f, p + "ffn_up.weight", e, m.n_ff_));
      SHOAL_ASSIGN_OR_RETURN(L.down, ReadMat(f, p + "ffn_down.weight", m.n_ff_, e));
    }
    if (m.mla_) {
      SHOAL_RETURN_IF_ERROR(m.LoadMla(f, p, &L));
      m.layers_.push_back(std::move(L));
      continue;
    }
    SHOAL_ASSIGN_OR_RETURN(L.wq, ReadMat(f, p + "attn_q.weight", e, nq));
    SHOAL_ASSIGN_OR_RETURN(L.wk, ReadMat(f, p + "attn_k.weight", e, nkv));
    SHOAL_ASSIGN_OR_RETURN(L.wv, ReadMat(f, p + "attn_v.weight", e, nkv));
    SHOAL_ASSIGN_OR_RETURN(L.wo, ReadMat(f, p + "attn_output.weight", nq, e));
    SHOAL_ASSIGN_OR_RETURN(L.bq, ReadAll(f, p + "attn_q.bias", nq, true));
    SHOAL_ASSIGN_OR_RETURN(L.bk, ReadAll(f, p + "attn_k.bias", nkv, true));
    SHOAL_ASSIGN_OR_RETURN(L.bv, ReadAll(f, p + "attn_v.bias", nkv, true));
    SHOAL_ASSIGN_OR_RETURN(L.q_norm, ReadAll(f, p + "attn_q_norm.weight", hd, true));
    SHOAL_ASSIGN_OR_RETURN(L.k_norm, ReadAll(f, p + "attn_k_norm.weight", hd, true));
    m.layers_.push_back(std::move(L));
  }
  SHOAL_ASSIGN_OR_RETURN(m.output_norm_, ReadAll(f, "output_norm.weight", e));
  if (f.FindTensor("output.weight")) {
    SHOAL_ASSIGN_OR_RETURN(m.output_, ReadMat(f, "output.weight", e, m.n_vocab_));
  }
  return m;
}

Status RefModel::LoadRopeScaling(const gguf::Metadata& md) {
  const std::string& a = arch_;
  if (md.GetStringOr(a + ".rope.scaling.type", "none") != "yarn") return Status::Ok();
  yarn_factor_ = md.GetFloatOr(a + ".rope.scaling.factor", 1.0);
  SHOAL_ASSIGN_OR_RETURN(const int64_t n_ctx, md.GetInt(a + ".context_length"));
  yarn_orig_ctx_ =
      double(md.GetUintOr(a + ".rope.scaling.original_context_length", uint64_t(n_ctx)));
  yarn_beta_fast_ = md.GetFloatOr(a + ".rope.scaling.yarn_beta_fast", 32.0);
  yarn_beta_slow_ = md.GetFloatOr(a + ".rope.scaling.yarn_beta_slow", 1.0);
  // The YaRN paper's attention temperature sqrt(1/t) = 0.1 ln(s) + 1 multiplies cos and sin.
  // DeepSeek's yarn_log_multiplier (0.1 * mscale_all_dim) moves it into the score scale instead:
  // cos/sin get get_mscale(mscale) / get_mscale(mscale_all_dim) = 1 (llama.cpp takes mscale =
  // mscale_all_dim), the scores get_mscale(mscale_all_dim)^2.
  const double attn_factor = md.GetFloatOr(a + ".rope.scaling.attn_factor", 1.0);
  const bool log_mul = md.Has(a + ".rope.scaling.yarn_log_multiplier");
  rope_mscale_ = attn_factor * (log_mul ? 1.0 : 1.0 + 0.1 * std::log(yarn_factor_));
  return Status::Ok();
}

Status RefModel::LoadArchKeys(const gguf::Metadata& md) {
  const std::string& a = arch_;
  SHOAL_ASSIGN_OR_RETURN(n_expert_, md.GetInt(a + ".expert_count"));
  SHOAL_ASSIGN_OR_RETURN(n_expert_used_, md.GetInt(a + ".expert_used_count"));
  n_groups_ = static_cast<int64_t>(md.GetUintOr(a + ".expert_group_count", 0));
  n_groups_used_ = static_cast<int64_t>(md.GetUintOr(a + ".expert_group_used_count", 0));
  if (a == "qwen3moe") {  // softmax, always renormalized (llama.cpp)
    norm_w_ = true;
    return Status::Ok();
  }
  sigmoid_ = md.GetUintOr(a + ".expert_gating_func", 1) == 2;
  if (const gguf::Value* v = md.Find(a + ".expert_weights_norm")) {
    norm_w_ = std::get<bool>(v->v);
  }
  w_scale_ = md.GetFloatOr(a + ".expert_weights_scale", 0.0);
  mla_ = true;
  q_lora_ = static_cast<int64_t>(md.GetUintOr(a + ".attention.q_lora_rank", 0));
  SHOAL_ASSIGN_OR_RETURN(kv_lora_, md.GetInt(a + ".attention.kv_lora_rank"));
  const bool old = !md.Has(a + ".attention.key_length_mla");
  SHOAL_ASSIGN_OR_RETURN(const int64_t kq, md.GetInt(a + (old ? ".attention.key_length"
                                                              : ".attention.key_length_mla")));
  SHOAL_ASSIGN_OR_RETURN(
      v_dim_, md.GetInt(a + (old ? ".attention.value_length" : ".attention.value_length_mla")));
  qk_nope_ = kq - rope_dim_;
  const double mscale_all_dim = md.GetFloatOr(a + ".rope.scaling.yarn_log_multiplier", 0.0) / 0.1;
  const double m =
      rope_mscale_ * (yarn_factor_ > 1 ? 1 + 0.1 * mscale_all_dim * std::log(yarn_factor_) : 1);
  kq_scale_ = m * m / std::sqrt(double(kq));
  return Status::Ok();
}

// Reads a 3-D tensor [cols, rows, n] as n matrices of rows x cols.
StatusOr<std::vector<Mat>> ReadMats(const gguf::File& f, const std::string& name, int64_t cols,
                                    int64_t rows, int64_t n) {
  SHOAL_ASSIGN_OR_RETURN(const std::vector<double> all, ReadAll(f, name, cols * rows * n));
  std::vector<Mat> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    out[size_t(i)].rows = rows;
    out[size_t(i)].cols = cols;
    out[size_t(i)].w.assign(all.begin() + i * rows * cols, all.begin() + (i + 1) * rows * cols);
  }
  return out;
}

Status RefModel::LoadMoe(const gguf::File& f, const std::string& p, RefLayer* L) {
  const int64_t e = n_embd_, ne = n_expert_;
  SHOAL_ASSIGN_OR_RETURN(L->router, ReadMat(f, p + "ffn_gate_inp.weight", e, ne));
  SHOAL_ASSIGN_OR_RETURN(L->probs_b, ReadAll(f, p + "exp_probs_b.bias", ne, true));
  const gguf::TensorInfo* gu = f.FindTensor(p + "ffn_gate_up_exps.weight");
  const gguf::TensorInfo* g = gu ? gu : f.FindTensor(p + "ffn_gate_exps.weight");
  if (!g || g->shape.size() != 3) return NotFound("reference: " + p + "ffn_gate_exps missing");
  const int64_t fe = gu ? g->shape[1] / 2 : g->shape[1];
  if (gu) {  // per expert: fe gate rows, then fe up rows
    SHOAL_ASSIGN_OR_RETURN(const std::vector<Mat> both,
                           ReadMats(f, p + "ffn_gate_up_exps.weight", e, 2 * fe, ne));
    for (const Mat& m : both) {
      L->exp_gate.push_back({fe, e, std::vector<double>(m.w.begin(), m.w.begin() + fe * e)});
      L->exp_up.push_back({fe, e, std::vector<double>(m.w.begin() + fe * e, m.w.end())});
    }
  } else {
    SHOAL_ASSIGN_OR_RETURN(L->exp_gate, ReadMats(f, p + "ffn_gate_exps.weight", e, fe, ne));
    SHOAL_ASSIGN_OR_RETURN(L->exp_up, ReadMats(f, p + "ffn_up_exps.weight", e, fe, ne));
  }
  SHOAL_ASSIGN_OR_RETURN(L->exp_down, ReadMats(f, p + "ffn_down_exps.weight", fe, e, ne));
  if (const gguf::TensorInfo* sg = f.FindTensor(p + "ffn_gate_shexp.weight")) {
    const int64_t fs = sg->shape[1];
    SHOAL_ASSIGN_OR_RETURN(L->sh_gate, ReadMat(f, p + "ffn_gate_shexp.weight", e, fs));
    SHOAL_ASSIGN_OR_RETURN(L->sh_up, ReadMat(f, p + "ffn_up_shexp.weight", e, fs));
    SHOAL_ASSIGN_OR_RETURN(L->sh_down, ReadMat(f, p + "ffn_down_shexp.weight", fs, e));
  }
  return Status::Ok();
}

Status RefModel::LoadMla(const gguf::File& f, const std::string& p, RefLayer* L) {
  const int64_t e = n_embd_, nh = n_head_, kvl = kv_lora_, nope = qk_nope_, vd = v_dim_;
  const int64_t kq = nope + rope_dim_;
  if (q_lora_ > 0) {
    SHOAL_ASSIGN_OR_RETURN(L->wq_a, ReadMat(f, p + "attn_q_a.weight", e, q_lora_));
    SHOAL_ASSIGN_OR_RETURN(L->q_a_norm, ReadAll(f, p + "attn_q_a_norm.weight", q_lora_));
    SHOAL_ASSIGN_OR_RETURN(L->wq_b, ReadMat(f, p + "attn_q_b.weight", q_lora_, nh * kq));
  } else {
    SHOAL_ASSIGN_OR_RETURN(L->wq, ReadMat(f, p + "attn_q.weight", e, nh * kq));
  }
  SHOAL_ASSIGN_OR_RETURN(L->wkv_a, ReadMat(f, p + "attn_kv_a_mqa.weight", e, kvl + rope_dim_));
  SHOAL_ASSIGN_OR_RETURN(L->kv_a_norm, ReadAll(f, p + "attn_kv_a_norm.weight", kvl));
  SHOAL_ASSIGN_OR_RETURN(L->wo, ReadMat(f, p + "attn_output.weight", nh * vd, e));
  L->k_up.assign(size_t(nh), Mat{nope, kvl, std::vector<double>(size_t(nope * kvl))});
  L->v_up.assign(size_t(nh), Mat{vd, kvl, {}});
  if (f.FindTensor(p + "attn_kv_b.weight")) {  // per head: nope key rows, then vd value rows
    SHOAL_ASSIGN_OR_RETURN(const Mat kvb,
                           ReadMat(f, p + "attn_kv_b.weight", kvl, nh * (nope + vd)));
    for (int64_t h = 0; h < nh; ++h) {
      const double* k0 = kvb.row(h * (nope + vd));
      L->k_up[size_t(h)].w.assign(k0, k0 + nope * kvl);
      L->v_up[size_t(h)].w.assign(k0 + nope * kvl, k0 + (nope + vd) * kvl);
    }
    return Status::Ok();
  }
  // attn_k_b holds each head's key up-projection transposed: [kv_lora rows][nope].
  SHOAL_ASSIGN_OR_RETURN(const std::vector<Mat> kb,
                         ReadMats(f, p + "attn_k_b.weight", nope, kvl, nh));
  SHOAL_ASSIGN_OR_RETURN(L->v_up, ReadMats(f, p + "attn_v_b.weight", kvl, vd, nh));
  for (int64_t h = 0; h < nh; ++h) {
    for (int64_t c = 0; c < kvl; ++c) {
      for (int64_t d = 0; d < nope; ++d) {
        L->k_up[size_t(h)].w[size_t(d * kvl + c)] = kb[size_t(h)].row(c)[d];
      }
    }
  }
  return Status::Ok();
}

void RefModel::Rope(double* v, int64_t n, int64_t pos) const {
  double low = 0, high = 0;
  if (yarn_factor_ > 1) {
    // The pair index whose wavelength fits `turns` times in the original context.
    auto pair_of = [&](double turns) {
      return double(n) * std::log(yarn_orig_ctx_ / (turns * 2 * M_PI)) / (2 * std::log(freq_base_));
    };
    low = std::max(0.0, std::floor(pair_of(yarn_beta_fast_)));
    high = std::min(double(n - 1), std::ceil(pair_of(yarn_beta_slow_)));
  }
  for (int64_t i = 0; i < n / 2; ++i) {
    double theta = static_cast<double>(pos) *
                   std::pow(freq_base_, -2.0 * static_cast<double>(i) / static_cast<double>(n));
    if (!rope_freqs_.empty()) theta /= rope_freqs_[static_cast<size_t>(i)];
    double scale = 1;
    if (yarn_factor_ > 1) {
      const double ramp = std::clamp((double(i) - low) / std::max(0.001, high - low), 0.0, 1.0);
      theta = theta / yarn_factor_ * ramp + theta * (1 - ramp);
      scale = rope_mscale_;
    }
    const int64_t i0 = neox_ ? i : 2 * i, i1 = neox_ ? i + n / 2 : 2 * i + 1;
    const double c = std::cos(theta) * scale, s = std::sin(theta) * scale, a = v[i0], b = v[i1];
    v[i0] = a * c - b * s;
    v[i1] = a * s + b * c;
  }
}

std::vector<double> RefModel::MoeFfn(const RefLayer& L, const std::vector<double>& h,
                                     double* margin) const {
  const int64_t ne = n_expert_;
  std::vector<double> s = MatVec(L.router, h);
  if (sigmoid_) {
    for (double& x : s) x = 1 / (1 + std::exp(-x));
  } else {
    const double mx = *std::max_element(s.begin(), s.end());
    double sum = 0;
    for (double& x : s) sum += (x = std::exp(x - mx));
    for (double& x : s) x /= sum;
  }
  std::vector<double> biased = s;
  for (int64_t i = 0; i < ne && !L.probs_b.empty(); ++i) biased[size_t(i)] += L.probs_b[size_t(i)];
  std::vector<bool> allowed(size_t(ne), true);
  double group_gap = INFINITY;
  if (n_groups_ > 1) {
    const int64_t per = ne / n_groups_;
    std::vector<std::pair<double, int64_t>> score;
    for (int64_t g = 0; g < n_groups_; ++g) {
      std::vector<double> v(biased.begin() + g * per, biased.begin() + (g + 1) * per);
      std::sort(v.rbegin(), v.rend());
      score.push_back({v[0] + (per > 1 ? v[1] : 0.0), g});
    }
    std::sort(score.begin(), score.end(), [](auto& x, auto& y) { return x.first > y.first; });
    group_gap = score[size_t(n_groups_used_ - 1)].first - score[size_t(n_groups_used_)].first;
    for (int64_t i = n_groups_used_; i < n_groups_; ++i) {
      for (int64_t k = 0; k < per; ++k) allowed[size_t(score[size_t(i)].second * per + k)] = false;
    }
  }
  std::vector<int64_t> order;
  for (int64_t i = 0; i < ne; ++i) {
    if (allowed[size_t(i)]) order.push_back(i);
  }
  std::sort(order.begin(), order.end(),
            [&](int64_t x, int64_t y) { return biased[size_t(x)] > biased[size_t(y)]; });
  double mean = 0, var = 0;
  for (double b : biased) mean += b / double(ne);
  for (double b : biased) var += (b - mean) * (b - mean) / double(ne);
  const double gap = order.size() > size_t(n_expert_used_)
                         ? biased[size_t(order[size_t(n_expert_used_ - 1)])] -
                               biased[size_t(order[size_t(n_expert_used_)])]
                         : INFINITY;
  *margin = std::min(*margin, std::min(gap, group_gap) / std::sqrt(var));
  order.resize(size_t(n_expert_used_));
  double sum = 0;
  for (int64_t i : order) sum += s[size_t(i)];
  auto expert = [&](const Mat& gate, const Mat& up, const Mat& down) {
    std::vector<double> g = MatVec(gate, h);
    const std::vector<double> u = MatVec(up, h);
    for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
    return MatVec(down, g);
  };
  std::vector<double> out(size_t(n_embd_), 0.0);
  for (int64_t i : order) {
    double w = s[size_t(i)];
    if (norm_w_) w /= sum;
    if (w_scale_ != 0) w *= w_scale_;
    const std::vector<double> y =
        expert(L.exp_gate[size_t(i)], L.exp_up[size_t(i)], L.exp_down[size_t(i)]);
    for (int64_t k = 0; k < n_embd_; ++k) out[size_t(k)] += w * y[size_t(k)];
  }
  if (L.sh_gate.rows > 0) {
    const std::vector<double> y = expert(L.sh_gate, L.sh_up, L.sh_down);
    for (int64_t k = 0; k < n_embd_; ++k) out[size_t(k)] += y[size_t(k)];
  }
  return out;
}

void RefModel::MlaAttention(const RefLayer& L, std::vector<std::vector<double>>* xs,
                            bool kv_f16) const {
  auto& x = *xs;
  const int64_t T = int64_t(x.size()), e = n_embd_, nh = n_head_, kvl = kv_lora_;
  const int64_t rd = rope_dim_, nope = qk_nope_, kq = nope + rd, vd = v_dim_;
  auto round = [&](double v) {
    return kv_f16 ? double(kernels::F16ToF32(kernels::F32ToF16(float(v)))) : v;
  };
  // Per position: the queries, and the cached latent c and rope key k_pe.
  const size_t n = static_cast<size_t>(T);
  std::vector<std::vector<double>> q(n), c(n), kpe(n);
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> h = x[size_t(t)];
    RmsNorm(h.data(), e, L.attn_norm, eps_);
    if (q_lora_ > 0) {
      std::vector<double> qa = MatVec(L.wq_a, h);
      RmsNorm(qa.data(), q_lora_, L.q_a_norm, eps_);
      q[size_t(t)] = MatVec(L.wq_b, qa);
    } else {
      q[size_t(t)] = MatVec(L.wq, h);
    }
    for (int64_t hh = 0; hh < nh; ++hh) Rope(q[size_t(t)].data() + hh * kq + nope, rd, t);
    std::vector<double> kv = MatVec(L.wkv_a, h);
    RmsNorm(kv.data(), kvl, L.kv_a_norm, eps_);
    Rope(kv.data() + kvl, rd, t);
    for (double& v : kv) v = round(v);
    c[size_t(t)].assign(kv.begin(), kv.begin() + kvl);
    kpe[size_t(t)].assign(kv.begin() + kvl, kv.end());
  }
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> att(size_t(nh * vd), 0.0);
    for (int64_t hh = 0; hh < nh; ++hh) {
      const double* qh = q[size_t(t)].data() + hh * kq;
      std::vector<double> score(size_t(t + 1));
      double mx = -INFINITY;
      for (int64_t j = 0; j <= t; ++j) {
        const std::vector<double> k_nope = MatVec(L.k_up[size_t(hh)], c[size_t(j)]);
        double sc = 0;
        for (int64_t d = 0; d < nope; ++d) sc += qh[d] * k_nope[size_t(d)];
        for (int64_t d = 0; d < rd; ++d) sc += qh[nope + d] * kpe[size_t(j)][size_t(d)];
        score[size_t(j)] = sc * kq_scale_;
        mx = std::max(mx, score[size_t(j)]);
      }
      double sum = 0;
      for (double& sc : score) sum += (sc = std::exp(sc - mx));
      for (int64_t j = 0; j <= t; ++j) {
        const std::vector<double> vj = MatVec(L.v_up[size_t(hh)], c[size_t(j)]);
        for (int64_t d = 0; d < vd; ++d)
          att[size_t(hh * vd + d)] += score[size_t(j)] / sum * vj[size_t(d)];
      }
    }
    const std::vector<double> o = MatVec(L.wo, att);
    for (int64_t i = 0; i < e; ++i) x[size_t(t)][size_t(i)] += o[size_t(i)];
  }
}

std::vector<std::vector<double>> RefModel::Forward(const std::vector<int32_t>& tokens, bool kv_f16,
                                                   std::vector<double>* route_margin) const {
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t e = n_embd_, hd = head_dim_, group = n_head_ / n_head_kv_;
  // Residual stream of every position: [T][n_embd].
  std::vector<std::vector<double>> x(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    const double* row = embd_.row(tokens[static_cast<size_t>(t)]);
    x[static_cast<size_t>(t)].assign(row, row + e);
  }
  auto rope = [&](double* v, int64_t pos) { Rope(v, hd, pos); };
  std::vector<double> margin(static_cast<size_t>(T), INFINITY);

  for (const RefLayer& L : layers_) {
    if (mla_) {
      MlaAttention(L, &x, kv_f16);
    } else {
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
    }
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> h = x[static_cast<size_t>(t)];
      RmsNorm(h.data(), e, L.ffn_norm, eps_);
      if (L.router.rows > 0) {
        const std::vector<double> d = MoeFfn(L, h, &margin[size_t(t)]);
        for (int64_t i = 0; i < e; ++i) x[size_t(t)][size_t(i)] += d[size_t(i)];
        continue;
      }
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
  if (route_margin != nullptr) *route_margin = margin;
  return logits;
}

}  // namespace shoal::golden
