#include "base/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define SHOAL_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define SHOAL_PAUSE() asm volatile("yield")
#else
#define SHOAL_PAUSE() ((void)0)
#endif

namespace shoal {

// Workers wait for `epoch` to change. They spin (with a pause instruction) for up to kSpin, which
// covers the gap between the many small jobs of one decode step, and then sleep on the condition
// variable. The caller publishes a job by storing `fn` and bumping `epoch` (release); workers
// report completion by decrementing `pending`; the caller spins, then yields, until it is zero.
struct ThreadPool::State {
  static constexpr auto kSpin = std::chrono::microseconds(50);

  std::atomic<uint64_t> epoch{0};
  std::atomic<int> pending{0};
  std::atomic<int> sleepers{0};
  std::atomic<bool> stop{false};
  const std::function<void(int, int)>* fn = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::thread> threads;

  void Worker(int index, int n) {
    uint64_t seen = 0;
    for (;;) {
      const auto t0 = std::chrono::steady_clock::now();
      int spins = 0;
      uint64_t e;
      while ((e = epoch.load(std::memory_order_acquire)) == seen) {
        SHOAL_PAUSE();
        if (++spins % 256 == 0 && std::chrono::steady_clock::now() - t0 > kSpin) {
          std::unique_lock<std::mutex> lock(mu);
          sleepers.fetch_add(1, std::memory_order_seq_cst);
          cv.wait(lock, [&] { return epoch.load(std::memory_order_acquire) != seen; });
          sleepers.fetch_sub(1, std::memory_order_relaxed);
        }
      }
      seen = e;
      if (stop.load(std::memory_order_acquire)) return;
      (*fn)(index, n);
      pending.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  void Publish() {
    {
      // Under the mutex so that a worker between its predicate check and its wait cannot miss
      // the change.
      std::lock_guard<std::mutex> lock(mu);
      epoch.fetch_add(1, std::memory_order_acq_rel);
    }
    if (sleepers.load(std::memory_order_seq_cst) > 0) cv.notify_all();
  }
};

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(n_threads > 0 ? n_threads : AvailableCores()), state_(new State) {
  state_->threads.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) {
    state_->threads.emplace_back([this, i] { state_->Worker(i, n_threads_); });
  }
}

ThreadPool::~ThreadPool() {
  state_->stop.store(true, std::memory_order_release);
  state_->Publish();
  for (auto& t : state_->threads) t.join();
  delete state_;
}

void ThreadPool::Run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  State& s = *state_;
  s.fn = &fn;
  s.pending.store(n_threads_ - 1, std::memory_order_relaxed);
  s.Publish();
  fn(0, n_threads_);
  int spins = 0;
  while (s.pending.load(std::memory_order_acquire) != 0) {
    SHOAL_PAUSE();
    if (++spins > 4096) std::this_thread::yield();
  }
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
