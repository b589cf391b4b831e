#include "runtime/logprobs.h"

#include <algorithm>
#include <cmath>

#include "runtime/scheduler.h"

namespace shoal::runtime {

float LogSoftmaxAt(std::span<const float> logits, int32_t token, int32_t n_top,
                   std::vector<TokenLogprob>* top) {
  if (top != nullptr) top->clear();
  if (logits.empty()) return 0.0f;
  double mx = logits[0];
  for (float x : logits) mx = std::max(mx, double(x));
  double sum = 0;
  for (float x : logits) sum += std::exp(double(x) - mx);
  const double lse = mx + std::log(sum);
  if (top != nullptr && n_top > 0) {
    const size_t n = std::min(size_t(n_top), logits.size());
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
    std::partial_sort(ids.begin(), ids.begin() + std::ptrdiff_t(n), ids.end(),
                      [&](int32_t a, int32_t b) {
                        if (logits[size_t(a)] != logits[size_t(b)]) {
                          return logits[size_t(a)] > logits[size_t(b)];
                        }
                        return a < b;
                      });
    for (size_t i = 0; i < n; ++i) {
      top->push_back({ids[i], float(double(logits[size_t(ids[i])]) - lse)});
    }
  }
  if (token < 0 || size_t(token) >= logits.size()) return 0.0f;
  return float(double(logits[size_t(token)]) - lse);
}

}  // namespace shoal::runtime
