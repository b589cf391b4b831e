// A fixed pool of worker threads for data-parallel kernels. Run() executes fn(thread_index,
// n_threads) on every thread, the caller being thread 0, and returns when all are done. Workers
// spin briefly between calls (decode issues hundreds of small jobs per token) and then sleep.
#pragma once

#include <functional>

namespace shoal {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads <= 0: one per available core
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  void Run(const std::function<void(int thread_index, int n_threads)>& fn);

  // Splits [0, n) into size() nearly equal chunks, rounded to multiples of `grain`.
  static void Chunk(int64_t n, int64_t grain, int thread_index, int n_threads, int64_t* begin,
                    int64_t* end);

 private:
  struct State;
  int n_threads_;
  State* state_;
};

int AvailableCores();

}  // namespace shoal
