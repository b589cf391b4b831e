// The cost model of `shoal plan`: from a Plan (who holds what), the model's tensor types, each
// node's memory bandwidth and threads, and the link's latency and bandwidth, the predicted decode
// and prefill speed, broken into memory, compute and communication time. A pure function of its
// inputs (no clocks, no probes): unit-tested against hand computations. docs/cost-model.md has
// the derivation and the measurements behind every constant.
//
// Decode, one token (n_tok = 1) at context position P (the token attends to P + 1 positions):
//   rank i, layer l:  bytes_il = its weight slices of the layer (SliceFor), routed experts
//                     counted per chosen expert, + its KV cache slice at P + 1 positions
//                     flops_il = 2 x (values of those slices) + attention 2 (P+1) (hk + hv)
//                     per held query head (MLA absorbed: hk = kv_lora + rope, hv = kv_lora)
//   time_il(c)      = max(weight bytes_il(c) / (bw_i x eff), matmul seconds_il(c))
//                     + max(KV bytes_il / (bw_i x eff), attention seconds_il) + matrices x t0
//                     (the routed experts' bytes at their own efficiency eff_e; attention
//                     seconds = heads x positions x (a fixed ns + 2 (hk + hv) flops / rate))
//                     c = routed experts it runs, t0 = a fixed cost per weight matrix used
//                     compute_s = sum over tensors of flops / (threads_i x GFLOP/s(type))
//   layer time      = E[max over the stage's ranks of time_il(c_i)]:
//                     expert columns (every rank a slice of every expert): c_i = k, exact;
//                     whole experts: (c_i) is the multivariate hypergeometric of k chosen among
//                     N experts (uniform routing assumed), E[max] computed exactly.
//   stage comm      = (2 per layer + 1 embedding all-reduce when the vocabulary is split) x
//                     AllReduce(n, n_tok x n_embd x 4 bytes), when the stage has n > 1 ranks
//   AllReduce(n, M) = Direct (n = 2 or M <= 32 KiB): f_d x lat + (n-1) M / B + o
//                     (a mesh of links: M / B, every peer over its own cable)
//                     Ring: 2 (n-1) (f_r x lat + M / (n B)) + o
//                     lat = one-way link latency, B = link bandwidth, o = per-collective overhead
//   token time      = sum over stages (layers + global tensors + comm) + (S-1) pipeline hops
//                     (lat + n_next x M / B) + logits gather to rank 0 (lat + bytes / B)
// Prefill of a batch of B tokens: the same sums with n_tok = B (each all-reduce carries B
// vectors), weights read once per batch, a held routed expert read when any of the B tokens
// chose it (expected fraction 1 - (1 - k/N)^B), its flops B x k/N of its values, attention over
// B P + B (B + 1) / 2 positions, the output matrix for the last token only; ranks use
// expectations (no E[max]). tokens/s = B / batch time.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "parallel/plan.h"
#include "tensor/dtype.h"

namespace shoal::parallel {

// A link between two nodes.
struct LinkSpec {
  double latency_us = 0;       // one way: half the ping-pong round trip
  double bandwidth_gbits = 0;  // per link, each direction
  // true: every pair of nodes has its own link (a full mesh of cables, as 4 Macs over
  // Thunderbolt); false: each node has one link into a switch, so what it sends to several
  // peers shares its bandwidth.
  bool mesh = false;
  double bytes_per_s() const { return bandwidth_gbits * 1e9 / 8.0; }
  std::string ToString() const;  // "lat=5us,bw=75Gbit[,mesh]"
};
// "lat=5us,bw=75Gbit[,mesh]" (lat in ns, us or ms; bw in Gbit, Mbit, GB (gigabytes) per
// second, or a bare number: Gbit/s), or one of the links measured on this machine: "shm" and
// "tcp" (loopback, busy-poll; docs/cost-model.md), or "none" (a single node).
StatusOr<LinkSpec> ParseLinkSpec(const std::string& text);

// What a node computes with, beyond NodeSpec: its GFLOP/s per thread (0: the calibration's,
// by weight type).
struct ClusterNode {
  NodeSpec node;
  double gflops_per_thread = 0;
};
// ParseNodeSpec's "mem=512G,threads=32,bw=819,name=a" plus "cores=N" (the same as threads=N)
// and "gflops=G" (per thread).
StatusOr<ClusterNode> ParseClusterNode(const std::string& text);

// The model's constants, defaults measured on the 2-core development machine (AMD EPYC Zen 3,
// AVX2) of docs/benchmarks.md; docs/cost-model.md names the command behind each.
struct Calibration {
  // Achieved / probed read bandwidth in decode. `shoal bench --model FILE --threads 1,2` (13:20
  // UTC run): 1B q4_0 96% (1 thread), 82% (2), q8_0 92% (1); median of the sane rows ~0.9.
  double decode_bw_efficiency = 0.90;
  // The same for the routed experts' matrices, from three runs of `shoal bench --model
  // moe1b-q4_0.gguf --threads 1,2 --reps 5` (15:25-15:27 UTC), each layout with the read
  // bandwidth probed just before it: median 85.3 / 145.2 tok/s at 1 / 2 threads, 113.6 MB per
  // token, probes 17.0 / 26.4 GB/s; with the other 55.2 MB at 0.90, the 58.4 MB of routed experts
  // took 8.1 / 4.6 ms: 0.42 / 0.48 of the probe. Its experts are small (0.29 MB per matrix);
  // DeepSeek-V3's are 53x larger and may stream better: docs/cost-model.md gives both figures.
  double expert_bw_efficiency = 0.45;
  // Read bandwidth per thread when a node gives no bw=: the 2-thread read probe, 25.9 GB/s / 2.
  double read_gbs_per_thread = 12.9;
  // Prefill matmul GFLOP/s per thread, from `shoal bench --model FILE --threads 1` pp64 (q4_0,
  // q8_0: the 13:20 UTC run of docs/benchmarks.md; q4_k, f16: 15:13 UTC, the q4_k file from
  // `shoal gen-model --preset 1b --type q4_k`): 64 tokens through the 1B llama shape's layer
  // matrices (721,420,288 values) and the output matrix (262,668,288) for the last token =
  // 92.86 GFLOP per batch, less 8.5 ms of attention: q4_0 89.7 tok/s -> 131.7, q8_0 70.2 ->
  // 102.8, q4_k 44.66 -> 65.2, f16 15.65 -> 22.8. (At 2 threads the 13:20 run gives 132 and 87
  // per thread for q4_0 and q8_0.)
  double gflops_q4_0 = 131.7;
  double gflops_q8_0 = 102.8;
  double gflops_q4_k = 65.2;
  double gflops_f16 = 22.8;
  double gflops_other = 40.0;  // other types (bf16, q6_k, ...): not measured, an estimate
  // Decode (one token) GFLOP/s per thread where shoal's matrix-vector kernel, not memory, is the
  // limit: q4_k decodes the 1B shape at 11.72 tok/s (15:13 UTC, 1 thread) = 2 x 984,088,576
  // values x 11.72 = 23.1 GFLOP/s, half of what its bytes allow. Other types: the prefill rate.
  double decode_gflops_q4_k = 23.1;
  // Attention over the f16 KV cache (scores, softmax, weighted sum): per (head, position) a fixed
  // cost plus its 2 (hk + hv) flops at a rate, per thread. `shoal run -t 1 --temp 0 --json -n 33
  // --ignore-eos` decoding after a 993-token and a 4-token prompt (15:16 UTC): 1B q4_0 (32
  // heads of 64, 16 layers) 50.2 vs 38.8 ms per token; tiny-f16 (8 heads of 32, 2 layers) 1.122
  // vs 0.210 ms after 2903 vs 11 tokens. Less the KV reads: 22.5 and 19.7 ns per (head,
  // position) for 256 and 128 flops: 16.9 ns + flops at 45.7 GFLOP/s.
  double attention_gflops = 45.7;
  double attention_ns_per_head_position = 16.9;
  // Direct all-reduce in one-way latencies: `shoal bench --comm`, 2 ranks, busy poll, all-reduce
  // / round trip = 0.95 and 1.02 (shm), 0.72 and 0.86 (tcp): one round trip = 2 latencies.
  double direct_latency_factor = 2.0;
  // One Ring step in one-way latencies (not measurable on 2 cores; one message per step).
  double ring_step_latency_factor = 1.0;
  // Pipeline send and logits gather: one message each.
  double send_latency_factor = 1.0;
  // Fixed software cost per collective, microseconds (0: the comm bench shows none at 2 ranks).
  double per_collective_us = 0.0;
  // Fixed cost of each weight matrix a rank uses per token, microseconds, added to the slower of
  // memory and compute. 0: a fixed cost per matrix (15 us fits moe1b's 1-node decode) predicts
  // whole experts faster than expert columns at 2 ranks, the opposite of what was measured.
  double per_matrix_us = 0.0;
  // Fixed software cost per layer (norms, rope), microseconds; 0 by default.
  double per_layer_us = 0.0;
  // Direct below this vector size per rank (comm::kDirectMaxBytes), Ring above (n > 2).
  uint64_t direct_max_bytes = 32 * 1024;

  double GflopsPerThread(DType t) const;        // batches (prefill)
  double DecodeGflopsPerThread(DType t) const;  // one token
  nlohmann::json ToJson() const;
  // Overrides from "key=value,..." with the keys of ToJson ("expert_bw_efficiency=0.9,
  // per_collective_us=140"); InvalidArgument names an unknown key or a bad number.
  Status Set(const std::string& text);
};

struct PredictOptions {
  int32_t position = 512;        // decode: tokens already in the KV cache
  int32_t prefill_tokens = 512;  // prefill batch size, from an empty cache
  // Per node (index = rank), GFLOP/s per thread; empty or 0: by weight type from the calibration.
  std::vector<double> gflops_per_thread;
};

// One phase (a decoded token, or a prefill batch) of one rank.
struct RankPhase {
  double bytes = 0;      // expected bytes read (weights + KV)
  double kv_bytes = 0;   // of which KV cache
  double flops = 0;      // expected floating-point operations
  double memory_s = 0;   // bytes / (bw x efficiency)
  double compute_s = 0;  // flops / (threads x GFLOP/s)
  double matrices = 0;   // weight matrices used (expected), each Calibration::per_matrix_us
};

struct RankCost {
  int rank = 0;
  int stage = 0;
  double read_gbs = 0;  // the bandwidth used (node's bw= or threads x the calibration's)
  int threads = 1;
  RankPhase decode, prefill;
};

struct PhaseCost {
  double memory_s = 0;   // the critical rank's memory time, summed over layers (E[max])
  double compute_s = 0;  // the critical rank's compute time, summed over layers
  double busy_s = 0;     // sum over layers of E[max over ranks of max(memory, compute)]
  double comm_s = 0;     // collectives, pipeline hops, logits gather
  double seconds = 0;    // busy_s + comm_s + per-layer overheads
  double tok_s = 0;      // tokens per second
};

struct StageCost {
  int stage = 0;
  int n_ranks = 0;
  int n_allreduce = 0;     // per token (decode) / per batch (prefill)
  double allreduce_s = 0;  // one decode all-reduce
  double prefill_allreduce_s = 0;
  PhaseCost decode, prefill;  // this stage's part (hops and gather excluded)
};

struct Prediction {
  PredictOptions options;
  Calibration calibration;
  LinkSpec link;
  bool fits = true;                 // the plan's verdict (the prediction assumes it fits)
  uint64_t kv_bytes_per_token = 0;  // whole model, f16
  std::vector<RankCost> ranks;
  std::vector<StageCost> stages;
  double hop_s = 0, gather_s = 0;  // decode: pipeline hops and logits gather, per token
  PhaseCost decode, prefill;

  std::string ToText() const;
  nlohmann::json ToJson() const;
};

// InvalidArgument when the plan has more than one node and the link has no bandwidth, or the
// model description does not match the plan.
StatusOr<Prediction> Predict(const Plan& plan, const ModelDesc& model, const LinkSpec& link,
                             const Calibration& cal, const PredictOptions& options);

// Cost of one all-reduce of `bytes` per rank over `n` ranks (seconds), as Predict counts it.
double AllReduceSeconds(int n, double bytes, const LinkSpec& link, const Calibration& cal);

// E[max_i t_i(c_i)] when k of n_total experts are chosen uniformly without replacement and
// rank i holds n_i of them (a partition: sum n_i = n_total), t_i nondecreasing in c.
// t[i][c] for c = 0..min(k, n_i).
double ExpectedMaxTime(const std::vector<int>& held, int n_total, int k,
                       const std::vector<std::vector<double>>& t);

}  // namespace shoal::parallel
