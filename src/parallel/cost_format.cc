// Parsing of link and node descriptions for the cost model, and the Prediction as text and JSON.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <utility>

#include "parallel/cost.h"

namespace shoal::parallel {

namespace {

// "5us" -> (5, "us"); false when no number leads.
bool SplitNumber(const std::string& s, double* x, std::string* unit) {
  char* end = nullptr;
  *x = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || !std::isfinite(*x) || *x < 0) return false;
  *unit = std::string(end);
  for (char& ch : *unit) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return true;
}

std::string Fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, x);
  return buf;
}

// 1234.5 us -> "1.23 ms"; seconds in.
std::string Time(double s) {
  if (s >= 1.0) return Fmt("%.2f s", s);
  if (s >= 1e-3) return Fmt("%.2f ms", s * 1e3);
  return Fmt("%.1f us", s * 1e6);
}

std::string Bytes(double b) {
  if (b >= 1e9) return Fmt("%.2f GB", b / 1e9);
  if (b >= 1e6) return Fmt("%.1f MB", b / 1e6);
  if (b >= 1e3) return Fmt("%.1f KB", b / 1e3);
  return Fmt("%.0f B", b);
}

nlohmann::json PhaseJson(const PhaseCost& p) {
  return {{"memory_s", p.memory_s}, {"compute_s", p.compute_s}, {"busy_s", p.busy_s},
          {"comm_s", p.comm_s},     {"seconds", p.seconds},     {"tok_s", p.tok_s}};
}

nlohmann::json RankPhaseJson(const RankPhase& p) {
  return {{"bytes", p.bytes},       {"kv_bytes", p.kv_bytes},   {"flops", p.flops},
          {"memory_s", p.memory_s}, {"compute_s", p.compute_s}, {"matrices", p.matrices}};
}

}  // namespace

std::string LinkSpec::ToString() const {
  return Fmt("lat=%gus", latency_us) + Fmt(",bw=%gGbit", bandwidth_gbits) + (mesh ? ",mesh" : "");
}

StatusOr<LinkSpec> ParseLinkSpec(const std::string& text) {
  // This machine's own links between 2 processes (docs/cost-model.md: shoal_comm_bench's
  // library, 2 ranks, busy poll, 15:01 UTC), fitted to the decode-sized all-reduce of 28 KiB:
  // shm round trip 4.0 us, all-reduce 6.4 us; tcp loopback round trip 24.5 us, all-reduce
  // 20.5 us. (MiB-sized all-reduces run at only 1.2-2 GB/s here: the 2 cores also add.)
  if (text == "none") return LinkSpec{};
  if (text == "shm") return LinkSpec{2.0, 100.0};
  if (text == "tcp") return LinkSpec{9.0, 40.0};
  LinkSpec l;
  std::stringstream ss(text);
  std::string item;
  bool have_bw = false;
  while (std::getline(ss, item, ',')) {
    if (item == "mesh") {
      l.mesh = true;
      continue;
    }
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument("link '" + text + "': '" + item + "' is not key=value (or mesh)");
    }
    const std::string key = item.substr(0, eq);
    double x;
    std::string unit;
    if (!SplitNumber(item.substr(eq + 1), &x, &unit)) {
      return InvalidArgument("link '" + text + "': bad number in '" + item + "'");
    }
    if (key == "lat") {
      if (unit == "ns") {
        l.latency_us = x / 1e3;
      } else if (unit.empty() || unit == "us") {
        l.latency_us = x;
      } else if (unit == "ms") {
        l.latency_us = x * 1e3;
      } else {
        return InvalidArgument("link '" + text + "': latency unit '" + unit + "' (ns, us, ms)");
      }
    } else if (key == "bw") {
      have_bw = true;
      if (unit.empty() || unit == "gbit" || unit == "gbit/s" || unit == "gbps") {
        l.bandwidth_gbits = x;
      } else if (unit == "mbit" || unit == "mbit/s") {
        l.bandwidth_gbits = x / 1e3;
      } else if (unit == "gb" || unit == "gb/s" || unit == "gbyte" || unit == "gbyte/s") {
        l.bandwidth_gbits = x * 8;
      } else {
        return InvalidArgument("link '" + text + "': bandwidth unit '" + unit +
                               "' (Gbit, Mbit, or GB for gigabytes per second)");
      }
    } else {
      return InvalidArgument("link '" + text + "': unknown key '" + key + "' (lat=, bw=)");
    }
  }
  if (!have_bw || l.bandwidth_gbits <= 0) {
    return InvalidArgument("link '" + text + "': bw= is required and must be positive");
  }
  return l;
}

StatusOr<ClusterNode> ParseClusterNode(const std::string& text) {
  ClusterNode out;
  std::stringstream ss(text);
  std::string item, rest;
  while (std::getline(ss, item, ',')) {
    const size_t eq = item.find('=');
    const std::string key = eq == std::string::npos ? item : item.substr(0, eq);
    if (key == "cores") {
      item = "threads" + item.substr(eq);
    } else if (key == "gflops") {
      double x;
      std::string unit;
      if (!SplitNumber(item.substr(eq + 1), &x, &unit) || !unit.empty() || x <= 0) {
        return InvalidArgument("node spec '" + text + "': bad gflops in '" + item + "'");
      }
      out.gflops_per_thread = x;
      continue;
    }
    rest += (rest.empty() ? "" : ",") + item;
  }
  SHOAL_ASSIGN_OR_RETURN(out.node, ParseNodeSpec(rest));
  return out;
}

double Calibration::GflopsPerThread(DType t) const {
  if (t == DType::kQ4_0) return gflops_q4_0;
  if (t == DType::kQ8_0) return gflops_q8_0;
  if (t == DType::kQ4_K) return gflops_q4_k;
  if (t == DType::kF16) return gflops_f16;
  return gflops_other;
}

double Calibration::DecodeGflopsPerThread(DType t) const {
  if (t == DType::kQ4_K) return decode_gflops_q4_k;
  return GflopsPerThread(t);
}

nlohmann::json Calibration::ToJson() const {
  return {{"decode_bw_efficiency", decode_bw_efficiency},
          {"expert_bw_efficiency", expert_bw_efficiency},
          {"read_gbs_per_thread", read_gbs_per_thread},
          {"gflops_q4_0", gflops_q4_0},
          {"gflops_q8_0", gflops_q8_0},
          {"gflops_q4_k", gflops_q4_k},
          {"gflops_f16", gflops_f16},
          {"gflops_other", gflops_other},
          {"decode_gflops_q4_k", decode_gflops_q4_k},
          {"attention_gflops", attention_gflops},
          {"attention_ns_per_head_position", attention_ns_per_head_position},
          {"direct_latency_factor", direct_latency_factor},
          {"ring_step_latency_factor", ring_step_latency_factor},
          {"send_latency_factor", send_latency_factor},
          {"per_collective_us", per_collective_us},
          {"per_matrix_us", per_matrix_us},
          {"per_layer_us", per_layer_us},
          {"direct_max_bytes", direct_max_bytes}};
}

Status Calibration::Set(const std::string& text) {
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t eq = item.find('=');
    double x;
    std::string unit;
    if (eq == std::string::npos || !SplitNumber(item.substr(eq + 1), &x, &unit) || !unit.empty()) {
      return InvalidArgument("calibration '" + text + "': '" + item + "' is not key=number");
    }
    const std::string key = item.substr(0, eq);
    const std::pair<const char*, double*> fields[] = {
        {"decode_bw_efficiency", &decode_bw_efficiency},
        {"expert_bw_efficiency", &expert_bw_efficiency},
        {"read_gbs_per_thread", &read_gbs_per_thread},
        {"gflops_q4_0", &gflops_q4_0},
        {"gflops_q8_0", &gflops_q8_0},
        {"gflops_q4_k", &gflops_q4_k},
        {"gflops_f16", &gflops_f16},
        {"gflops_other", &gflops_other},
        {"decode_gflops_q4_k", &decode_gflops_q4_k},
        {"attention_gflops", &attention_gflops},
        {"attention_ns_per_head_position", &attention_ns_per_head_position},
        {"direct_latency_factor", &direct_latency_factor},
        {"ring_step_latency_factor", &ring_step_latency_factor},
        {"send_latency_factor", &send_latency_factor},
        {"per_collective_us", &per_collective_us},
        {"per_matrix_us", &per_matrix_us},
        {"per_layer_us", &per_layer_us}};
    bool found = false;
    for (const auto& [name, field] : fields) {
      if (key == name) *field = x, found = true;
    }
    if (key == "direct_max_bytes") direct_max_bytes = uint64_t(x), found = true;
    if (!found) return InvalidArgument("calibration: unknown key '" + key + "'");
  }
  const bool positive = decode_bw_efficiency > 0 && expert_bw_efficiency > 0 &&
                        read_gbs_per_thread > 0 && gflops_q4_0 > 0 && gflops_q8_0 > 0 &&
                        gflops_q4_k > 0 && gflops_f16 > 0 && gflops_other > 0 &&
                        decode_gflops_q4_k > 0 && attention_gflops > 0;
  if (!positive) return InvalidArgument("calibration: efficiencies and rates must be positive");
  return Status::Ok();
}

nlohmann::json Prediction::ToJson() const {
  nlohmann::json j;
  j["position"] = options.position;
  j["prefill_tokens"] = options.prefill_tokens;
  j["link"] = {{"latency_us", link.latency_us},
               {"bandwidth_gbits", link.bandwidth_gbits},
               {"mesh", link.mesh}};
  j["calibration"] = calibration.ToJson();
  j["fits"] = fits;
  j["kv_bytes_per_token"] = kv_bytes_per_token;
  j["ranks"] = nlohmann::json::array();
  for (const RankCost& r : ranks) {
    j["ranks"].push_back({{"rank", r.rank},
                          {"stage", r.stage},
                          {"read_gb_s", r.read_gbs},
                          {"threads", r.threads},
                          {"decode", RankPhaseJson(r.decode)},
                          {"prefill", RankPhaseJson(r.prefill)}});
  }
  j["stages"] = nlohmann::json::array();
  for (const StageCost& s : stages) {
    j["stages"].push_back({{"stage", s.stage},
                           {"n_ranks", s.n_ranks},
                           {"n_allreduce", s.n_allreduce},
                           {"allreduce_s", s.allreduce_s},
                           {"prefill_allreduce_s", s.prefill_allreduce_s},
                           {"decode", PhaseJson(s.decode)},
                           {"prefill", PhaseJson(s.prefill)}});
  }
  j["hop_s"] = hop_s;
  j["gather_s"] = gather_s;
  j["decode"] = PhaseJson(decode);
  j["prefill"] = PhaseJson(prefill);
  return j;
}

std::string Prediction::ToText() const {
  std::ostringstream o;
  o << "prediction: decode at position " << options.position << ", prefill of "
    << options.prefill_tokens << " tokens; link " << link.ToString()
    << "; calibration: docs/cost-model.md\n";
  if (!fits) o << "  (the plan does not fit: what it would do if it did)\n";
  o << "  KV cache: " << kv_bytes_per_token << " bytes per token (f16)\n";
  char line[256];
  std::snprintf(line, sizeof(line), "  %-4s %-5s %8s %7s %12s %10s %10s %10s %12s\n", "rank",
                "stage", "GB/s", "threads", "read/token", "KV/token", "memory", "compute",
                "prefill/tok");
  o << line;
  for (const RankCost& r : ranks) {
    std::snprintf(line, sizeof(line), "  %-4d %-5d %8.1f %7d %12s %10s %10s %10s %12s\n", r.rank,
                  r.stage, r.read_gbs, r.threads, Bytes(r.decode.bytes).c_str(),
                  Bytes(r.decode.kv_bytes).c_str(), Time(r.decode.memory_s).c_str(),
                  Time(r.decode.compute_s).c_str(),
                  Time(r.prefill.compute_s / options.prefill_tokens).c_str());
    o << line;
  }
  for (const StageCost& s : stages) {
    if (s.n_ranks < 2) continue;
    o << "  stage " << s.stage << ": " << s.n_ranks << " ranks, " << s.n_allreduce
      << " all-reduces per token x " << Time(s.allreduce_s) << " = " << Time(s.decode.comm_s)
      << " (prefill: " << Time(s.prefill_allreduce_s) << " each)\n";
  }
  if (hop_s > 0) o << "  pipeline hops: " << Time(hop_s) << " per token\n";
  if (gather_s > 0) o << "  logits gather: " << Time(gather_s) << " per token\n";
  auto phase = [&](const char* name, const PhaseCost& p, const char* unit) {
    std::snprintf(line, sizeof(line),
                  "%s: %.1f tok/s = %s %s: memory %s, compute %s (per layer the slower of the "
                  "two on the busiest rank: %s), communication %s\n",
                  name, p.tok_s, Time(p.seconds).c_str(), unit, Time(p.memory_s).c_str(),
                  Time(p.compute_s).c_str(), Time(p.busy_s).c_str(), Time(p.comm_s).c_str());
    o << line;
  };
  phase("decode", decode, "per token");
  phase("prefill", prefill, "per batch");
  return o.str();
}

}  // namespace shoal::parallel
