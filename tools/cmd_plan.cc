// shoal plan -m MODEL [--node SPEC]... [-c CTX] [--stages S] [--json]: how a model would split
// over a described set of nodes (each "mem=24G,threads=8,bw=100,name=a"), before anything is
// loaded. Without --node: this machine alone.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "base/sysinfo.h"
#include "base/thread_pool.h"
#include "cli_common.h"
#include "format/gguf.h"
#include "parallel/plan.h"

namespace shoal::cli {
namespace {

struct Opts {
  std::string model;
  std::vector<std::string> nodes;
  int32_t n_ctx = 4096;
  int stages = 1;
  int64_t reserve_mib = 256;
  bool json = false;
};

Status Plan(const Opts& o) {
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::Open(o.model));
  auto desc = parallel::DescribeModel(*file);
  if (!desc.ok()) return desc.status().With(o.model);
  std::vector<parallel::NodeSpec> nodes;
  for (const std::string& s : o.nodes) {
    SHOAL_ASSIGN_OR_RETURN(parallel::NodeSpec n, parallel::ParseNodeSpec(s));
    if (n.name.empty()) n.name = "node" + std::to_string(nodes.size());
    nodes.push_back(n);
  }
  if (nodes.empty()) nodes.push_back({"this machine", TotalMemoryBytes(), AvailableCores(), 0});
  parallel::PlanOptions po;
  po.n_ctx = o.n_ctx;
  po.stages = o.stages;
  po.reserve_bytes = uint64_t(o.reserve_mib) << 20;
  SHOAL_ASSIGN_OR_RETURN(parallel::Plan plan, parallel::MakePlan(*desc, nodes, po));
  if (o.json) {
    std::printf("%s\n", plan.ToJson().dump(2).c_str());
  } else {
    std::printf("%s", plan.ToText().c_str());
  }
  if (!plan.fits) return ResourceExhausted(plan.why_not);
  return Status::Ok();
}

}  // namespace

Action RegisterPlan(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("plan", "Show how a model splits over a set of nodes");
  sub->add_option("-m,--model", o->model, "GGUF file")->required();
  sub->add_option("--node", o->nodes,
                  "a node: mem=24G,threads=8,bw=100,name=a (repeat; default: this machine)");
  sub->add_option("-c,--ctx", o->n_ctx, "context length the KV caches are sized for")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 24));
  sub->add_option("--stages", o->stages, "pipeline stages")->capture_default_str();
  sub->add_option("--reserve-mib", o->reserve_mib, "memory each node keeps beyond its share")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  sub->add_flag("--json", o->json, "print the plan as JSON");
  return [o] { return Plan(*o); };
}

}  // namespace shoal::cli
