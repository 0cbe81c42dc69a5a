// A process-wide pool of spinning workers for the row kernels (nn::FloatGemv, nn::Int8Gemv).
//
// Why not at::parallel_for: it is an OpenMP parallel region, and libgomp keeps one team of workers
// per thread that ever ran one; once the process has more OpenMP threads than CPUs (the thread
// that loaded the model plus the talker's generation thread already make 3 on 2 cores) it stops
// spinning between regions, so every region pays a futex wake-up of its workers. A decoding step
// runs hundreds of kernel calls: on 2 cores an int8 0.6B step took 110-121 ms on the generation
// thread against 59 ms on the main thread. These workers spin briefly between calls whatever
// thread calls them, then sleep. Measured, talker service alone, int8 0.6B on 2 cores, per frame:
// 111.5 ms on OpenMP, 84.3 ms on this pool without spinning, 69.6 ms spinning 200 us. The default
// spin is longer (2 ms, about libgomp's own when not throttled) because a worker that went to sleep
// takes ~0.3 ms to wake on this VM: one-row products between other work (the vocoder's layers, a
// benchmark loop) took 0.38 ms with 200 us of spinning and 0.08 ms with 2 ms.
//
// Spinning is for a process that has its cores to itself. Beside another busy process on the same
// cores (talker and vocoder on one small machine) a spinning worker takes time the other needs:
// split deployment on 2 cores, 7.0 frames/s without spinning against 6.1 with. There a worker is
// also often not running when a call starts, which is why calls are split into claimed chunks
// (ParallelFor below; parallel.cc has the figures).
#pragma once

#include <chrono>
#include <cstdint>

#include "absl/functional/function_ref.h"

namespace qwen3tts::nn {

// How long an idle worker busy-waits for the next call before it sleeps (default
// kDefaultSpinWaitMicros). 0: sleep at once (cores shared with other busy processes).
constexpr int64_t kDefaultSpinWaitMicros = 2000;
void SetSpinWait(std::chrono::microseconds wait);
std::chrono::microseconds SpinWait();

// Runs fn(begin, end) over [0, n) in contiguous chunks of whole `grain`s (the last may be
// shorter), at most kChunksPerThread per thread, and returns when all are done. The calling thread
// and up to threads - 1 pool workers each take the next unclaimed chunk until none is left, so a
// worker that is slow to start (its core busy with another process) costs nothing but its share
// going to the others. threads <= 0 means at::get_num_threads(); threads 1 runs fn(0, n) on the
// calling thread. One call at a time uses the pool: a concurrent or nested call runs serially on
// its own thread. fn must not throw and must not depend on which thread runs a chunk. A
// FunctionRef, not a std::function: a kernel call's lambda captures more than std::function stores
// inline, and a decoding step makes hundreds of calls that must not allocate.
constexpr int64_t kChunksPerThread = 4;
void ParallelFor(int64_t n, int64_t grain, absl::FunctionRef<void(int64_t, int64_t)> fn, int threads = 0);

// The process's intra-op thread count (threads <= 0: libtorch's default, the number of CPUs), set
// once at start-up before other threads compute: it becomes the calling thread's count and the
// default of UseThreadsOnThisThread(0). libtorch's own process-wide count is set to 1 and must not be
// changed afterwards with at::set_num_threads (parallel.cc says why); any other thread that computes
// calls UseThreadsOnThisThread, or it runs on one. Returns the count.
int SetProcessThreads(int threads);

// Gives the calling thread `threads` intra-op threads (ParallelFor's default, libtorch's, oneDNN's
// and OpenBLAS's parallel regions); threads <= 0: the process's count (SetProcessThreads). The
// count is per thread under OpenMP, so stages sharing a process each keep their own share of the
// cores: `qwen3-tts serve` gives the talker's generation thread one count and the vocoder's decode
// calls another. Cheap: OpenMP's per-thread count only.
void UseThreadsOnThisThread(int threads);

}  // namespace qwen3tts::nn
