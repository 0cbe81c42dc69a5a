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

constexpr int64_t kMaxChunks = 0xffff;  // WorkerPool's claim word holds counts below 2^16

// How long an idle worker spins for the next job before sleeping (SetSpinWait).
std::atomic<int64_t> spin_wait_us{kDefaultSpinWaitMicros};

// Calls are split into more chunks than threads, and every thread (the caller too) claims the next
// unclaimed chunk until none is left. Why not one fixed chunk per thread: on cores shared with
// another busy process (talker and vocoder on one small machine) a worker is often not running when
// a call starts. With a fixed split the caller finished its own chunk and then busy-waited, a whole
// scheduler time slice at worst, for a worker that needed the very core it was spinning on: a
// 2-thread talker beside the vocoder on 2 cores burnt 100 ms of CPU per frame where one thread
// needed 44. Claimed chunks let the caller do a late worker's share itself, and a caller left waiting
// for a chunk still running elsewhere sleeps after a short spin instead of holding its core.
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
    const int64_t chunks = (n + chunk - 1) / chunk;
    fn_ = &fn;
    n_ = n;
    chunk_ = chunk;
    done_.store(0, std::memory_order_relaxed);
    job_ += 1;
    claim_.store(PackClaim(job_, chunks, 0), std::memory_order_release);  // publishes the job to claimers
    generation_.fetch_add(1);  // wakes idle workers (seq_cst, paired with sleepers_ below)
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(sleep_mu_);
      wake_.notify_all();
    }
    RunClaimedChunks();
    WaitForChunks(chunks);
    fn_ = nullptr;
    busy_.store(false);
    return true;
  }

 private:
  // claim_ holds the running job's id, its chunk count and the next unclaimed chunk in one word,
  // so a claim (one compare-and-swap) can never take a chunk of a job other than the one it read.
  static uint64_t PackClaim(uint32_t job, int64_t chunks, int64_t next) {
    return (uint64_t{job} << 32) | (static_cast<uint64_t>(chunks) << 16) | static_cast<uint64_t>(next);
  }

  WorkerPool() = default;

  // Runs chunks of the current job until none is unclaimed. A claimed chunk keeps its job from
  // completing until done_ counts it, so fn_, n_ and chunk_ (read after the claim) stay that job's.
  void RunClaimedChunks() {
    uint64_t word = claim_.load(std::memory_order_acquire);
    while (true) {
      const int64_t chunks = static_cast<int64_t>((word >> 16) & 0xffff), next = static_cast<int64_t>(word & 0xffff);
      if (next >= chunks) return;
      if (!claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      const int64_t begin = next * chunk_;
      (*fn_)(begin, std::min(n_, begin + chunk_));
      if (done_.fetch_add(1) + 1 == chunks && caller_waiting_.load()) {
        std::lock_guard<std::mutex> lock(done_mu_);
        done_cv_.notify_one();
      }
      word = claim_.load(std::memory_order_acquire);
    }
  }

  // Every chunk is claimed; waits for the ones still running on workers. Spins while that is
  // likely short (the split is even), then sleeps: the worker may have been preempted, and on a
  // shared core the spin would keep it from running.
  void WaitForChunks(int64_t chunks) {
    if (done_.load(std::memory_order_acquire) >= chunks) return;
    const auto spin_until = std::chrono::steady_clock::now() +
                            std::max(std::chrono::microseconds(kCallerMinSpinMicros),
                                     std::chrono::microseconds(spin_wait_us.load()));
    while (done_.load(std::memory_order_acquire) < chunks) {
      if (std::chrono::steady_clock::now() < spin_until) {
        QWEN3TTS_CPU_RELAX();
        continue;
      }
      std::unique_lock<std::mutex> lock(done_mu_);
      caller_waiting_.store(true);  // seq_cst with the workers' done_ increment and load of this flag
      done_cv_.wait(lock, [&] { return done_.load() >= chunks; });
      caller_waiting_.store(false);
    }
  }

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
    for (int i = 0; i < count; ++i) workers_.emplace_back([this, current] { WorkerLoop(current); });
  }

  void WorkerLoop(uint64_t seen) {
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
      RunClaimedChunks();  // finds nothing if the caller and other workers already took every chunk
    }
  }

  // A caller whose chunks are done spins at least this long for the workers' before it sleeps (a
  // sleeping thread takes ~0.3 ms to wake on the development VM; an even split differs by ~1 chunk).
  static constexpr int64_t kCallerMinSpinMicros = 50;

  // Cache lines apart: the claim and done counters change several times per call, from every
  // thread, and must not keep invalidating the job's parameters or the idle workers' wake-up state.
  alignas(64) std::atomic<uint64_t> claim_{0};
  alignas(64) std::atomic<int64_t> done_{0};  // chunks of the current job finished
  std::atomic<bool> caller_waiting_{false};
  // The job: written by the caller before it publishes claim_, read by claimers after a claim.
  alignas(64) const absl::FunctionRef<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, chunk_ = 0;
  uint32_t job_ = 0;  // only the caller holding busy_ touches it
  std::atomic<bool> busy_{false};  // one job at a time
  alignas(64) std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};
  alignas(64) std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::mutex sleep_mu_;
  std::condition_variable wake_;
  std::vector<std::thread> workers_;
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
  const int64_t max_chunks =
      std::min<int64_t>({int64_t{threads} * kChunksPerThread, (n + grain - 1) / grain, kMaxChunks});
  if (threads <= 1 || max_chunks <= 1) {
    fn(0, n);
    return;
  }
  // Chunks of whole grains, as even as that allows.
  const int64_t chunk = (n + max_chunks - 1) / max_chunks;
  if (!WorkerPool::Get().Run(threads, n, (chunk + grain - 1) / grain * grain, fn)) fn(0, n);
}

}  // namespace qwen3tts::nn
