// nn::ParallelFor, the worker pool behind the row kernels: every index exactly once in contiguous
// chunks, any thread count (the pool resizes), concurrent and nested callers, and kernels whose
// results do not depend on the thread count.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/nn/float_gemv.h"
#include "common/nn/int8_gemv.h"
#include "common/nn/parallel.h"

namespace qwen3tts::nn {
namespace {

TEST(ParallelFor, EveryIndexOnceInContiguousChunksOfWholeGrains) {
  for (int threads : {1, 2, 3, 4, 2}) {  // back to 2: the pool shrinks and grows again
    for (int64_t n : {0, 1, 5, 64, 1000}) {
      for (int64_t grain : {1, 7, 64}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::mutex mu;
        std::vector<std::pair<int64_t, int64_t>> chunks;
        ParallelFor(n, grain, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
          std::lock_guard<std::mutex> lock(mu);
          chunks.emplace_back(begin, end);
        }, threads);
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << threads << " " << n << " " << grain;
        EXPECT_LE(static_cast<int64_t>(chunks.size()), threads * kChunksPerThread);
        if (threads == 1 && n > 0) {
          EXPECT_EQ(chunks.size(), 1u);
        }
        for (const auto& [begin, end] : chunks) {
          EXPECT_LT(begin, end);
          // Chunks start on a grain boundary and hold whole grains, except the last one.
          EXPECT_EQ(begin % grain, 0) << begin;
          if (end != n) {
            EXPECT_EQ((end - begin) % grain, 0) << begin << " " << end;
          }
        }
        if (n == 0) {
          EXPECT_TRUE(chunks.empty());
        }
      }
    }
  }
}

// Workers that sleep at once (spin_wait_us 0, cores shared with other stages) and workers that
// busy-wait both pick up every call; the setting is clamped at 0.
TEST(ParallelFor, WorkersWakeWithAndWithoutSpinning) {
  const std::chrono::microseconds saved = SpinWait();
  for (int64_t us : {0, 50, -5}) {
    SetSpinWait(std::chrono::microseconds(us));
    EXPECT_EQ(SpinWait().count(), std::max<int64_t>(us, 0));
    for (int k = 0; k < 200; ++k) {
      std::atomic<int64_t> sum{0};
      ParallelFor(64, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) sum.fetch_add(i);
      }, 2);
      ASSERT_EQ(sum.load(), 64 * 63 / 2) << "spin " << us << " call " << k;
      if (k % 50 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));  // let workers sleep
    }
  }
  SetSpinWait(saved);
}

TEST(ParallelFor, ConcurrentAndNestedCallersAllComplete) {
  constexpr int kCallers = 4, kCalls = 300;
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&] {
      for (int k = 0; k < kCalls; ++k) {
        ParallelFor(100, 10, [&](int64_t begin, int64_t end) {
          total.fetch_add(end - begin);
          // A nested call (from the pool's own workers too) runs serially on its thread.
          ParallelFor(3, 1, [&](int64_t b, int64_t e) { total.fetch_add(e - b); }, 2);
        }, 2);
      }
    });
  }
  for (std::thread& t : callers) t.join();
  // Each call: 100 items plus 3 per chunk: 1 chunk when it ran serially, else 5 (8 chunks at most
  // for 2 threads, rounded up to whole grains of 10: 20 items each).
  const int64_t calls = int64_t{kCallers} * kCalls;
  EXPECT_GE(total.load(), calls * 103);
  EXPECT_LE(total.load(), calls * 115);
}

double ThreadCpuMillis() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// A worker held up inside its chunk (preempted on a shared core, here sleeping) neither holds up
// the other chunks, which the caller claims, nor keeps the caller busy-waiting for it: the caller
// sleeps until the chunk is done.
TEST(ParallelFor, CallerTakesTheChunksOfAStalledWorkerAndSleepsWhileWaitingForIt) {
  const std::chrono::microseconds saved = SpinWait();
  SetSpinWait(std::chrono::microseconds(0));
  const std::thread::id caller = std::this_thread::get_id();
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::atomic<int> caller_chunks{0}, worker_chunks{0};
    std::atomic<bool> worker_stalled{false};
    const double cpu_before = ThreadCpuMillis();
    const auto wall_before = std::chrono::steady_clock::now();
    ParallelFor(8, 1, [&](int64_t, int64_t) {
      if (std::this_thread::get_id() == caller) {
        caller_chunks.fetch_add(1);
        // Give the worker time to wake and claim a chunk before the caller takes them all.
        if (caller_chunks.load() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return;
      }
      worker_chunks.fetch_add(1);
      if (!worker_stalled.exchange(true)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }, 2);
    const double wall_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall_before).count();
    const double cpu_ms = ThreadCpuMillis() - cpu_before;
    ASSERT_EQ(caller_chunks.load() + worker_chunks.load(), 8);
    if (!worker_stalled.load()) continue;  // the worker never got a chunk (not scheduled): try again
    // The stalled worker ran one chunk; the caller all the others.
    EXPECT_EQ(worker_chunks.load(), 1);
    EXPECT_EQ(caller_chunks.load(), 7);
    EXPECT_GE(wall_ms, 150.0);  // the call waited for the stalled chunk
    EXPECT_LT(cpu_ms, 50.0) << "the caller busy-waited for the stalled worker (" << wall_ms << " ms wall)";
    SetSpinWait(saved);
    return;
  }
  SetSpinWait(saved);
  GTEST_SKIP() << "the worker never claimed a chunk in 20 calls";
}

TEST(ParallelFor, KernelsGiveTheSameBitsOnOneAndTwoThreads) {
  const int saved = at::get_num_threads();
  at::manual_seed(11);
  at::Tensor w = at::randn({301, 517}) * 0.05;
  at::Tensor x = at::randn({5, 517});
  Int8Weight q = QuantizeInt8(w);
  at::set_num_threads(1);
  at::Tensor float_one = FloatGemv(w, x), int8_one = Int8Gemv(q, x);
  at::set_num_threads(2);
  EXPECT_TRUE(at::equal(FloatGemv(w, x), float_one));
  EXPECT_TRUE(at::equal(Int8Gemv(q, x), int8_one));
  // And from a thread other than the one that configured the thread count.
  std::thread other([&] {
    EXPECT_TRUE(at::equal(FloatGemv(w, x), float_one));
    EXPECT_TRUE(at::equal(Int8Gemv(q, x), int8_one));
  });
  other.join();
  at::set_num_threads(saved);
}

size_t ThreadsInProcess() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// libtorch rebuilds its process-wide pthreadpool, whose workers spin ~25 ms of CPU each, whenever
// at::set_num_threads runs, and each thread's first ATen call runs it with libtorch's process-wide
// count. The services run every call on a thread of its own: neither that first call nor a switch
// of a thread's count (the talker's prefill and steps) may start threads.
TEST(ThreadCounts, ThreadsChooseTheirCountsWithoutStartingThreads) {
  const int saved = at::get_num_threads();
  ASSERT_EQ(SetProcessThreads(2), 2);
  EXPECT_EQ(at::get_num_threads(), 2);
  const size_t before = ThreadsInProcess();
  int first = 0, process = 0, own = 0;
  std::thread worker([&] {
    at::Tensor t = at::zeros({8}) + 1;  // this thread's first ATen calls
    first = at::get_num_threads();
    UseThreadsOnThisThread(0);
    process = at::get_num_threads();
    UseThreadsOnThisThread(3);
    own = at::get_num_threads();
    UseThreadsOnThisThread(1);
  });
  worker.join();
  EXPECT_EQ(first, 1);    // a thread that does not choose runs on one
  EXPECT_EQ(process, 2);  // 0: the process's count
  EXPECT_EQ(own, 3);
  // No pool workers were started and left behind (they would never exit). The joined thread's own
  // entry can outlive the join by a moment, hence the wait.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (ThreadsInProcess() > before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(ThreadsInProcess(), before);
  EXPECT_EQ(at::get_num_threads(), 2);    // the counts are per thread: the caller's is untouched
  SetProcessThreads(saved);
}

}  // namespace
}  // namespace qwen3tts::nn
