#include "parallel/cost.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "model/shard.h"

namespace shoal::parallel {

namespace {

using model::TensorRole;

bool IsRoutedExpert(TensorRole r) {
  return r == TensorRole::kFfnGateExps || r == TensorRole::kFfnUpExps ||
         r == TensorRole::kFfnDownExps;
}

// What one rank reads and computes for one layer (or for the global tensors, layer -1): a fixed
// part and a part per routed expert it runs.
struct Work {
  double bytes = 0, kv_bytes = 0, flops = 0, compute_s = 0;
  double matrices = 0;      // weight matrices used (each costs Calibration::per_matrix_us)
  double expert_bytes = 0;  // of bytes, routed experts' (read at expert_bw_efficiency)
  double attn_s = 0;        // of compute, attention over the KV cache (of kv_bytes)
  void Add(const Work& o, double times = 1.0) {
    bytes += o.bytes * times, kv_bytes += o.kv_bytes * times, flops += o.flops * times;
    compute_s += o.compute_s * times, matrices += o.matrices * times;
    expert_bytes += o.expert_bytes * times, attn_s += o.attn_s * times;
  }
};
struct LayerWork {
  Work fixed;      // decode: one token
  Work expert;     // decode: one routed expert this rank runs (its held slice of it)
  Work pf_fixed;   // prefill batch: everything but the routed experts
  Work pf_routed;  // prefill batch: the routed experts (expected)
  int held_experts = 0;
  bool moe = false;
};

struct RankModel {
  std::map<int32_t, LayerWork> layers;  // -1: global tensors
  double bw_bytes_s = 0;                // effective read bandwidth
  double expert_bw_bytes_s = 0;         // the same for the routed experts
  double MemorySeconds(const Work& w) const {
    return (w.bytes - w.expert_bytes) / bw_bytes_s + w.expert_bytes / expert_bw_bytes_s;
  }
  double ComputeSeconds(const Work& w) const { return w.compute_s + w.attn_s; }
  // The weights phase (matmuls: the slower of streaming the weights and computing) and the
  // attention phase (the slower of reading the KV cache and the attention arithmetic) run one
  // after the other within a layer.
  double Seconds(const Work& w, double per_matrix_s) const {
    const double weights = MemorySeconds(w) - w.kv_bytes / bw_bytes_s;
    return std::max(weights, w.compute_s) + std::max(w.kv_bytes / bw_bytes_s, w.attn_s) +
           w.matrices * per_matrix_s;
  }
  double read_gbs = 0;
  int threads = 1;
};

double Binomial(int n, int k) {
  if (k < 0 || k > n) return 0.0;
  double r = 1.0;
  for (int i = 1; i <= k; ++i) r = r * double(n - k + i) / double(i);
  return r;
}

RankModel ModelRank(const Plan& plan, const ModelDesc& m, const Calibration& cal,
                    const PredictOptions& o, int rank) {
  const model::ModelConfig& c = m.config;
  const RankPlan& rp = plan.ranks[rank];
  const model::Shard& sh = rp.shard;
  const NodeSpec& node = plan.nodes[rank];
  RankModel rm;
  rm.threads = std::max(1, node.threads);
  rm.read_gbs = node.bandwidth_gbs > 0 ? node.bandwidth_gbs : cal.read_gbs_per_thread * rm.threads;
  rm.bw_bytes_s = rm.read_gbs * 1e9 * cal.decode_bw_efficiency;
  rm.expert_bw_bytes_s = rm.read_gbs * 1e9 * cal.expert_bw_efficiency;
  const double node_gflops =
      rank < int(o.gflops_per_thread.size()) ? o.gflops_per_thread[rank] : 0.0;
  // Flops per second of this rank for a matrix of type t: times one token (decode) or a batch.
  auto rate = [&](DType t, bool decode) {
    const double per_thread = node_gflops > 0 ? node_gflops
                              : decode        ? cal.DecodeGflopsPerThread(t)
                                              : cal.GflopsPerThread(t);
    return double(rm.threads) * 1e9 * per_thread;
  };
  const double B = std::max(1, o.prefill_tokens);
  const double k = c.n_expert_used, N = std::max(1, c.n_expert);
  const double pf_expert_read = c.n_expert > 0 ? 1.0 - std::pow(1.0 - k / N, B) : 0.0;

  for (const ModelDesc::Tensor& t : m.tensors) {
    const model::TensorSlice sl = model::SliceFor(c, sh, t.spec);
    if (!sl.held) continue;
    const int64_t cols = sl.col_end - sl.col_begin;
    const double rows = double(sl.held_rows());
    const double values = t.spec.matrix ? rows * double(cols) : double(cols);
    const double bytes = t.spec.matrix ? rows * double(RowBytes(t.type, cols)) : double(cols) * 4;
    const double flops = t.spec.matrix ? 2.0 * values : 0.0;
    const double cs = t.spec.matrix ? flops / rate(t.type, true) : 0.0;
    const double cs_batch = t.spec.matrix ? flops / rate(t.type, false) : 0.0;
    const Work one{bytes,
                   0,
                   flops,
                   cs,
                   t.spec.matrix && values > 0 ? 1.0 : 0.0,
                   IsRoutedExpert(t.spec.role) ? bytes : 0.0};
    LayerWork& lw = rm.layers[t.spec.layer];
    const TensorRole role = t.spec.role;
    if (role == TensorRole::kTokenEmbd) {
      // One row per token looked up (this rank's rows: its share of the vocabulary).
      const double row = sh.first_stage ? bytes / double(c.n_vocab) : 0.0;  // a copy, no matmul
      lw.fixed.bytes += row;
      lw.pf_fixed.bytes += std::min(bytes, row * B);
      if (c.tied_output && sh.last_stage) lw.fixed.Add(one), lw.pf_fixed.Add(one);
    } else if (role == TensorRole::kOutput) {
      lw.fixed.Add(one);
      lw.pf_fixed.Add(one);  // logits of the last token only
    } else if (IsRoutedExpert(role)) {
      lw.moe = true;
      lw.held_experts = sh.experts.size();
      if (lw.held_experts > 0) {  // one expert's share of the tensor, but a matmul of its own
        lw.expert.Add(one, 1.0 / lw.held_experts);
        lw.expert.matrices += one.matrices * (1.0 - 1.0 / lw.held_experts);
      }
      lw.pf_routed.bytes += bytes * pf_expert_read;
      lw.pf_routed.expert_bytes += bytes * pf_expert_read;
      lw.pf_routed.flops += flops * B * k / N;
      lw.pf_routed.compute_s += cs_batch * B * k / N;
      lw.pf_routed.matrices += one.matrices * lw.held_experts * pf_expert_read;
    } else {
      lw.fixed.Add(one);
      lw.pf_fixed.bytes += bytes;
      lw.pf_fixed.flops += flops * B;
      lw.pf_fixed.compute_s += cs_batch * B;
      lw.pf_fixed.matrices += one.matrices;
    }
  }
  // Attention over the KV cache: per held query head and position, 2 (hk + hv) flops (MLA
  // absorbed: hk = kv_lora + rope, hv = kv_lora, every head over the shared latent).
  const double per_pos = 2.0 * double(c.head_dim_k + c.head_dim_v) * double(sh.heads.size());
  // Seconds per position: the flops at the attention rate + a fixed cost per head (softmax).
  const double attn_pos_s = (per_pos / (cal.attention_gflops * 1e9) +
                             double(sh.heads.size()) * cal.attention_ns_per_head_position * 1e-9) /
                            double(rm.threads);
  const double P = std::max(0, o.position);
  for (int32_t l = sh.layers.begin; l < sh.layers.end; ++l) {
    LayerWork& lw = rm.layers[l];
    model::Shard one_layer = sh;
    one_layer.layers = model::Range{l, l + 1};
    const double kv = double(model::ShardKvCacheBytes(c, one_layer, int32_t(P) + 1));
    lw.fixed.bytes += kv;
    lw.fixed.kv_bytes += kv;
    lw.fixed.flops += per_pos * (P + 1);
    lw.fixed.attn_s += attn_pos_s * (P + 1);
    const double pf_kv = double(model::ShardKvCacheBytes(c, one_layer, int32_t(P + B)));
    const double positions = B * P + B * (B + 1) / 2;
    lw.pf_fixed.bytes += pf_kv;
    lw.pf_fixed.kv_bytes += pf_kv;
    lw.pf_fixed.flops += per_pos * positions;
    lw.pf_fixed.attn_s += attn_pos_s * positions;
  }
  return rm;
}

double Max2(double a, double b) { return a > b ? a : b; }

}  // namespace

double AllReduceSeconds(int n, double bytes, const LinkSpec& link, const Calibration& cal) {
  if (n <= 1) return 0.0;
  const double lat = link.latency_us * 1e-6, bw = link.bytes_per_s();
  const double per_byte = bw > 0 ? 1.0 / bw : 0.0;
  const double o = cal.per_collective_us * 1e-6;
  if (n == 2 || bytes <= double(cal.direct_max_bytes)) {
    const double out = link.mesh ? bytes : double(n - 1) * bytes;
    return cal.direct_latency_factor * lat + out * per_byte + o;
  }
  return 2.0 * double(n - 1) * (cal.ring_step_latency_factor * lat + bytes / n * per_byte) + o;
}

double ExpectedMaxTime(const std::vector<int>& held, int n_total, int k,
                       const std::vector<std::vector<double>>& t) {
  const size_t n = held.size();
  std::vector<double> cand;
  for (size_t i = 0; i < n; ++i) cand.insert(cand.end(), t[i].begin(), t[i].end());
  std::sort(cand.begin(), cand.end());
  cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
  const double total = Binomial(n_total, k);
  if (total <= 0 || cand.empty()) return 0.0;
  double expect = 0.0, prev = 0.0;
  for (double T : cand) {
    // Ways to choose k experts with every rank's time at most T: the x^k coefficient of
    // prod_i sum_{c : t_i(c) <= T} C(n_i, c) x^c.
    std::vector<double> ways(size_t(k) + 1, 0.0);
    ways[0] = 1.0;
    for (size_t i = 0; i < n; ++i) {
      std::vector<double> next(size_t(k) + 1, 0.0);
      for (int c = 0; c < int(t[i].size()) && c <= k; ++c) {
        if (t[i][c] > T) break;
        const double w = Binomial(held[i], c);
        for (int j = 0; j + c <= k; ++j) next[j + c] += ways[j] * w;
      }
      ways.swap(next);
    }
    const double cdf = std::min(1.0, ways[k] / total);
    expect += T * (cdf - prev);
    prev = cdf;
  }
  return expect;
}

StatusOr<Prediction> Predict(const Plan& plan, const ModelDesc& m, const LinkSpec& link,
                             const Calibration& cal, const PredictOptions& o) {
  const model::ModelConfig& c = m.config;
  if (plan.ranks.empty() || plan.ranks.size() != plan.nodes.size()) {
    return InvalidArgument("cost model: the plan has no ranks");
  }
  if (plan.config.n_layer != c.n_layer || plan.config.n_embd != c.n_embd) {
    return InvalidArgument("cost model: the model description does not match the plan");
  }
  if (plan.ranks.size() > 1 && link.bandwidth_gbits <= 0) {
    return InvalidArgument("cost model: several nodes need a link (--link lat=5us,bw=75Gbit)");
  }
  if (o.prefill_tokens < 1 || o.position < 0) {
    return InvalidArgument("cost model: prefill batch must be >= 1 and position >= 0");
  }
  Prediction p;
  p.options = o;
  p.calibration = cal;
  p.link = link;
  p.fits = plan.fits;
  p.kv_bytes_per_token = c.KvCacheBytes(1);
  const int n_ranks = int(plan.ranks.size());
  std::vector<RankModel> rm(n_ranks);
  for (int r = 0; r < n_ranks; ++r) rm[r] = ModelRank(plan, m, cal, o, r);

  const double E4 = double(c.n_embd) * sizeof(float);
  const double B = o.prefill_tokens;
  const double k = c.n_expert_used, N = std::max(1, c.n_expert);
  const double lat = link.latency_us * 1e-6, bw = link.bytes_per_s();
  const double per_byte = bw > 0 ? 1.0 / bw : 0.0;

  for (int r = 0; r < n_ranks; ++r) {
    RankCost rc;
    rc.rank = r;
    rc.stage = plan.ranks[r].stage;
    rc.read_gbs = rm[r].read_gbs;
    rc.threads = rm[r].threads;
    Work dw, pw;  // the whole token / batch
    for (const auto& [l, lw] : rm[r].layers) {
      Work d = lw.fixed, pf = lw.pf_fixed;
      if (lw.moe) {
        const bool all = lw.held_experts == c.n_expert;
        d.Add(lw.expert, all ? k : k * lw.held_experts / N);
        pf.Add(lw.pf_routed);
      }
      rc.decode.bytes += d.bytes, rc.decode.kv_bytes += d.kv_bytes, rc.decode.flops += d.flops;
      rc.decode.compute_s += d.compute_s, rc.decode.matrices += d.matrices;
      rc.prefill.bytes += pf.bytes, rc.prefill.kv_bytes += pf.kv_bytes;
      rc.prefill.flops += pf.flops, rc.prefill.compute_s += pf.compute_s;
      rc.prefill.matrices += pf.matrices;
      dw.Add(d), pw.Add(pf);
    }
    rc.decode.memory_s = rm[r].MemorySeconds(dw);
    rc.prefill.memory_s = rm[r].MemorySeconds(pw);
    rc.decode.compute_s = rm[r].ComputeSeconds(dw);
    rc.prefill.compute_s = rm[r].ComputeSeconds(pw);
    p.ranks.push_back(rc);
  }

  const int n_stages = plan.options.stages;
  for (int s = 0; s < n_stages; ++s) {
    const std::vector<int> idx = plan.StageRanks(s);
    if (idx.empty()) continue;
    StageCost sc;
    sc.stage = s;
    sc.n_ranks = int(idx.size());
    const model::Shard& s0 = plan.ranks[idx[0]].shard;
    // Layers of the stage, then the global tensors (-1).
    std::vector<int32_t> layers;
    for (int32_t l = s0.layers.begin; l < s0.layers.end; ++l) layers.push_back(l);
    layers.push_back(-1);
    for (int32_t l : layers) {
      // Decode: E[max over ranks] of memory, compute and their max.
      bool partition = false;  // whole experts split over the ranks
      std::vector<int> held;
      for (int r : idx) {
        auto it = rm[r].layers.find(l);
        const int h = it == rm[r].layers.end() ? 0 : it->second.held_experts;
        held.push_back(h);
        if (it != rm[r].layers.end() && it->second.moe && h != c.n_expert) partition = true;
      }
      const double t0 = cal.per_matrix_us * 1e-6;
      auto table = [&](int which) {  // 0 memory, 1 compute, 2 the slower + matrix costs
        std::vector<std::vector<double>> t;
        for (size_t i = 0; i < idx.size(); ++i) {
          const RankModel& x = rm[idx[i]];
          auto it = x.layers.find(l);
          const LayerWork lw = it == x.layers.end() ? LayerWork{} : it->second;
          const int cmax = partition ? std::min(held[i], c.n_expert_used) : 0;
          std::vector<double> row;
          for (int cnt = 0; cnt <= cmax; ++cnt) {
            Work w = lw.fixed;
            if (lw.moe) w.Add(lw.expert, partition ? double(cnt) : k);
            row.push_back(which == 0   ? x.MemorySeconds(w)
                          : which == 1 ? x.ComputeSeconds(w)
                                       : x.Seconds(w, t0));
          }
          t.push_back(row);
        }
        return t;
      };
      double mem, comp, busy;
      if (partition) {
        mem = ExpectedMaxTime(held, c.n_expert, c.n_expert_used, table(0));
        comp = ExpectedMaxTime(held, c.n_expert, c.n_expert_used, table(1));
        busy = ExpectedMaxTime(held, c.n_expert, c.n_expert_used, table(2));
      } else {
        mem = comp = busy = 0;
        for (const auto& row : table(0)) mem = Max2(mem, row[0]);
        for (const auto& row : table(1)) comp = Max2(comp, row[0]);
        for (const auto& row : table(2)) busy = Max2(busy, row[0]);
      }
      sc.decode.memory_s += mem, sc.decode.compute_s += comp, sc.decode.busy_s += busy;
      // Prefill: expectations, max over ranks.
      double pm = 0, pc = 0, pb = 0;
      for (int r : idx) {
        auto it = rm[r].layers.find(l);
        if (it == rm[r].layers.end()) continue;
        Work w = it->second.pf_fixed;
        w.Add(it->second.pf_routed);
        pm = Max2(pm, rm[r].MemorySeconds(w)), pc = Max2(pc, rm[r].ComputeSeconds(w));
        pb = Max2(pb, rm[r].Seconds(w, cal.per_matrix_us * 1e-6));
      }
      sc.prefill.memory_s += pm, sc.prefill.compute_s += pc, sc.prefill.busy_s += pb;
    }
    // Collectives: attention output and FFN / MoE per layer, the embedding when the
    // vocabulary is split over the first stage.
    if (sc.n_ranks > 1) {
      sc.n_allreduce = 2 * s0.layers.size();
      if (s0.first_stage && s0.vocab.size() != c.n_vocab) sc.n_allreduce += 1;
    }
    sc.allreduce_s = AllReduceSeconds(sc.n_ranks, E4, link, cal);
    sc.prefill_allreduce_s = AllReduceSeconds(sc.n_ranks, E4 * B, link, cal);
    sc.decode.comm_s = sc.n_allreduce * sc.allreduce_s;
    sc.prefill.comm_s = sc.n_allreduce * sc.prefill_allreduce_s;
    const double overhead = cal.per_layer_us * 1e-6 * s0.layers.size();
    sc.decode.seconds = sc.decode.busy_s + sc.decode.comm_s + overhead;
    sc.prefill.seconds = sc.prefill.busy_s + sc.prefill.comm_s + overhead;
    p.stages.push_back(sc);
  }

  // Pipeline hops: the stage's first rank sends n_tok x n_embd f32 to each rank of the next.
  double pf_hop = 0;
  for (size_t s = 0; s + 1 < p.stages.size(); ++s) {
    const double n_next = link.mesh ? 1 : p.stages[s + 1].n_ranks;
    p.hop_s += cal.send_latency_factor * lat + n_next * E4 * per_byte;
    pf_hop += cal.send_latency_factor * lat + n_next * E4 * B * per_byte;
  }
  // Logits of the last token gathered to rank 0 from every other rank of the last stage.
  if (n_ranks > 1) {
    double bytes = 0;  // what rank 0 receives (mesh: the largest slice, all in parallel)
    for (const RankPlan& r : plan.ranks) {
      if (r.rank == 0 || !r.shard.last_stage) continue;
      const double b = double(r.shard.vocab.size()) * 4;
      bytes = link.mesh ? std::max(bytes, b) : bytes + b;
    }
    p.gather_s = cal.send_latency_factor * lat + bytes * per_byte;
  }
  for (PhaseCost* ph : {&p.decode, &p.prefill}) {
    const bool dec = ph == &p.decode;
    for (const StageCost& sc : p.stages) {
      const PhaseCost& x = dec ? sc.decode : sc.prefill;
      ph->memory_s += x.memory_s, ph->compute_s += x.compute_s, ph->busy_s += x.busy_s;
      ph->comm_s += x.comm_s, ph->seconds += x.seconds;
    }
    const double extra = (dec ? p.hop_s : pf_hop) + p.gather_s;
    ph->comm_s += extra;
    ph->seconds += extra;
    ph->tok_s = ph->seconds > 0 ? (dec ? 1.0 : B) / ph->seconds : 0.0;
  }
  return p;
}

}  // namespace shoal::parallel
