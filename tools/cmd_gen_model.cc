// shoal gen-model -o OUT [--preset 1b] [--arch A] [shape flags] [--type T] [--seed S]
//                 [MoE flags: --n-expert ... ] [deepseek2 MLA flags: --kv-lora-rank ...]
//                 [--tokenizer-json FILE [--tokenizer-config FILE] [--pre NAME]]
// A random-weight GGUF (model::GenerateModel) for tests and benchmarks.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "base/progress_board.h"
#include "cli_common.h"
#include "format/gguf.h"
#include "gen_model.h"
#include "model/generate.h"
#include "model/tokenizer_json.h"
#include "parallel/plan.h"

namespace shoal::cli {
namespace {

struct Opts {
  std::string out, arch = "llama", type = "f16", preset, tokenizer_json, tokenizer_config, pre;
  std::string output_type, expert_type;
  std::string split_max_size;  // e.g. 2G: write a split set (llama-gguf-split layout)
  int32_t n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_vocab = 0, n_ctx = 0;
  int32_t head_dim = 0;
  uint64_t seed = 1;
  bool tied = false;
  bool llama3_rope = false;
  model::GenSpec moe;  // the MoE / MLA / YaRN fields (qwen3moe, deepseek2), defaults GenSpec's
  bool softmax_gating = false, no_exp_probs_b = false, no_weights_norm = false;
  // Which shape flags were given (they override the preset).
  CLI::App* app = nullptr;  // the subcommand, to ask which flags were given
  CLI::Option *o_embd = nullptr, *o_layer = nullptr, *o_head = nullptr, *o_head_kv = nullptr,
              *o_ff = nullptr, *o_vocab = nullptr, *o_ctx = nullptr, *o_head_dim = nullptr;
};

Status GenModel(const Opts& o) {
  model::GenSpec spec;
  SHOAL_RETURN_IF_ERROR(ApplyPreset(o.preset, &spec));
  if (o.preset.empty() || o.app->count("--arch") > 0) spec.arch = o.arch;
  if (o.o_embd->count()) spec.n_embd = o.n_embd;
  if (o.o_layer->count()) spec.n_layer = o.n_layer;
  if (o.o_head->count()) spec.n_head = o.n_head;
  if (o.o_head_kv->count()) spec.n_head_kv = o.n_head_kv;
  if (o.o_ff->count()) spec.n_ff = o.n_ff;
  if (o.o_vocab->count()) spec.n_vocab = o.n_vocab;
  if (o.o_ctx->count()) spec.n_ctx = o.n_ctx;
  if (o.o_head_dim->count()) spec.head_dim = o.head_dim;
  SHOAL_RETURN_IF_ERROR(ApplyTypeName(o.type, &spec));
  if (!o.output_type.empty()) {
    auto t = DTypeFromName(o.output_type);
    if (!t) return InvalidArgument("unknown --output-type '" + o.output_type + "'");
    spec.output_type = *t;
  }
  if (!o.expert_type.empty()) {
    auto t = DTypeFromName(o.expert_type);
    if (!t) return InvalidArgument("unknown --expert-type '" + o.expert_type + "'");
    spec.expert_type = *t;
  }
  spec.seed = o.seed;
  spec.tied_output = o.tied;
  spec.llama3_rope_scaling = o.llama3_rope;
  // Mixture-of-experts and MLA fields: a flag that was given overrides the preset (without a
  // preset, o.moe holds GenSpec's defaults, so the result is the same either way).
  const model::GenSpec& m = o.moe;
  auto given = [&](const char* flag) { return o.app->count(flag) > 0; };
#define SHOAL_GEN_FIELD(flag, field) \
  if (given(flag)) spec.field = m.field
  SHOAL_GEN_FIELD("--n-expert", n_expert);
  SHOAL_GEN_FIELD("--n-expert-used", n_expert_used);
  SHOAL_GEN_FIELD("--n-ff-exp", n_ff_exp);
  SHOAL_GEN_FIELD("--n-expert-shared", n_expert_shared);
  SHOAL_GEN_FIELD("--n-dense-lead", n_layer_dense_lead);
  SHOAL_GEN_FIELD("--expert-groups", n_expert_groups);
  SHOAL_GEN_FIELD("--expert-groups-used", n_group_used);
  SHOAL_GEN_FIELD("--expert-weights-scale", expert_weights_scale);
  SHOAL_GEN_FIELD("--q-lora-rank", q_lora_rank);
  SHOAL_GEN_FIELD("--kv-lora-rank", kv_lora_rank);
  SHOAL_GEN_FIELD("--qk-nope-dim", qk_nope_dim);
  SHOAL_GEN_FIELD("--qk-rope-dim", qk_rope_dim);
  SHOAL_GEN_FIELD("--v-head-dim", v_head_dim);
  SHOAL_GEN_FIELD("--legacy-kv-b", legacy_kv_b);
  SHOAL_GEN_FIELD("--fuse-gate-up-exps", fuse_gate_up_exps);
  SHOAL_GEN_FIELD("--yarn-factor", yarn_factor);
  SHOAL_GEN_FIELD("--yarn-orig-ctx", yarn_orig_ctx);
  SHOAL_GEN_FIELD("--yarn-mscale-all-dim", yarn_mscale_all_dim);
#undef SHOAL_GEN_FIELD
  if (o.softmax_gating) spec.expert_sigmoid = false;
  if (o.no_exp_probs_b) spec.exp_probs_b = false;
  if (o.no_weights_norm) spec.expert_weights_norm = false;
  gguf::Metadata tok_md;
  if (!o.tokenizer_json.empty()) {
    SHOAL_RETURN_IF_ERROR(model::SetTokenizerMetadataFromFiles(
        o.tokenizer_json, o.tokenizer_config, o.pre.empty() ? "default" : o.pre, &tok_md));
    spec.tokenizer = &tok_md;
  } else if (!o.tokenizer_config.empty() || !o.pre.empty()) {
    return InvalidArgument("--tokenizer-config and --pre need --tokenizer-json");
  }
  const double t0 = NowMs();
  ProgressBoard board(stderr);  // a line on a terminal; one plain line when it took long
  spec.on_progress = board.Reporter("gen", "gen-model: making tensors", "tensors");
  std::string wrote = o.out;
  if (o.split_max_size.empty()) {
    SHOAL_RETURN_IF_ERROR(model::GenerateModel(spec, o.out));
  } else {
    SHOAL_ASSIGN_OR_RETURN(parallel::NodeSpec limit,
                           parallel::ParseNodeSpec("mem=" + o.split_max_size));
    if (limit.memory_bytes == 0) return InvalidArgument("--split-max-size must be > 0");
    gguf::Writer w;
    SHOAL_RETURN_IF_ERROR(model::GenerateModelWriter(spec, &w));
    std::string prefix = o.out;
    if (prefix.size() > 5 && prefix.substr(prefix.size() - 5) == ".gguf") {
      prefix.resize(prefix.size() - 5);
    }
    int n_parts = 0;
    SHOAL_RETURN_IF_ERROR(w.WriteSplitMaxBytes(prefix, limit.memory_bytes, &n_parts));
    wrote = gguf::SplitPath(prefix, 0, n_parts);
  }
  const bool moe = spec.arch == "qwen3moe" || spec.arch == "deepseek2";
  const std::string experts = moe ? ", " + std::to_string(spec.n_expert_used) + " of " +
                                        std::to_string(spec.n_expert) + " experts of " +
                                        std::to_string(spec.n_ff_exp)
                                  : "";
  std::fprintf(stderr,
               "shoal: wrote %s (%s, n_embd %d, %d layers, %d/%d heads, ffn %d%s, %s) in %.1f s\n",
               wrote.c_str(), spec.arch.c_str(), spec.n_embd, spec.n_layer, spec.n_head,
               spec.arch == "deepseek2" ? 1 : spec.n_head_kv, spec.n_ff, experts.c_str(),
               o.type.c_str(), (NowMs() - t0) / 1e3);
  return Status::Ok();
}

}  // namespace

Action RegisterGenModel(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("gen-model", "Write a random-weight GGUF model");
  o->app = sub;
  sub->add_option("-o,--output", o->out, "output GGUF file")->required();
  sub->add_option("--preset", o->preset,
                  "1b: llama 1B shape (n_embd 2048, 16 layers, 32/8 heads, ffn 5632, vocab "
                  "128256); moe1b: deepseek2 MLA + 64 experts (6 used, 1 shared) of 512, n_embd "
                  "1024, 12 layers, vocab 32000 (~1.2B parameters); flags override it");
  sub->add_option("--arch", o->arch, "llama | qwen2 | qwen3 | qwen3moe | deepseek2")
      ->capture_default_str();
  o->o_embd = sub->add_option("--n-embd", o->n_embd, "embedding width");
  o->o_layer = sub->add_option("--n-layer", o->n_layer, "layers");
  o->o_head = sub->add_option("--n-head", o->n_head, "attention heads");
  o->o_head_kv = sub->add_option("--n-head-kv", o->n_head_kv, "key/value heads");
  o->o_ff = sub->add_option("--n-ff", o->n_ff, "feed-forward width");
  o->o_vocab = sub->add_option("--n-vocab", o->n_vocab,
                               "vocabulary size (0: the tokenizer's; the built-in one is padded "
                               "with reserved tokens)");
  o->o_ctx = sub->add_option("--n-ctx", o->n_ctx, "training context written to the metadata");
  o->o_head_dim = sub->add_option("--head-dim", o->head_dim, "0: n_embd / n_head");
  sub->add_option("--type", o->type, TypeHelp())->capture_default_str();
  sub->add_option("--output-type", o->output_type, "type of output.weight (default: --type's)");
  sub->add_option("--expert-type", o->expert_type,
                  "type of the routed experts, MoE only (default: --type's; e.g. iq2_xxs with "
                  "--type q4_k, as the dynamic DeepSeek files)");
  sub->add_flag("--tied", o->tied, "no output.weight: logits use token_embd");
  sub->add_flag("--llama3-rope", o->llama3_rope, "Llama 3.1 rope scaling (rope_freqs.weight)");
  sub->add_option("--seed", o->seed, "weight seed")->capture_default_str();
  sub->add_option("--split-max-size", o->split_max_size,
                  "write a split set (OUT without .gguf, then -00001-of-0000N.gguf), each part at "
                  "most this much tensor data, e.g. 500M (llama-gguf-split's layout)");
  model::GenSpec& m = o->moe;
  const char* kMoe = "Mixture of experts (qwen3moe, deepseek2)";
  sub->add_option("--n-expert", m.n_expert, "experts")->capture_default_str()->group(kMoe);
  sub->add_option("--n-expert-used", m.n_expert_used, "experts per token")
      ->capture_default_str()
      ->group(kMoe);
  sub->add_option("--n-ff-exp", m.n_ff_exp, "expert FFN width")->capture_default_str()->group(kMoe);
  sub->add_option("--n-expert-shared", m.n_expert_shared, "deepseek2: shared experts")
      ->capture_default_str()
      ->group(kMoe);
  sub->add_option("--n-dense-lead", m.n_layer_dense_lead, "deepseek2: leading dense layers")
      ->capture_default_str()
      ->group(kMoe);
  sub->add_option("--expert-groups", m.n_expert_groups, "deepseek2: expert groups (0: none)")
      ->capture_default_str()
      ->group(kMoe);
  sub->add_option("--expert-groups-used", m.n_group_used, "deepseek2: groups chosen per token")
      ->capture_default_str()
      ->group(kMoe);
  sub->add_option("--expert-weights-scale", m.expert_weights_scale,
                  "deepseek2: routed scaling factor (0: not written)")
      ->capture_default_str()
      ->group(kMoe);
  sub->add_flag("--softmax-gating", o->softmax_gating, "deepseek2: softmax scores (not sigmoid)")
      ->group(kMoe);
  sub->add_flag("--no-exp-probs-b", o->no_exp_probs_b, "deepseek2: no selection bias")->group(kMoe);
  sub->add_flag("--no-weights-norm", o->no_weights_norm,
                "deepseek2: chosen weights not renormalized")
      ->group(kMoe);
  sub->add_flag(
         "--fuse-gate-up-exps", m.fuse_gate_up_exps,
         "experts' gate and up as one ffn_gate_up_exps (--fuse-gate-up-exps converter files)")
      ->group(kMoe);
  const char* kMla = "deepseek2 attention (MLA) and YaRN";
  sub->add_option("--q-lora-rank", m.q_lora_rank, "0: attn_q (no q compression)")
      ->capture_default_str()
      ->group(kMla);
  sub->add_option("--kv-lora-rank", m.kv_lora_rank, "latent size")
      ->capture_default_str()
      ->group(kMla);
  sub->add_option("--qk-nope-dim", m.qk_nope_dim, "per-head key size without rope")
      ->capture_default_str()
      ->group(kMla);
  sub->add_option("--qk-rope-dim", m.qk_rope_dim, "per-head rope size")
      ->capture_default_str()
      ->group(kMla);
  sub->add_option("--v-head-dim", m.v_head_dim, "per-head value size")
      ->capture_default_str()
      ->group(kMla);
  sub->add_flag("--legacy-kv-b", m.legacy_kv_b, "one attn_kv_b per layer (older converters)")
      ->group(kMla);
  sub->add_option("--yarn-factor", m.yarn_factor, "YaRN factor (0: no YaRN)")
      ->capture_default_str()
      ->group(kMla);
  sub->add_option("--yarn-orig-ctx", m.yarn_orig_ctx, "YaRN original context (0: n_ctx/factor)")
      ->capture_default_str()
      ->group(kMla);
  sub->add_option("--yarn-mscale-all-dim", m.yarn_mscale_all_dim,
                  "YaRN mscale_all_dim (yarn_log_multiplier = 0.1 * it; 0: not written)")
      ->capture_default_str()
      ->group(kMla);
  sub->add_option("--tokenizer-json", o->tokenizer_json,
                  "Hugging Face tokenizer.json to use instead of the built-in vocabulary");
  sub->add_option("--tokenizer-config", o->tokenizer_config, "its tokenizer_config.json");
  sub->add_option("--pre", o->pre, "tokenizer.ggml.pre name (llama-bpe, qwen2, ...)");
  return [o] { return GenModel(*o); };
}

}  // namespace shoal::cli
