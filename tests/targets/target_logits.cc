// shoal_target_logits: evaluates a prompt on one thread once per compiled and supported Highway
// target (dispatch forced to each with hwy::SetSupportedTargetsForTest, the model loaded again
// for each, so load-time repacking runs on that target too) and compares the last position's
// logits with reference logits written by another build: `shoal logits` of the native x86-64
// build, when this binary is the aarch64 one under qemu (scripts/cross_arm64.sh), or of the same
// build (ctest target_logits). See docs/testing.md.
//
//   shoal_target_logits --model M.gguf --ids 1,2,3 --ref REF.f32 --max-sd B
//                       [--targets NEON,SVE,...] [--threads 1]
//
// REF holds n_vocab float32 values (little-endian). Per target: max_i |got_i - ref_i| / sd(ref)
// must be <= B, and where the reference's top-2 margin exceeds 2 * B * sd(ref) (so that no error
// within the bound can reorder them) the argmax must be the reference's. One JSON line per
// target. Exit status: 0 all within bounds, 1 a target outside them, 2 bad input or a failed load.
#include <hwy/targets.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/model.h"
#include "runtime/session.h"

namespace {

using shoal::InvalidArgument;
using shoal::Status;
using shoal::StatusOr;

struct Opts {
  std::string model, ids, ref, targets;
  double max_sd = -1;
  int threads = 1;
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

StatusOr<Opts> ParseArgs(int argc, char** argv) {
  Opts o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return InvalidArgument("option " + a + " needs a value");
    const std::string v = argv[++i];
    if (a == "--model") {
      o.model = v;
    } else if (a == "--ids") {
      o.ids = v;
    } else if (a == "--ref") {
      o.ref = v;
    } else if (a == "--targets") {
      o.targets = v;
    } else if (a == "--max-sd") {
      char* end = nullptr;
      o.max_sd = std::strtod(v.c_str(), &end);
      if (*end != '\0' || !(o.max_sd > 0)) return InvalidArgument("--max-sd must be > 0");
    } else if (a == "--threads") {
      o.threads = std::atoi(v.c_str());
      if (o.threads < 1 || o.threads > 256) return InvalidArgument("--threads must be in [1, 256]");
    } else {
      return InvalidArgument("unknown option " + a);
    }
  }
  if (o.model.empty() || o.ids.empty() || o.ref.empty() || o.max_sd < 0) {
    return InvalidArgument("give --model, --ids, --ref and --max-sd");
  }
  return o;
}

StatusOr<std::vector<int32_t>> ParseIds(const std::string& list) {
  std::vector<int32_t> ids;
  for (const std::string& s : Split(list)) {
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (*end != '\0' || v < 0 || v > (1L << 30)) return InvalidArgument("bad token id '" + s + "'");
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty() || ids.size() > 4096) return InvalidArgument("give 1 to 4096 token ids");
  return ids;
}

StatusOr<std::vector<float>> ReadFloats(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return InvalidArgument("cannot read " + path);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.empty() || bytes.size() % sizeof(float) != 0) {
    return InvalidArgument(path + ": not a float32 array (" + std::to_string(bytes.size()) +
                           " bytes)");
  }
  std::vector<float> v(bytes.size() / sizeof(float));
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(v.data()));
  return v;
}

// The last position's logits of `ids`, evaluated with dispatch forced to `target`.
StatusOr<std::vector<float>> Logits(const Opts& o, const std::vector<int32_t>& ids,
                                    int64_t target) {
  hwy::SetSupportedTargetsForTest(target);
  shoal::model::LoadOptions lo;
  lo.check_memory = false;
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<shoal::model::Model> m,
                         shoal::model::Model::Load(o.model, lo));
  shoal::ThreadPool pool(o.threads);  // one thread: qemu-user hangs on cross-thread spin-waits
  const int32_t n_ctx = static_cast<int32_t>(ids.size()) + 16;
  SHOAL_ASSIGN_OR_RETURN(std::unique_ptr<shoal::runtime::Session> s,
                         shoal::runtime::Session::Create(*m, pool, n_ctx));
  SHOAL_ASSIGN_OR_RETURN(std::span<const float> out, s->Eval(ids));
  return std::vector<float>(out.begin(), out.end());
}

struct Compare {
  double max_sd = 0, rms_sd = 0, margin_sd = 0;
  size_t argmax_ref = 0, argmax_got = 0;
  bool ok = false;
};

Compare CompareLogits(const std::vector<float>& ref, const std::vector<float>& got, double bound) {
  Compare c;
  const double n = static_cast<double>(ref.size());
  double mean = 0;
  for (float r : ref) mean += r;
  mean /= n;
  double var = 0;
  for (float r : ref) var += (r - mean) * (r - mean);
  const double sd = std::sqrt(var / n);
  double max_abs = 0, sum_sq = 0;
  bool finite = true;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - ref[i]);
    if (!std::isfinite(d)) finite = false;
    max_abs = std::max(max_abs, d);
    sum_sq += d * d;
  }
  c.argmax_ref = static_cast<size_t>(std::max_element(ref.begin(), ref.end()) - ref.begin());
  c.argmax_got = static_cast<size_t>(std::max_element(got.begin(), got.end()) - got.begin());
  double second = -INFINITY;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (i != c.argmax_ref) second = std::max(second, static_cast<double>(ref[i]));
  }
  c.max_sd = max_abs / sd;
  c.rms_sd = std::sqrt(sum_sq / n) / sd;
  c.margin_sd = (ref[c.argmax_ref] - second) / sd;
  const bool argmax_ok = c.argmax_got == c.argmax_ref || c.margin_sd <= 2 * bound;
  c.ok = finite && sd > 0 && c.max_sd <= bound && argmax_ok;
  return c;
}

int Run(int argc, char** argv) {
  auto opts = ParseArgs(argc, argv);
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "shoal_target_logits: %s\n", s.ToString().c_str());
    return 2;
  };
  if (!opts.ok()) return fail(opts.status());
  const Opts& o = *opts;
  auto ids = ParseIds(o.ids);
  if (!ids.ok()) return fail(ids.status());
  auto ref = ReadFloats(o.ref);
  if (!ref.ok()) return fail(ref.status());

  // Every supported and compiled target, or those named by --targets (each must be one).
  const std::vector<int64_t> all = hwy::SupportedAndGeneratedTargets();
  std::string names;
  for (int64_t t : all) names += std::string(names.empty() ? "" : ",") + hwy::TargetName(t);
  std::vector<int64_t> targets = all;
  if (!o.targets.empty()) {
    targets.clear();
    for (const std::string& want : Split(o.targets)) {
      auto it = std::find_if(all.begin(), all.end(),
                             [&](int64_t t) { return want == hwy::TargetName(t); });
      if (it == all.end()) {
        return fail(InvalidArgument("target " + want +
                                    " is not among the supported and "
                                    "compiled ones (" +
                                    names + ")"));
      }
      targets.push_back(*it);
    }
  }
  bool all_ok = true;
  for (int64_t t : targets) {
    auto got = Logits(o, *ids, t);
    hwy::SetSupportedTargetsForTest(0);
    if (!got.ok()) return fail(got.status().With(hwy::TargetName(t)));
    if (got->size() != ref->size()) {
      return fail(InvalidArgument(o.ref + " holds " + std::to_string(ref->size()) +
                                  " logits, the model gives " + std::to_string(got->size())));
    }
    const Compare c = CompareLogits(*ref, *got, o.max_sd);
    all_ok = all_ok && c.ok;
    std::printf(
        "{\"model\":\"%s\",\"target\":\"%s\",\"max_sd\":%.3g,\"rms_sd\":%.3g,\"bound\":%.3g,"
        "\"argmax\":%zu,\"argmax_ref\":%zu,\"margin_sd\":%.3g,\"ok\":%s}\n",
        o.model.c_str(), hwy::TargetName(t), c.max_sd, c.rms_sd, o.max_sd, c.argmax_got,
        c.argmax_ref, c.margin_sd, c.ok ? "true" : "false");
    std::fflush(stdout);
  }
  return all_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
