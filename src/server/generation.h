// One request in flight, between the scheduler thread (which produces tokens through callbacks)
// and the HTTP handler thread that answers the client (which waits on this request's own queue).
// Detokenization (whole UTF-8 characters only) and stop strings run in the token callback, so
// generation ends on the very token that completes a stop string.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/tokenizer.h"
#include "runtime/scheduler.h"

namespace shoal::server {

struct TokenOut {
  int32_t token = 0;
  float logprob = 0.0f;
  std::vector<runtime::TokenLogprob> top;
};

// What the handler gets from one Wait: the text released since the last one, the tokens
// generated since (with logprobs when asked), and at the end the result.
struct Chunk {
  std::string text;
  std::vector<TokenOut> tokens;
  bool done = false;
  std::string finish_reason;  // when done: "stop", "length", "cancelled" or "error"
  std::string stop_string;    // when a stop string ended it: which one
  runtime::GenerationResult result;
};

struct GenerationSpec {
  std::vector<int32_t> prompt;
  runtime::GenerationParams params;
  std::vector<std::string> stop;  // stop strings
};

class Generation {
 public:
  // Submits to the scheduler. Errors are the scheduler's (InvalidArgument, ResourceExhausted,
  // Unavailable); no callback runs then.
  static StatusOr<std::shared_ptr<Generation>> Start(runtime::Scheduler& sched,
                                                     const model::Tokenizer& tok,
                                                     GenerationSpec spec);
  ~Generation();  // cancels the request if it is still running

  // Waits up to timeout_ms for output; false when nothing came (the request goes on).
  bool Wait(Chunk* out, int timeout_ms);
  // The client is gone: the scheduler ends the request and frees its KV.
  void Cancel();
  uint64_t id() const { return id_; }

  struct State;

 private:
  Generation(runtime::Scheduler& sched, std::shared_ptr<State> st) : sched_(sched), st_(st) {}
  runtime::Scheduler& sched_;
  std::shared_ptr<State> st_;
  uint64_t id_ = 0;
};

}  // namespace shoal::server
