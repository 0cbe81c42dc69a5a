#include "common/talker/talker_batcher.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "common/nn/parallel.h"

namespace qwen3tts {

TalkerBatcher::TalkerBatcher(int max_batch, int max_queued_frames, std::function<void(const StepStats&)> on_step,
                             int threads, int prefill_threads, bool lone_stream_all_threads)
    : max_batch_(std::max(1, max_batch)),
      max_queued_frames_(std::max(1, max_queued_frames)),
      threads_(threads),
      prefill_threads_(prefill_threads > 0 ? prefill_threads : threads),
      lone_stream_all_threads_(lone_stream_all_threads),
      on_step_(std::move(on_step)),
      thread_([this] { Run(); }),
      prefill_thread_([this] { RunPrefills(); }) {}

TalkerBatcher::~TalkerBatcher() {
  {
    std::lock_guard<std::mutex> lock(sync_->mu);
    stopping_ = true;
  }
  sync_->work.notify_all();
  thread_.join();
  prefill_thread_.join();  // after a prefill still running, if any
  std::lock_guard<std::mutex> lock(sync_->mu);
  while (!streams_.empty()) RetireLocked(streams_.front(), absl::UnavailableError("the talker is shutting down"));
}

std::shared_ptr<TalkerBatcher::Stream> TalkerBatcher::Submit(std::unique_ptr<TalkerSequence> sequence) {
  return Enqueue(std::shared_ptr<Stream>(new Stream(sync_, std::move(sequence), nullptr)));
}

std::shared_ptr<TalkerBatcher::Stream> TalkerBatcher::Submit(Starter start) {
  return Enqueue(std::shared_ptr<Stream>(new Stream(sync_, nullptr, std::move(start))));
}

std::shared_ptr<TalkerBatcher::Stream> TalkerBatcher::Enqueue(std::shared_ptr<Stream> stream) {
  {
    std::lock_guard<std::mutex> lock(sync_->mu);
    if (stopping_) {
      stream->done_ = true;
      stream->status_ = absl::UnavailableError("the talker is shutting down");
      return stream;
    }
    streams_.push_back(stream);
  }
  sync_->work.notify_all();  // the prefill thread or the generation thread
  return stream;
}

void TalkerBatcher::RetireLocked(const std::shared_ptr<Stream>& stream, absl::Status status) {
  stream->done_ = true;
  stream->status_ = std::move(status);
  streams_.erase(std::find(streams_.begin(), streams_.end(), stream));
  sync_->output.notify_all();
  sync_->work.notify_all();  // a place in the batch may have freed for a stream waiting to start
}

void TalkerBatcher::SettleLocked() {
  // Copy: retiring erases from streams_.
  std::vector<std::shared_ptr<Stream>> streams = streams_;
  for (const std::shared_ptr<Stream>& s : streams) {
    if (s->starting()) continue;  // the prefill thread settles it when its start returns
    // use_count 2 = streams_ and this copy: nobody outside holds the stream any more.
    if (s->cancelled_ || s.use_count() <= 2) {
      RetireLocked(s, absl::CancelledError("the stream was cancelled"));
      continue;
    }
    if (s->start_) continue;  // text and close wait for the start
    if (!s->pending_text_.empty()) {
      absl::Status appended = s->sequence_->AppendText(s->pending_text_);
      s->pending_text_.clear();
      if (!appended.ok()) {
        RetireLocked(s, appended);
        continue;
      }
    }
    if (s->close_text_) {
      s->sequence_->CloseText();
      s->close_text_ = false;
    }
    if (s->sequence_->state() == TalkerSequence::State::kFinished) RetireLocked(s, absl::OkStatus());
  }
}

bool TalkerBatcher::HasStepWorkLocked() const {
  for (size_t i = 0; i < streams_.size(); ++i) {
    const Stream& s = *streams_[i];
    if (s.starting()) continue;
    if (s.cancelled_) return true;
    if (s.start_) continue;  // the prefill thread's
    if (!s.pending_text_.empty() || s.close_text_) return true;
    if (static_cast<int>(i) < max_batch_ && s.sequence_->state() != TalkerSequence::State::kWaitingForText &&
        static_cast<int>(s.frames_.size()) < max_queued_frames_) {
      return true;  // a frame to produce (or a finished sequence to retire)
    }
  }
  return false;
}

std::shared_ptr<TalkerBatcher::Stream> TalkerBatcher::NextToStartLocked() const {
  for (size_t i = 0; i < streams_.size() && static_cast<int>(i) < max_batch_; ++i) {
    if (streams_[i]->start_ && !streams_[i]->cancelled_) return streams_[i];
  }
  return nullptr;
}

void TalkerBatcher::RunPrefills() {
  // The counts as resolved (0: the process's).
  nn::UseThreadsOnThisThread(threads_);
  const int step_threads = at::get_num_threads();
  nn::UseThreadsOnThisThread(prefill_threads_);
  const int alone_threads = at::get_num_threads();
  // A prefill beside running steps takes the cores they leave (at least one). On 2 cores, steps on
  // one thread and the vocoder's decode calls beside them (0.6B int4, 8 streams of 1-second
  // requests): prefills on the generation thread gave 26 frames/s; on this thread with 2 threads,
  // 26-28 for a third more CPU (three busy threads on two cores); with 1, 31-33.
  const int shared_threads = std::max(1, alone_threads - step_threads);
  std::unique_lock<std::mutex> lock(sync_->mu);
  while (true) {
    std::shared_ptr<Stream> next;
    sync_->work.wait(lock, [&] { return stopping_ || (next = NextToStartLocked()) != nullptr; });
    if (stopping_) return;
    Starter start = std::move(next->start_);
    next->start_ = nullptr;
    const bool alone = std::none_of(streams_.begin(), streams_.end(), [](const std::shared_ptr<Stream>& s) {
      return s->sequence_ != nullptr && s->sequence_->state() == TalkerSequence::State::kRunning;
    });
    prefilling_ = true;
    lock.unlock();
    nn::UseThreadsOnThisThread(alone ? alone_threads : shared_threads);
    absl::StatusOr<std::unique_ptr<TalkerSequence>> started = start();
    lock.lock();
    prefilling_ = false;
    if (!started.ok()) {
      RetireLocked(next, started.status());
    } else {
      next->sequence_ = std::move(*started);  // a cancel meanwhile is the generation thread's to apply
      sync_->work.notify_all();
    }
  }
}

void TalkerBatcher::Run() {
  nn::UseThreadsOnThisThread(threads_);
  std::unique_lock<std::mutex> lock(sync_->mu);
  while (true) {
    // The timeout notices streams abandoned without Cancel (their holder simply let go).
    sync_->work.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_ || HasStepWorkLocked(); });
    if (stopping_) return;
    SettleLocked();
    // The first max_batch_ streams hold the places; of those, the ones with a frame to produce and
    // room for it in their queue step together.
    std::vector<std::shared_ptr<Stream>> batch;
    std::vector<TalkerSequence*> sequences;
    for (size_t i = 0; i < streams_.size() && static_cast<int>(i) < max_batch_; ++i) {
      Stream& s = *streams_[i];
      if (s.sequence_ != nullptr && s.sequence_->state() == TalkerSequence::State::kRunning &&
          static_cast<int>(s.frames_.size()) < max_queued_frames_) {
        batch.push_back(streams_[i]);
        sequences.push_back(s.sequence_.get());
      }
    }
    if (batch.empty()) continue;

    std::vector<TalkerSequence::Timings> before;
    for (TalkerSequence* seq : sequences) before.push_back(seq->timings());
    std::vector<size_t> produced;
    // A step of sequences without a frame yet still belongs to their start: none of their audio is
    // being decoded, so, like the prefill, it takes the prefill's threads (time to first audio).
    const bool starting = std::all_of(sequences.begin(), sequences.end(),
                                      [](const TalkerSequence* s) { return s->frames_produced() == 0; });
    // With lone_stream_all_threads, so does a lone sequence's step while no start runs or waits:
    // the stage beside it (the vocoder in `qwen3-tts serve`) decodes one stream's frames, idle most
    // of each frame. Not the step of its second frame, while the first one's decode sets the time
    // to first audio. Measured on 2 cores, `serve` with int4-g128 talker and vocoder, one stream of
    // 4-second requests: 0.6B 20.2-22.0 against 20.0-20.8 frames/s, 1.7B 13.0-13.3 against
    // 10.9-11.1. But a start that comes during such a step shares the cores with it: 2 streams,
    // TTFA p50 140-154 against 105-131 ms. Hence off by default.
    const bool lone = lone_stream_all_threads_ && sequences.size() == 1 && sequences[0]->frames_produced() >= 2 &&
                      !prefilling_ && NextToStartLocked() == nullptr;
    const bool all_threads = starting || lone;
    lock.unlock();
    if (all_threads) nn::UseThreadsOnThisThread(prefill_threads_);
    StepStats stats;
    stats.threads = at::get_num_threads();
    // A frame goes to its reader as soon as StepBatch has it (before the talker's part of the step).
    absl::Status stepped = StepBatch(sequences, [&](size_t i, const std::vector<int64_t>& codes) {
      produced.push_back(i);
      {
        std::lock_guard<std::mutex> publish(sync_->mu);
        batch[i]->frames_.push_back(codes);
      }
      sync_->output.notify_all();
    });
    if (all_threads) nn::UseThreadsOnThisThread(threads_);
    lock.lock();

    stats.batch_size = static_cast<int>(produced.size());
    for (size_t i : produced) {
      stats.talker_seconds += sequences[i]->timings().talker_seconds - before[i].talker_seconds;
      stats.code_predictor_seconds += sequences[i]->timings().code_predictor_seconds - before[i].code_predictor_seconds;
    }
    if (stats.batch_size > 0) {
      stats.talker_seconds /= stats.batch_size;
      stats.code_predictor_seconds /= stats.batch_size;
    }
    for (const std::shared_ptr<Stream>& s : batch) {
      if (!stepped.ok()) {
        RetireLocked(s, stepped);
      } else if (s->sequence_->state() == TalkerSequence::State::kFinished) {
        RetireLocked(s, absl::OkStatus());
      }
    }
    sync_->output.notify_all();
    if (on_step_ && stats.batch_size > 0) {
      lock.unlock();
      on_step_(stats);
      lock.lock();
    }
  }
}

absl::StatusOr<std::optional<std::vector<int64_t>>> TalkerBatcher::Stream::Next(
    const std::function<bool()>& cancelled) {
  std::unique_lock<std::mutex> lock(sync_->mu);
  while (true) {
    if (!cancelled_ && cancelled && cancelled()) {
      cancelled_ = true;
      sync_->work.notify_all();
    }
    if (cancelled_) {
      // The sequence is only ours again once the generation thread has let go of it.
      if (done_) return absl::CancelledError("the stream was cancelled");
    } else if (!frames_.empty()) {
      std::vector<int64_t> frame = std::move(frames_.front());
      frames_.pop_front();
      sync_->work.notify_all();  // room in the queue again
      return std::optional<std::vector<int64_t>>(std::move(frame));
    } else if (done_) {
      if (!status_.ok()) return status_;
      return std::optional<std::vector<int64_t>>();
    }
    sync_->output.wait_for(lock, std::chrono::milliseconds(50));
  }
}

absl::Status TalkerBatcher::Stream::AppendText(std::vector<int64_t> text_ids) {
  {
    std::lock_guard<std::mutex> lock(sync_->mu);
    if (text_closed_) return absl::FailedPreconditionError("the text input is closed; no more text can be appended");
    if (done_) return absl::OkStatus();  // the sequence already ended (EOS or frame limit)
    pending_text_.insert(pending_text_.end(), text_ids.begin(), text_ids.end());
  }
  sync_->work.notify_all();
  return absl::OkStatus();
}

void TalkerBatcher::Stream::CloseText() {
  {
    std::lock_guard<std::mutex> lock(sync_->mu);
    if (text_closed_) return;
    text_closed_ = true;
    close_text_ = true;
  }
  sync_->work.notify_all();
}

void TalkerBatcher::Stream::Cancel() {
  {
    std::lock_guard<std::mutex> lock(sync_->mu);
    if (done_) return;
    cancelled_ = true;
  }
  sync_->work.notify_all();
}

void TalkerBatcher::Stream::CancelAndWait() {
  Cancel();
  while (true) {  // after Cancel, Next only returns once the stream is done
    absl::StatusOr<std::optional<std::vector<int64_t>>> frame = Next();
    if (!frame.ok() || !frame->has_value()) return;
  }
}

bool TalkerBatcher::Stream::done() const {
  std::lock_guard<std::mutex> lock(sync_->mu);
  return done_;
}

}  // namespace qwen3tts
