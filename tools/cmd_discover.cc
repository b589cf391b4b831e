// shoal discover [--group GROUP:PORT] [--listen HOST:PORT] [--secret-file F] [--seconds N] [--json]
// Listens for the announcements of `shoal worker --announce` (cluster/discoverer.h) and prints the
// workers whose announcements carry the cluster secret's tag: each as it is found, then the list
// (or one JSON object with --json). For operators, and the end-to-end test of discovery.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cli_common.h"
#include "cluster/discoverer.h"
#include "cluster/local_workers.h"

namespace shoal::cli {
namespace {

struct Opts {
  std::string group = cluster::kDefaultDiscoveryGroup;
  std::string listen;
  std::string secret_file;
  double seconds = 3;
  int expire_ms = 5000;
  bool json = false;
};

std::string InstanceHex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

std::string Line(const cluster::FoundNode& n) {
  std::string s = n.address + "  instance " + InstanceHex(n.instance) + "  shoal " +
                  (n.version.empty() ? "?" : n.version) + "  protocol " +
                  std::to_string(n.protocol);
  if (n.memory_bytes) s += "  mem " + HumanBytes(n.memory_bytes);
  if (!n.model_id.empty()) s += "  model " + n.model_id.substr(0, 12);
  if (n.replaced) s += "  (restarted: replaces " + InstanceHex(n.replaced) + ")";
  return s;
}

Status Run(const Opts& o) {
  SHOAL_ASSIGN_OR_RETURN(const std::string secret, cluster::ClusterSecret(o.secret_file));
  std::mutex print_mu;
  cluster::DiscovererOptions d;
  d.group = o.group;
  d.bind = o.listen;
  d.secret = secret;
  d.expire_ms = o.expire_ms;
  if (!o.json) {
    d.on_node = [&print_mu](const cluster::FoundNode& n) {
      std::lock_guard<std::mutex> lock(print_mu);
      std::printf("found %s\n", Line(n).c_str());
      std::fflush(stdout);
    };
  }
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<cluster::Discoverer> disc, cluster::Discoverer::Start(d));
  std::string where = "port " + std::to_string(disc->port());
  if (!o.group.empty()) where = "group " + o.group + " (" + where + ")";
  if (o.seconds > 0) {
    std::fprintf(stderr, "shoal discover: listening on %s for %g s\n", where.c_str(), o.seconds);
  } else {
    std::fprintf(stderr, "shoal discover: listening on %s until interrupted\n", where.c_str());
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.seconds);
  while (o.seconds <= 0 || std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto nodes = disc->Snapshot();
  const auto counts = disc->counts();
  disc.reset();  // no more callbacks
  const auto now = std::chrono::steady_clock::now();
  auto ago = [&](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
  };
  if (o.json) {
    nlohmann::json out;
    out["group"] = o.group;
    out["nodes"] = nlohmann::json::array();
    for (const auto& n : nodes) {
      out["nodes"].push_back({{"address", n.address},
                              {"instance", InstanceHex(n.instance)},
                              {"version", n.version},
                              {"protocol", n.protocol},
                              {"model_id", n.model_id},
                              {"memory_bytes", n.memory_bytes},
                              {"first_seen_ms_ago", ago(n.first_seen)},
                              {"last_seen_ms_ago", ago(n.last_seen)}});
    }
    out["accepted"] = counts.accepted;
    out["dropped"] = counts.dropped;
    out["last_drop"] = counts.last_drop;
    std::printf("%s\n", out.dump().c_str());
    return Status::Ok();
  }
  std::printf("%zu node(s)\n", nodes.size());
  for (const auto& n : nodes) std::printf("  %s\n", Line(n).c_str());
  if (counts.dropped) {
    std::fprintf(stderr, "shoal discover: dropped %" PRIu64 " datagram(s); last: %s\n",
                 counts.dropped, counts.last_drop.c_str());
  }
  return Status::Ok();
}

}  // namespace

Action RegisterDiscover(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "discover", "List the workers announcing themselves on the local network (--announce)");
  sub->add_option("--group", o->group, "multicast GROUP:PORT to listen on ('': none, see --listen)")
      ->capture_default_str();
  sub->add_option("--listen", o->listen,
                  "address to bind, HOST:PORT (default 0.0.0.0 on the group's port; for unicast "
                  "announcements: `shoal worker --announce-to`)");
  sub->add_option("--secret-file", o->secret_file,
                  "file holding the cluster secret (default: $SHOAL_SECRET)");
  sub->add_option("--seconds", o->seconds, "how long to listen (0: until interrupted)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  sub->add_option("--expire-ms", o->expire_ms, "a node not heard for this long is dropped")
      ->capture_default_str()
      ->check(CLI::Range(10, 3600000));
  sub->add_flag("--json", o->json, "print one JSON object at the end");
  return [o] { return Run(*o); };
}

}  // namespace shoal::cli
