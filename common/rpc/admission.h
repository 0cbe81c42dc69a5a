// Admission control for a stage: at most `max_active` streams run at once and at most
// `max_queued` more wait (first come, first served); beyond that a stream is refused at once with
// RESOURCE_EXHAUSTED. There is never an unbounded queue: a TTS stage that accepts more work than
// it can run only makes every stream late.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"

namespace qwen3tts {

// A stage's stream limits (config keys max_streams and max_queue; 0 streams = unlimited).
struct StreamLimits {
  int max_streams = 0;
  int max_queue = 0;
};

// Set once the process starts draining (SIGTERM): from then on every stage refuses new streams
// with UNAVAILABLE, even in the moment before the gRPC server itself stops accepting calls, while
// the streams already admitted run to completion.
void BeginDraining();
bool Draining();

class AdmissionControl {
 public:
  // max_active <= 0: unlimited (nothing ever waits).
  AdmissionControl(int max_active, int max_queued, StageMetrics* metrics);

  // Holds one running slot; releasing it (destruction) admits the next waiting stream.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept;
    ~Slot();

   private:
    friend class AdmissionControl;
    explicit Slot(AdmissionControl* owner) : owner_(owner) {}
    AdmissionControl* owner_ = nullptr;
  };

  // Waits for a slot. RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE while draining,
  // CANCELLED when `cancelled()` turns true while waiting (checked every 50 ms).
  absl::StatusOr<Slot> Acquire(const std::function<bool()>& cancelled);

  int active() const;
  int queued() const;

 private:
  void Release();
  // Moves serving_ticket_ past tickets whose waiters gave up.
  void SkipAbandoned();

  const int max_active_, max_queued_;
  StageMetrics* metrics_;
  mutable std::mutex mu_;
  std::condition_variable freed_;
  int active_ = 0;
  int queued_ = 0;
  uint64_t next_ticket_ = 0;   // FIFO order among waiters
  uint64_t serving_ticket_ = 0;
  std::vector<uint64_t> skipped_;
};

}  // namespace qwen3tts
