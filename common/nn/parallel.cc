#include "common/nn/parallel.h"

#include <ATen/Parallel.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QWEN3TTS_CPU_RELAX() _mm_pause()
#else
#define QWEN3TTS_CPU_RELAX() std::this_thread::yield()
#endif

namespace qwen3tts::nn {
namespace {

// How long an idle worker spins for the next job before sleeping (SetSpinWait).
std::atomic<int64_t> spin_wait_us{kDefaultSpinWaitMicros};

class WorkerPool {
 public:
  static WorkerPool& Get() {
    static WorkerPool* pool = new WorkerPool();  // never destroyed: workers may outlive static teardown
    return *pool;
  }

  // False if another call holds the pool (the caller then runs serially).
  bool Run(int threads, int64_t n, int64_t chunk, absl::FunctionRef<void(int64_t, int64_t)> fn) {
    // A flag, not a mutex: a nested call comes from the thread that holds it (try_lock on a mutex
    // the caller owns is undefined).
    bool idle = false;
    if (!busy_.compare_exchange_strong(idle, true)) return false;
    EnsureWorkers(threads - 1);
    fn_ = &fn;
    n_ = n;
    chunk_ = chunk;
    pending_.store(static_cast<int>(workers_.size()));
    generation_.fetch_add(1);  // publishes the job (seq_cst, paired with sleepers_ below)
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(sleep_mu_);
      wake_.notify_all();
    }
    fn(0, std::min(n, chunk));
    while (pending_.load(std::memory_order_acquire) > 0) QWEN3TTS_CPU_RELAX();
    fn_ = nullptr;
    busy_.store(false);
    return true;
  }

 private:
  WorkerPool() = default;

  void EnsureWorkers(int count) {
    if (static_cast<int>(workers_.size()) == count) return;
    {
      std::lock_guard<std::mutex> lock(sleep_mu_);
      stop_.store(true);
      wake_.notify_all();
    }
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    stop_.store(false);
    const uint64_t current = generation_.load();
    for (int i = 0; i < count; ++i) workers_.emplace_back([this, i, current] { WorkerLoop(i + 1, current); });
  }

  void WorkerLoop(int64_t index, uint64_t seen) {
    while (true) {
      const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_wait_us.load());
      uint64_t generation;
      while ((generation = generation_.load()) == seen && !stop_.load()) {
        if (std::chrono::steady_clock::now() < spin_until) {
          QWEN3TTS_CPU_RELAX();
          continue;
        }
        std::unique_lock<std::mutex> lock(sleep_mu_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
        sleepers_.fetch_sub(1);
      }
      if (stop_.load()) return;
      seen = generation;
      const int64_t begin = index * chunk_;
      if (begin < n_) (*fn_)(begin, std::min(n_, begin + chunk_));
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }

  std::atomic<bool> busy_{false};  // one job at a time
  std::vector<std::thread> workers_;
  // The job: read by workers after they see generation_ change.
  const absl::FunctionRef<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, chunk_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};
  std::mutex sleep_mu_;
  std::condition_variable wake_;
};

}  // namespace

void SetSpinWait(std::chrono::microseconds wait) { spin_wait_us.store(std::max<int64_t>(0, wait.count())); }

std::chrono::microseconds SpinWait() { return std::chrono::microseconds(spin_wait_us.load()); }

namespace {
std::atomic<int> process_threads{0};  // SetProcessThreads; 0 until then
}  // namespace

// Why libtorch's own count is 1: every thread's first ATen call runs libtorch's one-time set-up,
// which calls at::set_num_threads(that count), and at::set_num_threads rebuilds libtorch's
// process-wide pthreadpool (used by QNNPACK/XNNPACK operators, not by us) with that many threads.
// Each rebuild started a worker that spins ~25 ms of CPU before it sleeps. The services run each
// call on a thread of its own, so every request started one (and the talker's switch to the prefill
// count and back two more) while its prefill ran on the same cores: measured 14 rebuilds in 10
// one-frame requests of `serve`. With 1 the pool has no worker threads; our counts are OpenMP's
// per-thread ones, which is what at::get_num_threads(), at::parallel_for, oneDNN and OpenBLAS read.
int SetProcessThreads(int threads) {
  const int count = threads > 0 ? threads : at::get_num_threads();
  process_threads.store(count);
  at::set_num_threads(1);
  omp_set_num_threads(count);
  return count;
}

void UseThreadsOnThisThread(int threads) {
  if (threads <= 0) threads = process_threads.load();
  if (threads <= 0) return;  // no SetProcessThreads: libtorch's default stays
  // at::get_num_threads() first: on the thread's first ATen call libtorch's set-up would overwrite
  // the count set here.
  if (at::get_num_threads() != threads) omp_set_num_threads(threads);
}

void ParallelFor(int64_t n, int64_t grain, absl::FunctionRef<void(int64_t, int64_t)> fn, int threads) {
  if (n <= 0) return;
  if (threads <= 0) threads = at::get_num_threads();
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
  if (chunks <= 1 || !WorkerPool::Get().Run(threads, n, (n + chunks - 1) / chunks, fn)) fn(0, n);
}

}  // namespace qwen3tts::nn
