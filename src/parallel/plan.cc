#include "parallel/plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <sstream>

namespace shoal::parallel {

using model::Range;
using model::Shard;

namespace {

std::string GiB(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", double(bytes) / double(uint64_t{1} << 30));
  return buf;
}

// Exact bytes of the slices a shard holds.
uint64_t ShardWeightBytes(const ModelDesc& m, const Shard& s) {
  uint64_t bytes = 0;
  for (const ModelDesc::Tensor& t : m.tensors) {
    const model::TensorSlice sl = model::SliceFor(m.config, s, t.spec);
    if (!sl.held) continue;
    const int64_t cols = sl.col_end - sl.col_begin;
    if (!t.spec.matrix) {
      bytes += uint64_t(cols) * sizeof(float);  // 1-D tensors are held as f32
    } else {
      bytes += uint64_t(sl.held_rows()) * RowBytes(t.type, cols);
    }
  }
  return bytes;
}

// The largest quantization block along the columns of the tensors of `role`.
int32_t ColumnBlock(const ModelDesc& m, model::TensorRole role) {
  int32_t block = 1;
  for (const ModelDesc::Tensor& t : m.tensors) {
    if (t.spec.role == role) block = std::lcm(block, int32_t(Info(t.type).block_values));
  }
  return block;
}

// The stage's shard with `share` of every dimension at once (for the linear memory model).
Shard StageShard(const model::ModelConfig& c, Range layers, bool first, bool last, bool full) {
  Shard s = Shard::Whole(c);
  s.layers = layers;
  s.first_stage = first;
  s.last_stage = last;
  if (!full) s.heads = s.kv_heads = s.ff = s.vocab = s.experts = s.exp_ff = s.shexp = Range{};
  return s;
}

}  // namespace

uint64_t ModelDesc::weight_bytes() const {
  uint64_t b = 0;
  for (const Tensor& t : tensors) {
    const int64_t cols = t.spec.shape[0];
    int64_t rows = 1;  // 3-D expert tensors: shape[1] * shape[2] rows
    for (size_t i = 1; i < t.spec.shape.size(); ++i) rows *= t.spec.shape[i];
    b += uint64_t(rows) * RowBytes(t.type, cols);
  }
  return b;
}

StatusOr<ModelDesc> DescribeModel(const gguf::File& file) {
  ModelDesc d;
  SHOAL_ASSIGN_OR_RETURN(d.config, model::ParseConfig(file.metadata(), &file));
  Status status;
  model::FindArch(d.config.arch)->for_each_tensor(d.config, [&](const model::TensorSpec& spec) {
    if (!status.ok()) return;
    const gguf::TensorInfo* t = file.FindTensor(spec.name);
    if (t == nullptr) {
      status = NotFound("tensor '" + spec.name + "' is missing");
      return;
    }
    d.tensors.push_back({spec, t->type});
  });
  SHOAL_RETURN_IF_ERROR(status);
  return d;
}

StatusOr<NodeSpec> ParseNodeSpec(const std::string& text) {
  NodeSpec n;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument("node spec '" + text + "': '" + item + "' is not key=value");
    }
    const std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    char* end = nullptr;
    if (key == "name") {
      n.name = val;
      continue;
    }
    const double x = std::strtod(val.c_str(), &end);
    if (end == val.c_str() || !std::isfinite(x) || x < 0) {
      return InvalidArgument("node spec '" + text + "': bad number in '" + item + "'");
    }
    std::string unit(end);
    if (key == "mem") {
      double scale = 1;
      if (!unit.empty()) {
        const std::string units = "KMGT";
        const size_t u = units.find(char(std::toupper(unit[0])));
        const std::string rest = unit.substr(1);
        if (u == std::string::npos ||
            !(rest.empty() || rest == "B" || rest == "iB" || rest == "b" || rest == "ib")) {
          return InvalidArgument("node spec '" + text + "': unknown memory unit '" + unit + "'");
        }
        scale = std::pow(1024.0, double(u + 1));
      }
      n.memory_bytes = uint64_t(x * scale);
    } else if (key == "threads" && unit.empty() && x >= 1 && x <= 4096 && x == std::floor(x)) {
      n.threads = int(x);
    } else if (key == "bw" && (unit.empty() || unit == "GB/s")) {
      n.bandwidth_gbs = x;
    } else {
      return InvalidArgument("node spec '" + text + "': unknown or bad item '" + item +
                             "' (expected mem=, threads=, bw=, name=)");
    }
  }
  if (n.memory_bytes == 0) return InvalidArgument("node spec '" + text + "': mem= is required");
  return n;
}

std::vector<Range> Apportion(int32_t units, int32_t unit, const std::vector<double>& weights) {
  const size_t n = weights.size();
  std::vector<Range> out(n);
  if (n == 0) return out;
  double total = 0;
  for (double w : weights) total += std::max(0.0, w);
  std::vector<int32_t> count(n, 0);
  std::vector<std::pair<double, size_t>> frac;
  int32_t given = 0;
  for (size_t i = 0; i < n; ++i) {
    const double q =
        total > 0 ? double(units) * std::max(0.0, weights[i]) / total : double(units) / double(n);
    count[i] = int32_t(std::floor(q));
    given += count[i];
    frac.push_back({q - count[i], i});
  }
  // Largest remainders first; ties go to the lower index (deterministic).
  std::stable_sort(frac.begin(), frac.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; given < units; k = (k + 1) % n) {
    if (total > 0 && weights[frac[k].second] <= 0) continue;
    ++count[frac[k].second];
    ++given;
  }
  int32_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    out[i] = Range{at * unit, (at + count[i]) * unit};
    at += count[i];
  }
  return out;
}

StatusOr<Plan> MakePlan(const ModelDesc& m, const std::vector<NodeSpec>& nodes,
                        const PlanOptions& o) {
  const model::ModelConfig& c = m.config;
  const int n = int(nodes.size());
  if (n == 0) return InvalidArgument("plan: no nodes");
  if (o.stages < 1 || o.stages > n || o.stages > c.n_layer) {
    return InvalidArgument("plan: " + std::to_string(o.stages) + " pipeline stages for " +
                           std::to_string(n) + " nodes and " + std::to_string(c.n_layer) +
                           " layers (need 1 <= stages <= both)");
  }
  if (o.n_ctx <= 0) return InvalidArgument("plan: context length must be positive");
  if (o.kv_tokens < 0 || o.kv_tokens > (int64_t{1} << 30)) {
    return InvalidArgument("plan: KV cache tokens out of range");
  }
  const int32_t kv_slots = o.kv_tokens > 0 ? int32_t(o.kv_tokens) : o.n_ctx;
  Plan p;
  p.arch = c.arch;
  p.config = c;
  p.nodes = nodes;
  p.options = o;
  p.model_weight_bytes = m.weight_bytes();
  for (const NodeSpec& nd : nodes) p.pooled_memory_bytes += nd.memory_bytes;

  // Capacity: bandwidth when every node knows it, else threads.
  bool all_bw = true;
  for (const NodeSpec& nd : nodes) all_bw = all_bw && nd.bandwidth_gbs > 0;
  std::vector<double> cap(n);
  for (int i = 0; i < n; ++i) cap[i] = all_bw ? nodes[i].bandwidth_gbs : double(nodes[i].threads);

  // Stages: contiguous groups of nodes; layers in proportion to each group's capacity.
  std::vector<std::vector<int>> stage_nodes(o.stages);
  const std::vector<Range> node_split = Apportion(n, 1, std::vector<double>(o.stages, 1.0));
  std::vector<double> stage_cap(o.stages, 0.0);
  for (int s = 0; s < o.stages; ++s) {
    for (int i = node_split[s].begin; i < node_split[s].end; ++i) {
      stage_nodes[s].push_back(i);
      stage_cap[s] += cap[i];
    }
  }
  // Every stage needs at least one layer: apportion the rest by capacity.
  std::vector<Range> layers = Apportion(c.n_layer - o.stages, 1, stage_cap);
  for (int s = 0; s < o.stages; ++s) layers[s] = Range{layers[s].begin + s, layers[s].end + s + 1};

  // attn_output columns per head (MLA: the value width before absorption).
  const int32_t head_out = c.mla ? c.mla_v_dim : c.head_dim_v;
  const int32_t head_block = ColumnBlock(m, model::TensorRole::kAttnOut);
  int32_t head_unit = head_block / std::gcd(head_block, head_out);
  if (c.n_head % head_unit != 0) head_unit = c.n_head;
  const int32_t ff_unit = std::max(1, ColumnBlock(m, model::TensorRole::kFfnDown));
  // Expert parallelism: whole experts, and the shared experts' hidden columns in blocks of
  // ffn_down_shexp's quantization.
  const int32_t n_shexp = c.n_ff_exp * c.n_expert_shared;
  int32_t exp_unit = std::max(1, ColumnBlock(m, model::TensorRole::kFfnDownExps));
  if (c.n_expert > 0 && c.n_ff_exp % exp_unit != 0) exp_unit = c.n_ff_exp;
  if (p.options.expert_split == ExpertSplit::kAuto) {
    size_t widest = 0;
    for (const std::vector<int>& sn : stage_nodes) widest = std::max(widest, sn.size());
    const bool fine = c.n_expert > 0 && size_t(c.n_ff_exp / exp_unit) >= widest;
    p.options.expert_split = fine ? ExpertSplit::kColumns : ExpertSplit::kExperts;
  }
  const bool expert_columns = p.options.expert_split == ExpertSplit::kColumns && c.n_expert > 0;
  int32_t shexp_unit = std::max(1, ColumnBlock(m, model::TensorRole::kFfnDownShexp));
  if (n_shexp % shexp_unit != 0) shexp_unit = std::max(1, n_shexp);
  const int32_t group = c.n_head / c.n_head_kv;

  p.ranks.resize(n);
  for (int s = 0; s < o.stages; ++s) {
    const std::vector<int>& idx = stage_nodes[s];
    const bool first = s == 0, last = s == o.stages - 1;
    // Linear memory model of a rank of this stage: fixed + share * (split weights + KV).
    const uint64_t fixed = ShardWeightBytes(m, StageShard(c, layers[s], first, last, false));
    const uint64_t full = ShardWeightBytes(m, StageShard(c, layers[s], first, last, true));
    const uint64_t kv_full =
        model::ShardKvCacheBytes(c, StageShard(c, layers[s], first, last, true), kv_slots);
    // An MLA latent cache is the same on every rank of the stage (not split by share).
    const uint64_t fixed_kv = c.mla ? kv_full : 0;
    const double per_share = double(full - fixed + kv_full - fixed_kv);
    std::vector<double> max_share(idx.size()), share(idx.size(), 0.0);
    for (size_t k = 0; k < idx.size(); ++k) {
      const double room =
          double(nodes[idx[k]].memory_bytes) - double(o.reserve_bytes + fixed + fixed_kv);
      max_share[k] = per_share > 0 ? std::clamp(room / per_share, 0.0, 1.0) : 1.0;
    }
    // Water-filling: shares follow capacity; a node over its memory is capped at what fits.
    // Rounding to whole units can still push a capped node over: then its cap shrinks by the
    // excess and the split is made again.
    for (int attempt = 0; attempt < 8; ++attempt) {
      std::vector<bool> capped(idx.size(), false);
      for (size_t round = 0; round <= idx.size(); ++round) {
        double left = 1.0, cap_free = 0.0;
        for (size_t k = 0; k < idx.size(); ++k) {
          if (capped[k]) {
            left -= share[k];
          } else {
            cap_free += cap[idx[k]];
          }
        }
        bool changed = false;
        for (size_t k = 0; k < idx.size(); ++k) {
          if (capped[k]) continue;
          share[k] = cap_free > 0 ? std::max(0.0, left) * cap[idx[k]] / cap_free : 0.0;
          if (share[k] > max_share[k]) share[k] = max_share[k], capped[k] = changed = true;
        }
        if (!changed) break;
      }
      const std::vector<Range> heads = Apportion(c.n_head / head_unit, head_unit, share);
      const std::vector<Range> ff = Apportion(c.n_ff / ff_unit, ff_unit, share);
      const std::vector<Range> vocab = Apportion(c.n_vocab, 1, share);
      std::vector<Range> experts(idx.size(), Range{0, c.n_expert});
      std::vector<Range> exp_ff(idx.size(), Range{0, c.n_expert > 0 ? c.n_ff_exp : 0});
      if (expert_columns) {
        exp_ff = Apportion(c.n_ff_exp / exp_unit, exp_unit, share);
      } else {
        experts = Apportion(c.n_expert, 1, share);
      }
      const std::vector<Range> shexp =
          Apportion(n_shexp / std::max(1, shexp_unit), shexp_unit, share);
      bool over = false;
      for (size_t k = 0; k < idx.size(); ++k) {
        RankPlan& r = p.ranks[idx[k]];
        r.rank = idx[k];
        r.stage = s;
        r.share = share[k];
        r.shard = StageShard(c, layers[s], first, last, true);
        r.shard.heads = heads[k];
        r.shard.kv_heads = heads[k].empty()
                               ? Range{}
                               : Range{heads[k].begin / group, (heads[k].end - 1) / group + 1};
        r.shard.ff = ff[k];
        r.shard.vocab = vocab[k];
        r.shard.experts = experts[k];
        r.shard.exp_ff = exp_ff[k];
        r.shard.shexp = shexp[k];
        r.weight_bytes = ShardWeightBytes(m, r.shard);
        r.kv_bytes = model::ShardKvCacheBytes(c, r.shard, kv_slots);
        r.need_bytes = r.weight_bytes + r.kv_bytes + o.reserve_bytes;
        const double mem = double(nodes[idx[k]].memory_bytes);
        if (double(r.need_bytes) > mem && share[k] > 0) {
          const double excess = (double(r.need_bytes) - mem) / per_share;
          max_share[k] = std::max(0.0, std::min(max_share[k], share[k]) - excess * 1.01 - 1e-6);
          over = true;
        }
      }
      if (!over) break;
    }
  }

  p.fits = true;
  const uint64_t kv_total = c.KvCacheBytes(kv_slots);
  const uint64_t model_need = p.model_weight_bytes + kv_total;
  if (model_need + uint64_t(n) * o.reserve_bytes > p.pooled_memory_bytes) {
    p.fits = false;
    p.why_not = "the model needs " + GiB(model_need) + " (weights " + GiB(p.model_weight_bytes) +
                " + f16 KV cache " + GiB(kv_total) + " for " + std::to_string(kv_slots) +
                " tokens" + ") plus " + GiB(o.reserve_bytes) + " per node, but the " +
                std::to_string(n) + " node(s) pool only " + GiB(p.pooled_memory_bytes);
    return p;
  }
  for (const RankPlan& r : p.ranks) {
    if (r.need_bytes > nodes[r.rank].memory_bytes) {
      p.fits = false;
      p.why_not = "node " + std::to_string(r.rank) + " (" + nodes[r.rank].name + ") would need " +
                  GiB(r.need_bytes) + " (weights " + GiB(r.weight_bytes) + " + KV " +
                  GiB(r.kv_bytes) + " + reserve " + GiB(o.reserve_bytes) + ") but offers " +
                  GiB(nodes[r.rank].memory_bytes) +
                  (o.stages > 1 ? "; try fewer pipeline stages" : "");
      break;
    }
  }
  return p;
}

StatusOr<ExpertSplit> ParseExpertSplit(const std::string& s) {
  if (s == "auto") return ExpertSplit::kAuto;
  if (s == "experts") return ExpertSplit::kExperts;
  if (s == "columns") return ExpertSplit::kColumns;
  return InvalidArgument("expert split '" + s + "': expected auto, experts or columns");
}

const char* ExpertSplitName(ExpertSplit s) {
  switch (s) {
    case ExpertSplit::kAuto:
      return "auto";
    case ExpertSplit::kExperts:
      return "experts";
    case ExpertSplit::kColumns:
      return "columns";
  }
  return "?";
}

std::vector<int> Plan::StageRanks(int stage) const {
  std::vector<int> out;
  for (const RankPlan& r : ranks) {
    if (r.stage == stage) out.push_back(r.rank);
  }
  return out;
}

}  // namespace shoal::parallel
