#include "cluster/job_parse.h"

#include <cstdint>
#include <cstdio>

#include "format/gguf.h"

namespace shoal::cluster {
namespace {

// An integer field in [lo, hi] (a float, however large, is refused before any conversion).
StatusOr<int64_t> Int(const nlohmann::json& x, int64_t lo, int64_t hi, const char* what) {
  if (!x.is_number_integer() || (x.is_number_unsigned() && x.get<uint64_t>() > uint64_t(hi))) {
    return Corrupt(std::string("the job's ") + what + " is not an integer in range");
  }
  const int64_t v = x.get<int64_t>();
  if (v < lo || v > hi) return Corrupt(std::string("the job's ") + what + " is out of range");
  return v;
}

std::string Hex64(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

StatusOr<uint64_t> ParseHex64(const std::string& s, const char* what) {
  if (s.empty() || s.size() > 16 || s.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Corrupt(std::string("the job's ") + what + " is not 1..16 hex digits");
  }
  return uint64_t(std::stoull(s, nullptr, 16));
}

}  // namespace

std::string JobText(const JobMessage& m) {
  if (!m.ok) {
    nlohmann::json j = {{"ok", false}, {"error", m.error}};
    if (m.upgrade_bytes > 0) {
      j["upgrade"] = {{"bytes", m.upgrade_bytes}, {"digest", m.upgrade_digest.Hex()}};
    }
    return j.dump();
  }
  uint64_t total = 0;
  for (uint64_t b : m.part_bytes) total += b;
  return nlohmann::json({{"ok", true},
                         {"model_path", m.model_path},
                         {"model_id", m.model_id.Hex()},
                         {"model_bytes", total},
                         {"model_parts", m.part_bytes},
                         {"n_ctx", m.n_ctx},
                         {"kv_blocks", m.kv_blocks},
                         {"io_timeout_ms", m.io_timeout_ms},
                         {"pool", Hex64(m.pool)},
                         {"epoch", Hex64(m.epoch)},
                         {"heartbeat_ms", m.heartbeat_ms},
                         {"plan", m.plan}})
      .dump();
}

StatusOr<JobMessage> ParseJob(std::string_view text, int group_size) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Corrupt("rank 0 sent a job that is not JSON");
  JobMessage m;
  try {
    m.ok = j.at("ok").get<bool>();
    if (!m.ok) {
      m.error = j.value("error", std::string("(no reason)")).substr(0, 4096);
      if (j.contains("upgrade")) {
        const nlohmann::json& u = j.at("upgrade");
        SHOAL_ASSIGN_OR_RETURN(const int64_t b,
                               Int(u.at("bytes"), 1, int64_t{1} << 30, "upgrade size"));
        auto d = gguf::ParseDigest(u.at("digest").get<std::string>());
        if (!d.ok()) return Corrupt("the upgrade's digest: " + d.status().message());
        m.upgrade_bytes = uint64_t(b);
        m.upgrade_digest = *d;
      }
      return m;
    }
    m.model_path = j.at("model_path").get<std::string>();
    if (m.model_path.empty() || m.model_path.size() > kMaxModelPathBytes ||
        m.model_path.find('\0') != std::string::npos) {
      return Corrupt("the job's model path is empty, too long or holds a NUL");
    }
    auto id = gguf::ParseDigest(j.at("model_id").get<std::string>());
    if (!id.ok()) return Corrupt("the job's model_id: " + id.status().message());
    m.model_id = *id;
    const nlohmann::json& parts = j.at("model_parts");
    if (!parts.is_array() || parts.empty() || parts.size() > size_t(gguf::kMaxSplits)) {
      return Corrupt("the job lists " + std::to_string(parts.size()) + " model files");
    }
    uint64_t total = 0;
    for (const nlohmann::json& p : parts) {
      SHOAL_ASSIGN_OR_RETURN(const int64_t b, Int(p, 1, int64_t{1} << 50, "model file size"));
      total += b;
      m.part_bytes.push_back(b);
    }
    SHOAL_ASSIGN_OR_RETURN(const int64_t bytes,
                           Int(j.at("model_bytes"), 0, INT64_MAX, "model_bytes"));
    if (uint64_t(bytes) != total) {
      return Corrupt("the job's model_bytes is not the sum of its files");
    }
    SHOAL_ASSIGN_OR_RETURN(const int64_t n_ctx,
                           Int(j.at("n_ctx"), 1, kMaxJobContext, "context length"));
    m.n_ctx = int32_t(n_ctx);
    SHOAL_ASSIGN_OR_RETURN(const int64_t kv_blocks,
                           Int(j.value("kv_blocks", nlohmann::json(0)), 0, 1 << 26, "KV blocks"));
    m.kv_blocks = int32_t(kv_blocks);
    SHOAL_ASSIGN_OR_RETURN(
        const int64_t io_timeout,
        Int(j.value("io_timeout_ms", nlohmann::json(-1)), -1, 24 * 3600 * 1000, "I/O timeout"));
    m.io_timeout_ms = int32_t(io_timeout);
    SHOAL_ASSIGN_OR_RETURN(m.pool, ParseHex64(j.value("pool", std::string("0")), "pool id"));
    SHOAL_ASSIGN_OR_RETURN(m.epoch, ParseHex64(j.value("epoch", std::string("0")), "epoch"));
    SHOAL_ASSIGN_OR_RETURN(const int64_t heartbeat,
                           Int(j.value("heartbeat_ms", nlohmann::json(0)), 0, 600000, "heartbeat"));
    m.heartbeat_ms = int32_t(heartbeat);
    m.plan = j.at("plan");
    if (!m.plan.is_object()) return Corrupt("the job's plan is not an object");
    const nlohmann::json& ranks = m.plan.at("ranks");
    if (!ranks.is_array() || ranks.size() != size_t(group_size)) {
      return Corrupt("the plan has " + std::to_string(ranks.is_array() ? ranks.size() : 0) +
                     " ranks, the group " + std::to_string(group_size));
    }
    SHOAL_ASSIGN_OR_RETURN(const int64_t stages,
                           Int(m.plan.at("stages"), 1, group_size, "plan's stage count"));
    SHOAL_ASSIGN_OR_RETURN(const int64_t plan_ctx,
                           Int(m.plan.at("n_ctx"), 1, kMaxJobContext, "plan's context length"));
    if (plan_ctx != m.n_ctx) {
      return Corrupt("the plan's context length is not the job's");
    }
    for (const nlohmann::json& r : ranks) {
      if (!r.is_object()) return Corrupt("a rank of the plan is not an object");
      SHOAL_RETURN_IF_ERROR(Int(r.at("stage"), 0, stages - 1, "plan's rank stage").status());
    }
  } catch (const nlohmann::json::exception& e) {
    return Corrupt(std::string("job JSON: ") + e.what());
  }
  return m;
}

}  // namespace shoal::cluster
