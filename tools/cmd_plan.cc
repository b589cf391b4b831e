// shoal plan (-m MODEL | --preset NAME [--type T]) [--node SPEC]... [--link SPEC] [-c CTX]
// [--stages S] [--experts auto|experts|columns] [--at P] [--prefill B] [--json] [--calibrate]:
// how a model would split over a described set of nodes (each "mem=24G,threads=8,bw=100,name=a",
// plus cores= and gflops=), before anything is loaded, and what the cost model predicts for it
// (docs/cost-model.md). Without --node: this machine alone.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "base/sysinfo.h"
#include "base/thread_pool.h"
#include "cli_common.h"
#include "format/gguf.h"
#include "membw.h"
#include "parallel/cost.h"
#include "parallel/plan.h"
#include "parallel/presets.h"

namespace shoal::cli {
namespace {

struct Opts {
  std::string model;
  std::string preset;
  std::string type = "q8_0";
  std::vector<std::string> nodes;
  std::string link;
  std::string experts = "auto";
  std::string cal;
  int32_t n_ctx = 4096;
  int stages = 1;
  int64_t reserve_mib = 256;
  int32_t position = 512;
  int32_t prefill = 512;
  bool json = false;
  bool calibrate = false;
  bool no_predict = false;
};

StatusOr<parallel::ModelDesc> Describe(const Opts& o) {
  if (!o.preset.empty()) {
    SHOAL_ASSIGN_OR_RETURN(parallel::ModelPreset p, parallel::FindPreset(o.preset));
    return parallel::DescribeConfig(p.config, o.type);
  }
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::Open(o.model));
  auto desc = parallel::DescribeModel(*file);
  if (!desc.ok()) return desc.status().With(o.model);
  return desc;
}

// This machine's read bandwidth at all its threads, measured now (a few seconds).
parallel::Calibration Calibrate(const parallel::Calibration& base, int threads) {
  parallel::Calibration cal = base;
  const MemBandwidth b = MeasureReadBandwidth(size_t{512} << 20, threads, 3);
  cal.read_gbs_per_thread = b.read_gb_s / threads;
  return cal;
}

Status Plan(const Opts& o) {
  if (o.model.empty() == o.preset.empty()) {
    return InvalidArgument("plan: give exactly one of -m FILE and --preset NAME");
  }
  SHOAL_ASSIGN_OR_RETURN(parallel::ModelDesc desc, Describe(o));
  std::vector<parallel::NodeSpec> nodes;
  parallel::PredictOptions pred;
  pred.position = o.position;
  pred.prefill_tokens = o.prefill;
  for (const std::string& s : o.nodes) {
    SHOAL_ASSIGN_OR_RETURN(parallel::ClusterNode n, parallel::ParseClusterNode(s));
    if (n.node.name.empty()) n.node.name = "node" + std::to_string(nodes.size());
    nodes.push_back(n.node);
    pred.gflops_per_thread.push_back(n.gflops_per_thread);
  }
  if (nodes.empty()) nodes.push_back({"this machine", TotalMemoryBytes(), AvailableCores(), 0});
  parallel::PlanOptions po;
  po.n_ctx = o.n_ctx;
  po.stages = o.stages;
  po.reserve_bytes = uint64_t(o.reserve_mib) << 20;
  SHOAL_ASSIGN_OR_RETURN(po.expert_split, parallel::ParseExpertSplit(o.experts));
  SHOAL_ASSIGN_OR_RETURN(parallel::Plan plan, parallel::MakePlan(desc, nodes, po));

  parallel::Calibration cal;
  if (o.calibrate) cal = Calibrate(cal, AvailableCores());
  if (!o.cal.empty()) SHOAL_RETURN_IF_ERROR(cal.Set(o.cal));
  parallel::LinkSpec link;
  bool predict = !o.no_predict;
  if (!o.link.empty()) {
    SHOAL_ASSIGN_OR_RETURN(link, parallel::ParseLinkSpec(o.link));
  } else if (nodes.size() > 1) {
    predict = false;  // nothing to say about the communication without a link
  }
  std::optional<parallel::Prediction> prediction;
  if (predict) {
    SHOAL_ASSIGN_OR_RETURN(prediction, parallel::Predict(plan, desc, link, cal, pred));
  }
  if (o.json) {
    nlohmann::json j = plan.ToJson();
    if (!o.preset.empty()) j["preset"] = {{"name", o.preset}, {"type", o.type}};
    if (prediction) j["prediction"] = prediction->ToJson();
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    if (!o.preset.empty()) {
      std::printf("model: preset %s, %s weights (published shapes, no file)\n", o.preset.c_str(),
                  o.type.c_str());
    }
    std::printf("%s", plan.ToText().c_str());
    if (o.calibrate) std::printf("calibration: %s\n", cal.ToJson().dump().c_str());
    if (prediction) {
      std::printf("%s", prediction->ToText().c_str());
    } else if (!o.no_predict) {
      std::printf(
          "prediction: give the links between the nodes (--link lat=5us,bw=75Gbit, or "
          "shm / tcp for this machine's) for decode and prefill tokens/s\n");
    }
  }
  if (!plan.fits) return ResourceExhausted(plan.why_not);
  return Status::Ok();
}

}  // namespace

Action RegisterPlan(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "plan", "Show how a model splits over a set of nodes and predict its speed there");
  sub->add_option("-m,--model", o->model, "GGUF file");
  sub->add_option("--preset", o->preset,
                  "published shapes instead of a file: deepseek-v3 (v3.1, r1), kimi-k2, "
                  "qwen3-235b-a22b, qwen3-30b-a3b, llama-3.1-70b, llama-3.1-405b");
  sub->add_option("--type", o->type,
                  "weight type with --preset: q8_0, q4_0, q4_k, q4_k_m, q6_k, f16, bf16, ...")
      ->capture_default_str();
  sub->add_option("--node", o->nodes,
                  "a node: mem=24G,threads=8,bw=100,name=a (+ cores=N, gflops=G per thread; "
                  "repeat; default: this machine)");
  sub->add_option("--link", o->link,
                  "the links between nodes: lat=5us,bw=75Gbit (one-way latency, per-node "
                  "bandwidth[,mesh]), or shm / tcp (this machine's, measured); needed for a "
                  "prediction over several nodes");
  sub->add_option("-c,--ctx", o->n_ctx, "context length the KV caches are sized for")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 24));
  sub->add_option("--stages", o->stages, "pipeline stages")->capture_default_str();
  sub->add_option("--experts", o->experts, "how a stage splits MoE experts: auto|experts|columns")
      ->capture_default_str();
  sub->add_option("--reserve-mib", o->reserve_mib, "memory each node keeps beyond its share")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  sub->add_option("--at", o->position, "prediction: context position of the decoded token")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 24));
  sub->add_option("--prefill", o->prefill, "prediction: prompt tokens evaluated in one batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--cal", o->cal,
                  "override cost-model constants: key=value,... (names as in the JSON "
                  "\"calibration\", e.g. expert_bw_efficiency=0.9,per_collective_us=140)");
  sub->add_flag("--no-predict", o->no_predict, "only the plan, no cost model");
  sub->add_flag("--calibrate", o->calibrate,
                "measure this machine's read bandwidth first and use it (a few seconds)");
  sub->add_flag("--json", o->json, "print the plan (and \"prediction\") as JSON");
  return [o] { return Plan(*o); };
}

}  // namespace shoal::cli
