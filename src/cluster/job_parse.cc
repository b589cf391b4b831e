#include "cluster/job_parse.h"

#include "format/gguf.h"

namespace shoal::cluster {

std::string JobText(const JobMessage& m) {
  if (!m.ok) return nlohmann::json({{"ok", false}, {"error", m.error}}).dump();
  uint64_t total = 0;
  for (uint64_t b : m.part_bytes) total += b;
  return nlohmann::json({{"ok", true},
                         {"model_path", m.model_path},
                         {"model_id", m.model_id.Hex()},
                         {"model_bytes", total},
                         {"model_parts", m.part_bytes},
                         {"n_ctx", m.n_ctx},
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
      const uint64_t b = p.get<uint64_t>();
      if (b == 0 || b > (uint64_t{1} << 50)) return Corrupt("a model file of bad size in the job");
      total += b;
      m.part_bytes.push_back(b);
    }
    if (j.at("model_bytes").get<uint64_t>() != total) {
      return Corrupt("the job's model_bytes is not the sum of its files");
    }
    m.n_ctx = j.at("n_ctx").get<int32_t>();
    if (m.n_ctx <= 0 || m.n_ctx > kMaxJobContext) {
      return Corrupt("the job's context length " + std::to_string(m.n_ctx) + " is out of range");
    }
    m.plan = j.at("plan");
    if (!m.plan.is_object()) return Corrupt("the job's plan is not an object");
    const nlohmann::json& ranks = m.plan.at("ranks");
    if (!ranks.is_array() || ranks.size() != size_t(group_size)) {
      return Corrupt("the plan has " + std::to_string(ranks.is_array() ? ranks.size() : 0) +
                     " ranks, the group " + std::to_string(group_size));
    }
    const int stages = m.plan.at("stages").get<int>();
    if (stages < 1 || stages > group_size) {
      return Corrupt("the plan has " + std::to_string(stages) + " stages for " +
                     std::to_string(group_size) + " ranks");
    }
    if (m.plan.at("n_ctx").get<int32_t>() != m.n_ctx) {
      return Corrupt("the plan's context length is not the job's");
    }
    for (const nlohmann::json& r : ranks) {
      const int stage = r.at("stage").get<int>();
      if (stage < 0 || stage >= stages) return Corrupt("a rank of the plan has a bad stage");
    }
  } catch (const nlohmann::json::exception& e) {
    return Corrupt(std::string("job JSON: ") + e.what());
  }
  return m;
}

}  // namespace shoal::cluster
