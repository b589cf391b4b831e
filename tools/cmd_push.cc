// shoal push -m MODEL --nodes ... [-c CTX] [--parallel N] [--json]
// Places each node's shard of MODEL ahead of time: the plan the same pool flags give (use those of
// the `shoal serve` that follows), every node without the model receiving its shard from this
// machine, verified, into its shard cache (docs/model-identity.md), with progress. The nodes must
// be idle (not in a serving pool's job). Nothing is generated.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/progress_board.h"
#include "cli_common.h"
#include "cluster_flags.h"

namespace shoal::cli {
namespace {

struct Opts {
  std::string model;
  int n_threads = 0;
  int64_t n_ctx = 0;
  int32_t parallel = 8;
  bool json = false;
  ClusterOptions cluster;
};

Status Push(const Opts& o) {
  if (o.cluster.local > 0 || o.cluster.mpi) {
    return InvalidArgument("push places shards on remote nodes: use --nodes or --hostfile");
  }
  if (!o.cluster.pooled()) return InvalidArgument("push needs the nodes: --nodes or --hostfile");
  ProgressBoard board(stderr);
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<Engine> e,
                         OpenEngine(o.model, o.n_threads, o.n_ctx, o.cluster, o.parallel, &board));
  board.SetReady();
  const parallel::Plan& plan = e->job->plan;
  nlohmann::json nodes = nlohmann::json::array();
  for (size_t r = 0; r < plan.ranks.size(); ++r) {
    nodes.push_back({{"rank", plan.ranks[r].rank},
                     {"name", r < plan.nodes.size() ? plan.nodes[r].name : ""},
                     {"weight_bytes", plan.ranks[r].weight_bytes}});
  }
  if (o.json) {
    std::printf("%s\n", nlohmann::json({{"model", o.model}, {"nodes", nodes}}).dump().c_str());
  } else {
    for (const nlohmann::json& n : nodes) {
      std::fprintf(stderr, "shoal: %s holds its shard (%s of weights)\n",
                   n["name"].get<std::string>().c_str(),
                   HumanBytes(n["weight_bytes"].get<uint64_t>()).c_str());
    }
  }
  return Status::Ok();
}

}  // namespace

Action RegisterPush(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "push", "Place each node's shard of a model on the nodes, ahead of `shoal serve`");
  sub->add_option("-m,--model", o->model, "GGUF file")->required();
  sub->add_option("-t,--threads", o->n_threads, "threads; 0 = one per core")->capture_default_str();
  sub->add_option("-c,--ctx", o->n_ctx, "context per sequence, as the serve that follows")
      ->capture_default_str();
  sub->add_option("--parallel", o->parallel, "sequences at once, as the serve that follows")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  sub->add_flag("--json", o->json, "each node's shard as JSON on stdout");
  AddClusterOptions(sub, &o->cluster);
  return [o] { return Push(*o); };
}

}  // namespace shoal::cli
