// shoal id MODEL [--json] [-t T] [--no-cache]
// The model's content identity (docs/model-identity.md): what a pool compares between nodes.
// Also the identity benchmark: seconds and GB/s of the lookup, and whether it came from the cache.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "base/progress_board.h"
#include "base/thread_pool.h"
#include "cli_common.h"
#include "format/gguf.h"
#include "format/identity_cache.h"

namespace shoal::cli {
namespace {

struct Opts {
  std::string model;
  bool json = false, no_cache = false;
  int n_threads = 0;
};

Status Id(const Opts& o) {
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> f, gguf::File::Open(o.model));
  ThreadPool pool(o.n_threads);
  ProgressBoard hashing(stderr);  // on a terminal, a bar while it hashes
  const gguf::IdentityLookup r =
      gguf::LookupIdentity(*f, pool, o.no_cache ? "" : gguf::DefaultIdentityCacheDir(),
                           hashing.Reporter("hash", "hashing the model", "B"));
  hashing.SetReady();
  const double gbs = r.seconds > 0 ? double(r.identity.tensor_bytes) / r.seconds / 1e9 : 0;
  if (o.json) {
    nlohmann::json j = {{"model", o.model},
                        {"identity", r.identity.model.Hex()},
                        {"metadata_digest", r.identity.metadata.Hex()},
                        {"files", f->n_splits()},
                        {"tensors", r.identity.tensors.size()},
                        {"tensor_bytes", r.identity.tensor_bytes},
                        {"seconds", r.seconds},
                        {"gb_per_s", gbs},
                        {"threads", pool.size()},
                        {"cached", r.from_cache}};
    std::printf("%s\n", j.dump().c_str());
    return Status::Ok();
  }
  std::printf("%s  %s\n", r.identity.model.Hex().c_str(), o.model.c_str());
  std::fprintf(stderr, "shoal: %zu tensors, %s in %zu file(s), %.3f s (%.2f GB/s, %s)\n",
               r.identity.tensors.size(), HumanBytes(r.identity.tensor_bytes).c_str(),
               f->n_splits(), r.seconds, gbs, r.from_cache ? "from the cache" : "hashed");
  return Status::Ok();
}

}  // namespace

Action RegisterId(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand("id", "Print a model's content identity (digest)");
  sub->add_option("model", o->model, "GGUF file (any part of a split set)")->required();
  sub->add_flag("--json", o->json, "one JSON object: identity, tensors, bytes, seconds, GB/s");
  sub->add_option("-t,--threads", o->n_threads, "threads hashing; 0 = one per core")
      ->capture_default_str();
  sub->add_flag("--no-cache", o->no_cache, "hash the file even when the identity cache has it");
  return [o] { return Id(*o); };
}

}  // namespace shoal::cli
