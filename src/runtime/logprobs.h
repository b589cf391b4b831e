// Log-probabilities of a row of logits at temperature 1 (before penalties and sampling), as the
// OpenAI API reports them: the chosen token's and the most likely alternatives'.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace shoal::runtime {

struct TokenLogprob;

// log p(token) = logit - log(sum_i exp(logit_i)) (kernels::LogSumExp: exp in float, sums in
// double). `top` receives the n most
// likely tokens (ties: the lower id first), most likely first; n is clamped to the vocabulary.
float LogSoftmaxAt(std::span<const float> logits, int32_t token, int32_t n_top,
                   std::vector<TokenLogprob>* top);

}  // namespace shoal::runtime
