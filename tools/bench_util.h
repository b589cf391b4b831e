// Pieces of `shoal bench`: the timed loops, the machine description, the table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster_flags.h"

namespace shoal::cli {

struct BenchResult {
  std::vector<double> pp_tok_s;  // one per repetition
  std::vector<double> tg_tok_s;
  double pp_tok_s_median = 0;
  double tg_tok_s_median = 0;
  // Rank 0's expert exchanges during the timed decode runs (pooled MoE models), and the tokens
  // those runs decoded.
  runtime::ExchangeStats tg_exchange;
  int64_t tg_tokens = 0;
};

// pp: n_prompt tokens in one Eval from an empty cache. tg: n_decode single-token Evals (greedy)
// after a 4-token prompt. One untimed warm-up of each first (it also faults the mapped weights
// in). Median over `reps`.
// depth > 0 (llama-bench -d): the cache is first filled with `depth` tokens (untimed, once), and
// every pp and tg run starts at position `depth` (Executor::Rewind back to it before each).
// fill false: the first `depth` positions are already those of an earlier call at this depth.
StatusOr<BenchResult> MeasureEngine(Engine& e, int n_prompt, int n_decode, int reps, int depth = 0,
                                    bool fill = true);

// Bytes of weights one decoded token reads: every tensor once, except token_embd of which only
// one row is read (unless it is tied to the output, then all of it) and the routed experts, of
// which a token reads n_expert_used / n_expert (the expected share for a random routing).
uint64_t WeightBytesPerToken(const Engine& e);

// int8 operations (2 per multiply-accumulate) of the matrix products one prompt token costs:
// every 2-D weight of the layers (routed experts at n_expert_used / n_expert), not the token
// embedding (a lookup) nor the output matrix (prefill computes the last token's logits only).
double MatMulOpsPerToken(const Engine& e);

double Median(std::vector<double> v);

// CPU name, cores, memory, and the read bandwidth at each thread count (a STREAM-like sum over
// `membw_bytes`).
// Also the int8 peak (int8peak.h) of every path at each thread count: "int8_peak": [{"path",
// "n_threads", "gops", "gops_per_thread"}...], and "int8_peak_path": the fastest vector path.
nlohmann::json MachineJson(const std::vector<int>& threads, size_t membw_bytes, bool quiet);
// The fastest vector path's GOPS at n_threads (or the most threads measured below it), or with
// amx the AMX tiles' ("amx_int8"); 0 if none.
double Int8PeakGops(const nlohmann::json& machine, int n_threads, bool amx = false);
nlohmann::json ModelJson(const std::string& label, const std::string& path, const Engine& e);

void PrintTable(const nlohmann::json& bench);

// The cost model's prediction (parallel/cost.h) for a layout just measured: the engine's own plan
// (one node: the plan of this machine alone), each node given `threads` threads and its part of
// the read bandwidth `machine` ({"mem_read": [{"n_threads", "read_gb_s"}...]}) measured at up to
// nodes x threads threads (the nodes share this machine's memory), the loopback link of `transport`
// ("" for one node). Decode at the mean context of the tg runs (4 + n_decode / 2), prefill of
// n_prompt tokens. Returns
// {"decode_tok_s", "prefill_tok_s", "decode_ms": {"memory", "compute", "comm", "total"}}.
StatusOr<nlohmann::json> PredictLayout(const Engine& e, const nlohmann::json& machine, int nodes,
                                       int threads, const std::string& transport, int n_prompt,
                                       int n_decode);

}  // namespace shoal::cli
