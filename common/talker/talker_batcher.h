// Continuous batching for the talker stage: one generation thread advances every admitted
// sequence together, one frame per step (StepBatch), so the weights are streamed from memory once
// per frame for the whole batch instead of once per stream. Sequences join the batch at the next
// frame boundary and leave it on EOS, on the frame limit, on cancel or on error; each keeps its own
// sampling parameters, seed and text buffer. A second thread, the prefill thread, starts the
// sequences submitted as Starters (their prompt's prefill) while the batch keeps stepping.
//
// Only the generation thread touches a TalkerSequence while it is in the batch (the prefill
// thread only before it joins): text appended by a client thread is queued on its stream and
// handed to the sequence between steps, and frames go the other way through a per-stream queue.
// No gRPC in here; the talker service is a thin shell.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/talker/talker_generator.h"

namespace qwen3tts {

class TalkerBatcher {
 public:
  // What one batched step did, for metrics.
  struct StepStats {
    int batch_size = 0;
    double talker_seconds = 0;
    double code_predictor_seconds = 0;
    int threads = 0;  // intra-op threads the step ran on
  };

  // max_batch: the most sequences stepped together (later ones wait for a place, first come first
  // served). max_queued_frames: frames a stream may have produced but its reader not yet taken;
  // a slow reader pauses its own sequence instead of growing memory or slowing the others.
  // threads: intra-op threads of the generation thread's steps (0: the process's;
  // nn::UseThreadsOnThisThread); prefill_threads: of the prefill thread's prefills and of a step
  // whose sequences have no frame yet (0: as steps). A process whose other stage is idle while a
  // request starts (`qwen3-tts serve`) prefills and produces the first frame on every core.
  // lone_stream_all_threads: so does the step of a sequence alone in the batch, from its third
  // frame, while no start runs or waits (its decoding leaves the other stage idle most of each
  // frame; a start that comes during such a step shares the cores with it).
  explicit TalkerBatcher(int max_batch, int max_queued_frames = 32,
                         std::function<void(const StepStats&)> on_step = nullptr, int threads = 0,
                         int prefill_threads = 0, bool lone_stream_all_threads = false);
  int prefill_threads() const { return prefill_threads_; }  // as resolved (0: the process's)
  ~TalkerBatcher();  // stops the generation thread; streams still open end with UNAVAILABLE
  // (their handles stay usable after the batcher is gone)
  TalkerBatcher(const TalkerBatcher&) = delete;
  TalkerBatcher& operator=(const TalkerBatcher&) = delete;

  class Stream;
  // The lock and wake-ups shared by the batcher and its streams.
  struct Sync {
    std::mutex mu;
    std::condition_variable work;    // generation and prefill threads: something to do
    std::condition_variable output;  // readers: a frame, or a stream ended
  };
  // Hands a started sequence to the generation thread.
  std::shared_ptr<Stream> Submit(std::unique_ptr<TalkerSequence> sequence);
  // Starts a sequence (its prefill) on the prefill thread, one start at a time in submission
  // order, then batches it from the next step; a start error ends the stream with that status.
  //
  // Why a thread of its own: on the generation thread a prefill stopped every other stream for its
  // whole length (0.6B int4, 8 streams of 1-second requests on 2 cores: a third of that thread's
  // time, while a core sat half idle). Why one thread and not the callers': the prefills' GEMMs
  // then never run concurrently with each other (OpenBLAS, OpenMP build, busy-waits a caller while
  // another thread's call runs; prefills on the callers' threads once starved the generation
  // thread: time to first audio 54 s instead of 1 s at four streams), and a step's products run
  // on the row kernels (int8/int4 always, float32/bfloat16 up to nn::FloatGemvMaxRows()
  // sequences), not on OpenBLAS. Its thread count: see RunPrefills.
  using Starter = std::function<absl::StatusOr<std::unique_ptr<TalkerSequence>>()>;
  std::shared_ptr<Stream> Submit(Starter start);

  class Stream {
   public:
    // Blocks for the next frame. nullopt: the sequence finished (EOS, frame limit or text closed
    // and consumed); an error: generation failed, the stream was cancelled or the batcher stopped.
    // `cancelled` is polled while waiting (every 50 ms) and cancels the stream when it turns true.
    absl::StatusOr<std::optional<std::vector<int64_t>>> Next(const std::function<bool()>& cancelled = nullptr);
    // Streaming text input; applied between steps. FAILED_PRECONDITION once the text is closed.
    absl::Status AppendText(std::vector<int64_t> text_ids);
    void CloseText();
    // Removes the sequence from the batch at the next frame boundary.
    void Cancel();
    // Cancel() and wait until the generation thread has let go of the sequence (at most one step).
    void CancelAndWait();
    // True once the sequence left the batch; then sequence() may be read.
    bool done() const;
    // The sequence, for its summary (frames, EOS, warnings, timings); only valid when done().
    // nullptr when it never started (its start failed, or it was cancelled before).
    const TalkerSequence* sequence() const { return sequence_.get(); }

   private:
    friend class TalkerBatcher;
    Stream(std::shared_ptr<Sync> sync, std::unique_ptr<TalkerSequence> sequence, Starter start)
        : sync_(std::move(sync)), sequence_(std::move(sequence)), start_(std::move(start)) {}

    std::shared_ptr<Sync> sync_;
    std::unique_ptr<TalkerSequence> sequence_;  // set by the prefill thread when start_ is pending
    Starter start_;                             // pending start; empty once taken by the prefill thread
    // Guarded by sync_->mu.
    std::deque<std::vector<int64_t>> frames_;
    std::vector<int64_t> pending_text_;
    bool close_text_ = false;
    bool text_closed_ = false;  // as seen by the client (AppendText after CloseText is an error)
    bool cancelled_ = false;
    bool done_ = false;
    absl::Status status_;
    // The prefill thread is running its start (taken, no sequence yet); it alone may retire it.
    bool starting() const { return !start_ && sequence_ == nullptr; }
  };

 private:
  void Run();         // the generation thread
  void RunPrefills();  // the prefill thread
  std::shared_ptr<Stream> Enqueue(std::shared_ptr<Stream> stream);
  // Under sync_->mu: applies queued text / cancels and retires streams that left the batch.
  void SettleLocked();
  // Under sync_->mu: something for the generation thread (a frame to produce, text or a cancel to
  // apply, a stream to retire), or for the prefill thread (the first stream waiting to start that
  // holds a place in the batch; nullptr if none).
  bool HasStepWorkLocked() const;
  std::shared_ptr<Stream> NextToStartLocked() const;
  void RetireLocked(const std::shared_ptr<Stream>& stream, absl::Status status);

  const int max_batch_;
  const int max_queued_frames_;
  const int threads_;
  const int prefill_threads_;
  const bool lone_stream_all_threads_;
  std::function<void(const StepStats&)> on_step_;
  std::shared_ptr<Sync> sync_ = std::make_shared<Sync>();
  std::vector<std::shared_ptr<Stream>> streams_;  // in the batch or waiting for a place, FIFO
  bool stopping_ = false;
  bool prefilling_ = false;  // a start is running on the prefill thread (under sync_->mu)
  std::thread thread_;          // generation
  std::thread prefill_thread_;  // started last: both run members initialized above
};

}  // namespace qwen3tts
