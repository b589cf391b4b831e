// shoal nodes [--server URL] [--api-key-file F] [--json]
// shoal drain NODE [--undo] [--server URL] [--api-key-file F]
// shoal upgrade BINARY [--server URL] [--api-key-file F]
// The pool administered from one machine: ask a running `shoal serve` (its GET /v1/pool and
// POST /v1/pool/drain, docs/api.md) for each node's health, or take a node out of the pool.
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cli_common.h"

namespace shoal::cli {
namespace {

struct Opts {
  std::string server = "http://127.0.0.1:8080";
  std::string api_key_file;
  bool json = false;
  std::string node;
  bool undo = false;
};

StatusOr<std::string> ApiKey(const std::string& file) {
  if (file.empty()) {
    const char* env = std::getenv("SHOAL_API_KEY");
    return std::string(env ? env : "");
  }
  std::ifstream in(file);
  if (!in) return NotFound("cannot read the API key file " + file);
  std::string key;
  std::getline(in, key);
  return key;
}

StatusOr<nlohmann::json> Call(const Opts& o, const std::string& method, const std::string& path,
                              const std::string& body, int want_status = 200) {
  httplib::Client cli(o.server);
  if (!cli.is_valid()) return InvalidArgument("bad server URL " + o.server);
  cli.set_connection_timeout(5);
  cli.set_read_timeout(30);
  SHOAL_ASSIGN_OR_RETURN(const std::string key, ApiKey(o.api_key_file));
  httplib::Headers h;
  if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
  auto res = method == "GET" ? cli.Get(path, h) : cli.Post(path, h, body, "application/json");
  if (!res) {
    return Unavailable("cannot reach " + o.server + path + ": " + httplib::to_string(res.error()));
  }
  nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
  if (res->status != want_status) {
    std::string msg = "HTTP " + std::to_string(res->status);
    if (!j.is_discarded() && j.contains("error") && j["error"].contains("message")) {
      msg += ": " + j["error"]["message"].get<std::string>();
    }
    return Unavailable(o.server + path + " answered " + msg);
  }
  if (j.is_discarded()) return Corrupt(o.server + path + " did not answer JSON");
  return j;
}

std::string Age(uint64_t ms) {
  char b[32];
  if (ms < 120000) {
    std::snprintf(b, sizeof b, "%.0fs", double(ms) / 1000.0);
  } else if (ms < 7200000) {
    std::snprintf(b, sizeof b, "%.0fm", double(ms) / 60000.0);
  } else {
    std::snprintf(b, sizeof b, "%.1fh", double(ms) / 3600000.0);
  }
  return b;
}

Status Nodes(const Opts& o) {
  SHOAL_ASSIGN_OR_RETURN(nlohmann::json j, Call(o, "GET", "/v1/pool", ""));
  if (o.json) {
    std::printf("%s\n", j.value("pool", nlohmann::json::object()).dump(2).c_str());
    return Status::Ok();
  }
  const nlohmann::json pool = j.value("pool", nlohmann::json::object());
  std::printf("pool: job %llu, %s%s%s; %lld re-forms\n",
              static_cast<unsigned long long>(pool.value("epoch", uint64_t{0})),
              pool.value("state", std::string("?")).c_str(),
              pool.value("detail", std::string()).empty() ? "" : ": ",
              pool.value("detail", std::string()).c_str(),
              static_cast<long long>(pool.value("reforms", int64_t{0})));
  std::printf("%-24s %-8s %-6s %-14s %-8s %-10s %-6s %-8s %s\n", "NODE", "STATE", "MEMBER",
              "VERSION", "UPTIME", "MEM FREE", "LOAD", "RTT", "REASON");
  const nlohmann::json members = pool.value("members", nlohmann::json::array());
  for (const nlohmann::json& n : pool.value("nodes", nlohmann::json::array())) {
    const std::string addr = n.value("address", std::string());
    bool member = false;
    for (const auto& m : members) member = member || m == addr;
    std::string state = n.value("state", std::string("?"));
    if (n.value("draining", false)) state += ",draining";
    char load[16], rtt[16];
    std::snprintf(load, sizeof load, "%.2f", n.value("load", 0.0));
    std::snprintf(rtt, sizeof rtt, "%.1fms", n.value("rtt_ms", 0.0));
    std::printf("%-24s %-8s %-6s %-14s %-8s %-10s %-6s %-8s %s\n", addr.c_str(), state.c_str(),
                member ? "yes" : "no", n.value("version", std::string("-")).c_str(),
                n.contains("uptime_ms") ? Age(n["uptime_ms"].get<uint64_t>()).c_str() : "-",
                n.contains("memory_available_bytes")
                    ? HumanBytes(n["memory_available_bytes"].get<uint64_t>()).c_str()
                    : "-",
                load, rtt, n.value("reason", std::string()).c_str());
  }
  return Status::Ok();
}

Status Drain(const Opts& o) {
  const nlohmann::json body = {{"node", o.node}, {"drain", !o.undo}};
  SHOAL_RETURN_IF_ERROR(Call(o, "POST", "/v1/pool/drain", body.dump()).status());
  std::fprintf(stderr,
               o.undo ? "shoal: %s may take part again; the pool re-forms to include it\n"
                      : "shoal: %s is draining: the pool re-forms without it at the next step; "
                        "it keeps running and can be stopped once `shoal nodes` shows it is no "
                        "member\n",
               o.node.c_str());
  return Status::Ok();
}

Status Upgrade(const Opts& o) {
  char real[PATH_MAX + 1] = {0};
  if (realpath(o.node.c_str(), real) == nullptr) return NotFound("cannot find " + o.node);
  const nlohmann::json body = {{"binary", std::string(real)}};
  SHOAL_RETURN_IF_ERROR(Call(o, "POST", "/v1/pool/upgrade", body.dump(), 202).status());
  std::string last;
  for (int i = 0; i < 3600 * 2; ++i) {  // an hour at the most
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    SHOAL_ASSIGN_OR_RETURN(nlohmann::json j, Call(o, "GET", "/v1/pool", ""));
    const nlohmann::json u =
        j.value("pool", nlohmann::json::object()).value("upgrade", nlohmann::json::object());
    const std::string state = u.value("state", std::string("?"));
    const std::string line =
        std::to_string(u.value("done", 0)) + "/" + std::to_string(u.value("total", 0)) + " " +
        u.value("node", std::string()) + ": " + u.value("detail", std::string());
    if (line != last) std::fprintf(stderr, "shoal: upgrade %s\n", line.c_str());
    last = line;
    if (state == "done") return Status::Ok();
    if (state == "failed") return Unavailable("the upgrade stopped: " + u.value("detail", ""));
  }
  return Unavailable("the upgrade did not finish within an hour");
}

void AddServer(CLI::App* sub, Opts* o) {
  sub->add_option("--server", o->server, "the pool's `shoal serve` (rank 0)")
      ->capture_default_str();
  sub->add_option("--api-key-file", o->api_key_file,
                  "file holding the server's API key (default: $SHOAL_API_KEY)");
}

}  // namespace

Action RegisterNodes(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("nodes", "Show every node of a running pool and its health");
  AddServer(sub, o.get());
  sub->add_flag("--json", o->json, "the pool object of GET /v1/pool");
  return [o] { return Nodes(*o); };
}

Action RegisterDrain(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub =
      app.add_subcommand("drain", "Take a node out of a running pool (re-plan without it)");
  sub->add_option("node", o->node, "the node, HOST:PORT as `shoal nodes` lists it")->required();
  sub->add_flag("--undo", o->undo, "let a drained node take part again");
  AddServer(sub, o.get());
  return [o] { return Drain(*o); };
}

Action RegisterUpgrade(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "upgrade", "Upgrade every node of a running pool to a shoal binary, one at a time");
  sub->add_option("binary", o->node, "the new shoal binary (on this machine, rank 0's)")
      ->required();
  AddServer(sub, o.get());
  return [o] { return Upgrade(*o); };
}

}  // namespace shoal::cli
