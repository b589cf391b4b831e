// The plan (design rule 4): which rank holds which layers, heads, FFN columns and vocabulary rows,
// decided from the model's shapes and each node's memory, threads and bandwidth before any weight
// is read. A Plan is a value: printed as text and JSON, unit-tested, sent to the workers.
//
// Tensor parallelism splits each dimension in proportion to the nodes' capacities (measured
// memory bandwidth, else threads), in units that never cut a quantization block; pipeline
// parallelism gives each stage a layer range in proportion to its nodes' total capacity. A node
// whose share would not fit in its memory is capped and the rest spread over the others
// (water-filling); when the pooled memory cannot hold the model the plan says so, with numbers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "format/gguf.h"
#include "model/arch.h"
#include "model/config.h"
#include "model/shard.h"
#include "tensor/dtype.h"

namespace shoal::parallel {

// A model's shapes and tensor types: all the plan needs (no weights).
struct ModelDesc {
  struct Tensor {
    model::TensorSpec spec;
    DType type;
  };
  model::ModelConfig config;
  std::vector<Tensor> tensors;
  uint64_t weight_bytes() const;
};
// From a GGUF file's metadata and tensor infos (nothing is read from the tensor data).
StatusOr<ModelDesc> DescribeModel(const gguf::File& file);

struct NodeSpec {
  std::string name;            // "10.0.0.2:7000", "local"
  uint64_t memory_bytes = 0;   // memory this node offers to shoal
  int threads = 1;             // cores it computes with
  double bandwidth_gbs = 0.0;  // measured memory bandwidth; 0: unknown (threads are used)
};
// Parses "mem=24G,threads=8,bw=100,name=a" (units K M G T, powers of 1024; bw in GB/s).
StatusOr<NodeSpec> ParseNodeSpec(const std::string& text);

// How a stage's ranks share the routed experts of a mixture-of-experts model.
//   kExperts: expert parallel, whole experts in proportion to each rank's share. A decoded token
//     activates k experts per layer and the rank that drew the most sets the layer's time (6 of
//     64 over 2 ranks: 3.89 expected, not 3).
//   kColumns: every expert's hidden columns split like a dense FFN (each rank a slice of every
//     expert): every rank reads its share of each chosen expert, balanced for any routing; the
//     same memory and the same one all-reduce per layer. Measured 2 nodes x 1 thread on the moe1b
//     model: faster than kExperts in 14 of 16 runs, median +6% (shm) / +9% (tcp)
//     (docs/benchmarks.md).
//   kAuto: kColumns when the expert width splits into at least as many quantization-block units
//     as a stage has ranks, else kExperts. The plan records the choice.
enum class ExpertSplit { kAuto, kExperts, kColumns };
// "auto" | "experts" | "columns"
StatusOr<ExpertSplit> ParseExpertSplit(const std::string& s);
const char* ExpertSplitName(ExpertSplit s);

struct PlanOptions {
  int32_t n_ctx = 4096;  // context each rank's KV cache is sized for
  // KV cache token slots each rank holds when several sequences share a paged cache (the server's
  // --parallel x n_ctx); 0: one sequence of n_ctx.
  int64_t kv_tokens = 0;
  int stages = 1;  // pipeline stages (1: tensor parallel across all nodes)
  ExpertSplit expert_split = ExpertSplit::kAuto;
  uint64_t reserve_bytes = uint64_t{256} << 20;  // per node, for the process and its buffers
};

struct RankPlan {
  int rank = 0;  // one rank per node: rank i runs on nodes[i]
  int stage = 0;
  double share = 0.0;  // fraction of its stage's tensor-parallel work
  model::Shard shard;
  uint64_t weight_bytes = 0;  // exact bytes of this shard's slices
  uint64_t kv_bytes = 0;      // f16 KV cache: n_ctx slots, or kv_tokens
  uint64_t need_bytes = 0;    // weights + KV + reserve
};

struct Plan {
  std::string arch;
  model::ModelConfig config;
  std::vector<NodeSpec> nodes;
  std::vector<RankPlan> ranks;
  PlanOptions options;
  uint64_t model_weight_bytes = 0;
  uint64_t pooled_memory_bytes = 0;
  bool fits = false;
  std::string why_not;  // when !fits: the numbers

  std::string ToText() const;
  nlohmann::json ToJson() const;
  static StatusOr<Plan> FromJson(const nlohmann::json& j);  // what workers receive
  // Ranks of a stage, in order.
  std::vector<int> StageRanks(int stage) const;
};

// InvalidArgument for no nodes, stages out of [1, layers] or more stages than nodes. A plan that
// does not fit is still returned (fits = false, why_not says why).
StatusOr<Plan> MakePlan(const ModelDesc& model, const std::vector<NodeSpec>& nodes,
                        const PlanOptions& options);

// Splits `units` into parts proportional to `weights` (largest remainder; deterministic), each
// part as a contiguous range scaled by `unit` (begin of part 0 = 0, end of the last = units*unit).
std::vector<model::Range> Apportion(int32_t units, int32_t unit,
                                    const std::vector<double>& weights);

}  // namespace shoal::parallel
