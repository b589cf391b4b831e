// shoal inspect MODEL [--json] [-c CTX]: what is inside a GGUF file and what running it costs.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_common.h"
#include "format/gguf.h"
#include "model_info.h"
#include "tensor/dtype.h"

namespace shoal::cli {
namespace {

constexpr size_t kShownArrayItems = 8;  // longer arrays are abbreviated

nlohmann::json ValueJson(const gguf::Value& v, bool abbreviate) {
  if (const auto* a = std::get_if<gguf::Array>(&v.v)) {
    nlohmann::json out = nlohmann::json::array();
    const size_t n = abbreviate ? std::min(a->items.size(), kShownArrayItems) : a->items.size();
    for (size_t i = 0; i < n; ++i) out.push_back(ValueJson(a->items[i], abbreviate));
    if (n < a->items.size()) {
      return {{"type", "array"},
              {"elem_type", std::string(gguf::ValueTypeName(a->elem_type))},
              {"n", a->items.size()},
              {"first", out}};
    }
    return out;
  }
  if (const auto* u = std::get_if<uint64_t>(&v.v)) return *u;
  if (const auto* i = std::get_if<int64_t>(&v.v)) return *i;
  if (const auto* d = std::get_if<double>(&v.v)) return *d;
  if (const auto* b = std::get_if<bool>(&v.v)) return *b;
  if (const auto* s = std::get_if<std::string>(&v.v)) {
    // Invalid UTF-8 would make the JSON dump throw: replace it.
    return *s;
  }
  return nullptr;
}

std::string ValueText(const gguf::Value& v) {
  if (const auto* a = std::get_if<gguf::Array>(&v.v)) {
    std::string s = "[";
    const size_t n = std::min(a->items.size(), kShownArrayItems);
    for (size_t i = 0; i < n; ++i) {
      if (i) s += ", ";
      s += ValueText(a->items[i]);
    }
    if (n < a->items.size()) {
      s += ", ... (" + std::to_string(a->items.size()) + " " +
           std::string(gguf::ValueTypeName(a->elem_type)) + ")";
    }
    return s + "]";
  }
  if (const auto* s = std::get_if<std::string>(&v.v)) {
    std::string t = *s;
    if (t.size() > 120) t = t.substr(0, 117) + "...";
    std::string out = "\"";
    for (char c : t) {
      if (c == '\n') {
        out += "\\n";
      } else if (static_cast<unsigned char>(c) < 0x20) {
        out += '?';
      } else {
        out += c;
      }
    }
    return out + "\"";
  }
  return ValueJson(v, true).dump();
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Status Inspect(const std::string& path, bool json, int64_t n_ctx) {
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::Open(path));
  const ModelCosts costs = EstimateCosts(*file, n_ctx);
  std::map<std::string, std::pair<int64_t, uint64_t>> per_type;  // name -> (count, bytes)
  for (const gguf::TensorInfo& t : file->tensors()) {
    auto& e = per_type[std::string(DTypeName(t.type))];
    e.first += 1;
    e.second += t.bytes;
  }

  if (json) {
    nlohmann::json out;
    out["path"] = path;
    out["version"] = file->version();
    out["n_splits"] = file->n_splits();
    out["file_bytes"] = file->total_file_bytes();
    nlohmann::json md = nlohmann::json::object();
    for (const auto& [k, v] : file->metadata().entries()) md[k] = ValueJson(v, true);
    out["metadata"] = md;
    nlohmann::json ts = nlohmann::json::array();
    for (const gguf::TensorInfo& t : file->tensors()) {
      ts.push_back({{"name", t.name},
                    {"shape", t.shape},
                    {"type", std::string(DTypeName(t.type))},
                    {"bytes", t.bytes}});
    }
    out["tensors"] = ts;
    nlohmann::json types = nlohmann::json::object();
    for (const auto& [name, e] : per_type) types[name] = {{"count", e.first}, {"bytes", e.second}};
    out["types"] = types;
    out["weight_bytes"] = costs.weight_bytes;
    out["n_ctx"] = costs.n_ctx;
    if (costs.kv_known) {
      out["kv_bytes_per_token"] = costs.kv_bytes_per_token;
      if (costs.kv_latent) {
        out["kv_latent"] = {{"kv_lora_rank", costs.kv_lora_rank}, {"rope_dim", costs.kv_rope_dim}};
      }
      out["memory_bytes_at_n_ctx"] = costs.memory_bytes;
    } else {
      out["kv_bytes_per_token"] = nullptr;
      out["memory_bytes_at_n_ctx"] = nullptr;
    }
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return Status::Ok();
  }

  std::printf("file: %s (GGUF v%u, %zu file(s), %s)\n", path.c_str(), file->version(),
              file->n_splits(), HumanBytes(file->total_file_bytes()).c_str());
  std::printf("\nmetadata (%zu keys):\n", file->metadata().entries().size());
  for (const auto& [k, v] : file->metadata().entries()) {
    std::printf("  %-40s %s\n", k.c_str(), ValueText(v).c_str());
  }
  std::printf("\ntensors (%zu):\n", file->tensors().size());
  for (const gguf::TensorInfo& t : file->tensors()) {
    std::printf("  %-40s %-24s %-6s %12zu\n", t.name.c_str(), ShapeText(t.shape).c_str(),
                std::string(DTypeName(t.type)).c_str(), t.bytes);
  }
  std::printf("\ntypes:\n");
  for (const auto& [name, e] : per_type) {
    std::printf("  %-6s %5lld tensors %12s\n", name.c_str(), static_cast<long long>(e.first),
                HumanBytes(e.second).c_str());
  }
  std::printf("\nweights:             %s (%llu bytes)\n", HumanBytes(costs.weight_bytes).c_str(),
              static_cast<unsigned long long>(costs.weight_bytes));
  if (costs.kv_known) {
    std::printf("KV cache per token:  %s (%llu bytes", HumanBytes(costs.kv_bytes_per_token).c_str(),
                static_cast<unsigned long long>(costs.kv_bytes_per_token));
    if (costs.kv_latent) {
      std::printf("; MLA latent %llu + rope %llu values per layer, f16",
                  static_cast<unsigned long long>(costs.kv_lora_rank),
                  static_cast<unsigned long long>(costs.kv_rope_dim));
    }
    std::printf(")\n");
    std::printf("memory at n_ctx=%lld: %s (weights + KV cache + activations)\n",
                static_cast<long long>(costs.n_ctx), HumanBytes(costs.memory_bytes).c_str());
  } else {
    std::printf("KV cache per token:  unknown (%s)\n", costs.kv_note.c_str());
  }
  return Status::Ok();
}

}  // namespace

Action RegisterInspect(CLI::App& app) {
  struct Opts {
    std::string model;
    bool json = false;
    int64_t n_ctx = 0;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("inspect", "Print a GGUF file's metadata, tensors and costs");
  sub->add_option("-m,--model,model", o->model, "GGUF file (any file of a split set)")->required();
  sub->add_flag("--json", o->json, "print one JSON object");
  sub->add_option("-c,--ctx", o->n_ctx, "context length for the memory estimate (0: the model's)");
  return [o] { return Inspect(o->model, o->json, o->n_ctx); };
}

}  // namespace shoal::cli
