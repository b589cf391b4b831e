// Plan as text (for people) and JSON (for tools and the workers).
#include <cstdio>
#include <string>

#include "parallel/plan.h"

namespace shoal::parallel {
namespace {

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", double(bytes) / double(1 << 20));
  return buf;
}

std::string R(model::Range r) {
  if (r.empty()) return "-";
  return std::to_string(r.begin) + "-" + std::to_string(r.end);
}

nlohmann::json RangeJson(model::Range r) { return nlohmann::json::array({r.begin, r.end}); }

StatusOr<model::Range> RangeFrom(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_array() || j[key].size() != 2 ||
      !j[key][0].is_number_integer() || !j[key][1].is_number_integer()) {
    return InvalidArgument(std::string("plan JSON: '") + key + "' must be [begin, end]");
  }
  return model::Range{j[key][0].get<int32_t>(), j[key][1].get<int32_t>()};
}

}  // namespace

std::string Plan::ToText() const {
  const model::ModelConfig& c = config;
  std::string s;
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "model: %s, %d layers, %d heads (%d KV), ffn %d, vocab %d; weights %s\n"
                "plan: %zu node(s), %d pipeline stage(s), tensor parallel within each; context "
                "%d\n",
                arch.c_str(), c.n_layer, c.n_head, c.n_head_kv, c.n_ff, c.n_vocab,
                Mib(model_weight_bytes).c_str(), nodes.size(), options.stages, options.n_ctx);
  s += buf;
  const bool moe = c.n_expert > 0;
  if (moe) {
    std::snprintf(buf, sizeof(buf),
                  "experts: %d routed (%d used per token), %d shared; %s, attention tensor "
                  "parallel\n",
                  c.n_expert, c.n_expert_used, c.n_expert_shared,
                  options.expert_split == ExpertSplit::kColumns
                      ? "each expert's columns split (expert columns)"
                      : "whole experts per rank (expert parallel)");
    s += buf;
  }
  std::snprintf(buf, sizeof(buf),
                "%-4s %-22s %-6s %6s %-7s %-7s %-6s %-11s %-13s %s%12s %12s %12s\n", "rank", "node",
                "stage", "share", "layers", "heads", "kv", "ffn", "vocab",
                moe ? "experts  exp_ff   shexp       " : "", "weights", "kv cache", "need/offer");
  s += buf;
  for (const RankPlan& r : ranks) {
    const NodeSpec& nd = nodes[r.rank];
    char ex[64] = "";
    if (moe) {
      std::snprintf(ex, sizeof(ex), "%-8s %-8s %-12s ", R(r.shard.experts).c_str(),
                    R(r.shard.exp_ff).c_str(), R(r.shard.shexp).c_str());
    }
    std::snprintf(buf, sizeof(buf),
                  "%-4d %-22s %-6d %6.3f %-7s %-7s %-6s %-11s %-13s %s%12s %12s %5.0f%%\n", r.rank,
                  (nd.name.empty() ? "-" : nd.name).c_str(), r.stage, r.share,
                  R(r.shard.layers).c_str(), R(r.shard.heads).c_str(), R(r.shard.kv_heads).c_str(),
                  R(r.shard.ff).c_str(), R(r.shard.vocab).c_str(), ex, Mib(r.weight_bytes).c_str(),
                  Mib(r.kv_bytes).c_str(),
                  nd.memory_bytes ? 100.0 * double(r.need_bytes) / double(nd.memory_bytes) : 0.0);
    s += buf;
  }
  std::snprintf(buf, sizeof(buf), "pooled memory %s: %s\n", Mib(pooled_memory_bytes).c_str(),
                fits ? "fits" : ("does not fit: " + why_not).c_str());
  s += buf;
  return s;
}

nlohmann::json Plan::ToJson() const {
  nlohmann::json j;
  j["arch"] = arch;
  j["n_layer"] = config.n_layer;
  j["n_head"] = config.n_head;
  j["n_head_kv"] = config.n_head_kv;
  j["n_ff"] = config.n_ff;
  j["n_vocab"] = config.n_vocab;
  j["n_ctx"] = options.n_ctx;
  j["stages"] = options.stages;
  j["expert_split"] = ExpertSplitName(options.expert_split);
  j["reserve_bytes"] = options.reserve_bytes;
  j["model_weight_bytes"] = model_weight_bytes;
  j["pooled_memory_bytes"] = pooled_memory_bytes;
  j["fits"] = fits;
  if (!fits) j["why_not"] = why_not;
  for (const NodeSpec& n : nodes) {
    j["nodes"].push_back({{"name", n.name},
                          {"memory_bytes", n.memory_bytes},
                          {"threads", n.threads},
                          {"bandwidth_gbs", n.bandwidth_gbs}});
  }
  for (const RankPlan& r : ranks) {
    j["ranks"].push_back({{"rank", r.rank},
                          {"stage", r.stage},
                          {"share", r.share},
                          {"layers", RangeJson(r.shard.layers)},
                          {"heads", RangeJson(r.shard.heads)},
                          {"kv_heads", RangeJson(r.shard.kv_heads)},
                          {"ff", RangeJson(r.shard.ff)},
                          {"vocab", RangeJson(r.shard.vocab)},
                          {"experts", RangeJson(r.shard.experts)},
                          {"exp_ff", RangeJson(r.shard.exp_ff)},
                          {"shexp", RangeJson(r.shard.shexp)},
                          {"first_stage", r.shard.first_stage},
                          {"last_stage", r.shard.last_stage},
                          {"weight_bytes", r.weight_bytes},
                          {"kv_bytes", r.kv_bytes},
                          {"need_bytes", r.need_bytes}});
  }
  return j;
}

StatusOr<Plan> Plan::FromJson(const nlohmann::json& j) {
  Plan p;
  try {
    p.arch = j.at("arch").get<std::string>();
    p.options.n_ctx = j.at("n_ctx").get<int32_t>();
    p.options.stages = j.at("stages").get<int>();
    SHOAL_ASSIGN_OR_RETURN(p.options.expert_split,
                           ParseExpertSplit(j.at("expert_split").get<std::string>()));
    p.fits = j.at("fits").get<bool>();
    for (const auto& n : j.at("nodes")) {
      p.nodes.push_back({n.at("name").get<std::string>(), n.at("memory_bytes").get<uint64_t>(),
                         n.at("threads").get<int>(), n.at("bandwidth_gbs").get<double>()});
    }
    for (const auto& r : j.at("ranks")) {
      RankPlan rp;
      rp.rank = r.at("rank").get<int>();
      rp.stage = r.at("stage").get<int>();
      rp.share = r.at("share").get<double>();
      SHOAL_ASSIGN_OR_RETURN(rp.shard.layers, RangeFrom(r, "layers"));
      SHOAL_ASSIGN_OR_RETURN(rp.shard.heads, RangeFrom(r, "heads"));
      SHOAL_ASSIGN_OR_RETURN(rp.shard.kv_heads, RangeFrom(r, "kv_heads"));
      SHOAL_ASSIGN_OR_RETURN(rp.shard.ff, RangeFrom(r, "ff"));
      SHOAL_ASSIGN_OR_RETURN(rp.shard.vocab, RangeFrom(r, "vocab"));
      SHOAL_ASSIGN_OR_RETURN(rp.shard.experts, RangeFrom(r, "experts"));
      SHOAL_ASSIGN_OR_RETURN(rp.shard.exp_ff, RangeFrom(r, "exp_ff"));
      SHOAL_ASSIGN_OR_RETURN(rp.shard.shexp, RangeFrom(r, "shexp"));
      rp.shard.first_stage = r.at("first_stage").get<bool>();
      rp.shard.last_stage = r.at("last_stage").get<bool>();
      rp.weight_bytes = r.at("weight_bytes").get<uint64_t>();
      rp.kv_bytes = r.at("kv_bytes").get<uint64_t>();
      rp.need_bytes = r.at("need_bytes").get<uint64_t>();
      if (rp.rank != int(p.ranks.size())) return InvalidArgument("plan JSON: ranks out of order");
      p.ranks.push_back(rp);
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("plan JSON: ") + e.what());
  }
  if (p.ranks.size() != p.nodes.size() || p.ranks.empty()) {
    return InvalidArgument("plan JSON: " + std::to_string(p.ranks.size()) + " ranks for " +
                           std::to_string(p.nodes.size()) + " nodes");
  }
  return p;
}

}  // namespace shoal::parallel
