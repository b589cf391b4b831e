#include "runtime/logprobs.h"

#include <algorithm>
#include <cmath>

#include "kernels/ops.h"
#include "runtime/scheduler.h"

namespace shoal::runtime {

float LogSoftmaxAt(std::span<const float> logits, int32_t token, int32_t n_top,
                   std::vector<TokenLogprob>* top) {
  if (top != nullptr) top->clear();
  if (logits.empty()) return 0.0f;
  const double lse = kernels::LogSumExp(logits.data(), int64_t(logits.size()));
  if (top != nullptr && n_top > 0) {
    const size_t n = std::min(size_t(n_top), logits.size());
    // Higher logit first, then the lower id.
    auto before = [&](int32_t a, int32_t b) {
      if (logits[size_t(a)] != logits[size_t(b)]) return logits[size_t(a)] > logits[size_t(b)];
      return a < b;
    };
    std::vector<int32_t> ids;
    if (n <= 64) {  // one pass keeping the best n in order (the API asks for at most 20)
      ids.reserve(n + 1);
      // Ids come in increasing order, so a later id beats the n-th best only with a strictly
      // higher logit (NaN never does).
      auto add = [&](size_t i) {
        ids.insert(std::upper_bound(ids.begin(), ids.end(), int32_t(i), before), int32_t(i));
      };
      size_t i = 0;
      for (; i < logits.size() && ids.size() < n; ++i) {
        if (!std::isnan(logits[i])) add(i);
      }
      float worst = ids.empty() ? 0.0f : logits[size_t(ids.back())];
      for (; i < logits.size(); ++i) {
        if (!(logits[i] > worst)) continue;
        add(i);
        ids.pop_back();
        worst = logits[size_t(ids.back())];
      }
    } else {
      ids.resize(logits.size());
      for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
      std::partial_sort(ids.begin(), ids.begin() + std::ptrdiff_t(n), ids.end(), before);
      ids.resize(n);
    }
    for (int32_t id : ids) top->push_back({id, float(double(logits[size_t(id)]) - lse)});
  }
  if (token < 0 || size_t(token) >= logits.size()) return 0.0f;
  return float(double(logits[size_t(token)]) - lse);
}

}  // namespace shoal::runtime
