#include "base/thread_pool.h"

#include <algorithm>
#include <thread>

namespace shoal {

// Placeholder serial implementation; the spinning pool replaces it.
struct ThreadPool::State {};

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(n_threads > 0 ? n_threads : AvailableCores()), state_(nullptr) {}
ThreadPool::~ThreadPool() = default;

void ThreadPool::Run(const std::function<void(int, int)>& fn) {
  for (int i = 0; i < n_threads_; ++i) fn(i, n_threads_);
}

void ThreadPool::Chunk(int64_t n, int64_t grain, int thread_index, int n_threads, int64_t* begin,
                       int64_t* end) {
  const int64_t units = (n + grain - 1) / grain;
  const int64_t per = units / n_threads, extra = units % n_threads;
  const int64_t b = thread_index * per + std::min<int64_t>(thread_index, extra);
  const int64_t e = b + per + (thread_index < extra ? 1 : 0);
  *begin = std::min(n, b * grain);
  *end = std::min(n, e * grain);
}

int AvailableCores() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace shoal
