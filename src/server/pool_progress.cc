#include "server/pool_progress.h"

#include <algorithm>
#include <cmath>

namespace shoal::server {
namespace {

using Json = nlohmann::ordered_json;

Json ItemJson(const ProgressItem& it) {
  Json j;
  j["node"] = it.node;
  j["done"] = it.done;
  j["total"] = it.total;
  j["finished"] = it.finished;
  j["elapsed_ms"] = int64_t(std::llround(it.elapsed_s * 1000));
  // Units a second so far (0 before a millisecond has passed).
  j["rate_per_s"] = it.elapsed_s >= 1e-3 ? double(it.done) / it.elapsed_s : 0.0;
  return j;
}

}  // namespace

Json ProgressJson(const ProgressSnapshot& s) {
  Json j;
  j["state"] = LoadStateName(s.state);
  j["error"] = s.error.empty() ? Json(nullptr) : Json(s.error);
  Json phases = Json::array();
  for (const ProgressPhase& p : s.phases) {
    Json o;
    o["phase"] = p.name;
    o["label"] = p.label;
    o["unit"] = p.unit;
    o["done"] = p.done();
    o["total"] = p.total();
    o["finished"] = p.finished();
    double elapsed = 0;
    for (const ProgressItem& it : p.items) elapsed = std::max(elapsed, it.elapsed_s);
    o["elapsed_ms"] = int64_t(std::llround(elapsed * 1000));
    if (p.per_node()) {
      o["nodes"] = Json::array();
      for (const ProgressItem& it : p.items) o["nodes"].push_back(ItemJson(it));
    } else {
      o["nodes"] = nullptr;
    }
    phases.push_back(o);
  }
  if (s.current >= 0 && size_t(s.current) < s.phases.size()) {
    const Json& c = phases[size_t(s.current)];
    for (const char* k : {"phase", "label", "done", "total", "unit", "nodes"}) j[k] = c[k];
  } else {
    for (const char* k : {"phase", "label", "done", "total", "unit", "nodes"}) j[k] = nullptr;
  }
  j["phases"] = phases;
  return j;
}

Json LinksJson(const LinkInfo& link, const Json& plan) {
  Json links = Json::array();
  if (link.transport.empty() || !plan.is_object() || !plan.contains("nodes")) return links;
  const Json& nodes = plan["nodes"];
  for (size_t r = 1; r < nodes.size(); ++r) {
    Json l;
    l["from"] = 0;
    l["to"] = int(r);
    l["name"] = nodes[r].value("name", "");
    l["transport"] = link.transport;
    l["security"] = link.security;
    links.push_back(l);
  }
  return links;
}

}  // namespace shoal::server
