// Takes turns for heavy computations that would otherwise run side by side with multi-threaded ops.
//
// A vocoder decode call spreads its ops over the intra-op threads (OpenMP). Several streams'
// calls at once compete for the same cores, and OpenBLAS's OpenMP build busy-waits a caller while
// another thread's call runs, so the spinning threads starve the ones doing the work
// (`qwen3-tts serve`, 4 streams: 2.86 frames/s, half of one stream's 5.35). A stage's streams hold
// a ComputeScope on the stage's gate around each call; turns are served first come, first served.
// With one intra-op thread there is no pool to share and the scope lets calls run side by side.
// (Two callers at once, the talker's generation thread and one vocoder call, cost little; gating
// those two against each other measured slower for a single stream, so the talker is not gated.)
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace qwen3tts {

// A ticket lock: turns are served in the order they were asked for.
class ComputeGate {
 public:
  ComputeGate() = default;
  ComputeGate(const ComputeGate&) = delete;
  ComputeGate& operator=(const ComputeGate&) = delete;

 private:
  friend class ComputeScope;
  std::mutex mu_;
  std::condition_variable turn_;
  uint64_t next_ticket_ = 0;
  uint64_t serving_ = 0;
};

class ComputeScope {
 public:
  // exclusive: wait for (and hold) a turn of `gate`; false: a no-op scope.
  ComputeScope(ComputeGate& gate, bool exclusive);
  ~ComputeScope();
  ComputeScope(const ComputeScope&) = delete;
  ComputeScope& operator=(const ComputeScope&) = delete;

 private:
  ComputeGate* gate_ = nullptr;  // null: not held
};

}  // namespace qwen3tts
