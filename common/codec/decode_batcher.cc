#include "common/codec/decode_batcher.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "common/nn/parallel.h"

namespace qwen3tts {

struct DecodeBatcher::Call {
  DecoderSession* session = nullptr;
  at::Tensor codes;  // validated [n, num_quantizers]
  std::function<bool()> cancelled;
  std::vector<at::Tensor> samples;  // each round's
  int64_t frames_done = 0;
  absl::Status status;
  bool done = false;
};

DecodeBatcher::DecodeBatcher(int threads, std::function<void(int calls)> on_round,
                             std::chrono::milliseconds gather_window)
    : threads_(threads),
      on_round_(std::move(on_round)),
      gather_window_(std::max(gather_window, std::chrono::milliseconds(0))),
      worker_([this] { Run(); }) {}

DecodeBatcher::Stream::Stream(DecodeBatcher& batcher) : batcher_(batcher) {
  std::lock_guard<std::mutex> lock(batcher_.mu_);
  ++batcher_.open_streams_;
}

DecodeBatcher::Stream::~Stream() {
  {
    std::lock_guard<std::mutex> lock(batcher_.mu_);
    --batcher_.open_streams_;
  }
  batcher_.work_.notify_all();  // a gathering round may now have every open stream's call
}

bool DecodeBatcher::RoundIsReady() const {
  if (static_cast<int>(calls_.size()) >= open_streams_) return true;
  for (const Call* c : calls_) {
    // A stream's first frames (its time to first audio), or a call that goes on from the last round.
    if (c->frames_done > 0 || c->session->frames_decoded() == 0) return true;
  }
  return false;
}

DecodeBatcher::~DecodeBatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  worker_.join();
}

absl::StatusOr<at::Tensor> DecodeBatcher::Push(DecoderSession* session, const at::Tensor& codes,
                                               std::function<bool()> cancelled) {
  absl::StatusOr<at::Tensor> valid = session->ValidateCodes(codes);
  if (!valid.ok()) return valid.status();
  if (valid->size(0) == 0) return session->Push(*valid);  // nothing to decode (or a finished session's error)
  Call call;
  call.session = session;
  call.codes = *valid;
  call.cancelled = std::move(cancelled);
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return absl::UnavailableError("the vocoder is shutting down");
  calls_.push_back(&call);
  work_.notify_all();
  done_.wait(lock, [&call] { return call.done; });
  if (!call.status.ok()) return call.status;
  // One round's samples as they are (the usual case: calls of up to one pass).
  return call.samples.size() == 1 ? call.samples.front() : at::cat(call.samples, 0);
}

int DecodeBatcher::pending_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(calls_.size());
}

DecodeBatcher::Stats DecodeBatcher::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void DecodeBatcher::Run() {
  nn::UseThreadsOnThisThread(threads_);
  std::vector<Call*> round;
  std::vector<DecoderSession*> sessions;
  std::vector<at::Tensor> parts;
  std::vector<std::function<bool()>> cancelled;
  std::vector<bool> finished;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_.wait(lock, [this] { return stopping_ || !calls_.empty(); });
    if (stopping_) break;
    if (gather_window_.count() > 0 && !RoundIsReady()) {
      ++stats_.gathered_rounds;
      work_.wait_for(lock, gather_window_, [this] { return stopping_ || RoundIsReady(); });
      if (stopping_) break;
    }
    // Every call waiting now takes part; its next frames, up to one pre-transformer pass of them.
    round.assign(calls_.begin(), calls_.end());
    lock.unlock();
    sessions.clear();
    parts.clear();
    cancelled.clear();
    for (Call* c : round) {
      sessions.push_back(c->session);
      const int64_t n = c->codes.size(0);
      parts.push_back(c->codes.narrow(0, c->frames_done,
                                      std::min(n - c->frames_done, DecoderSession::kFramesPerTransformerPass)));
      cancelled.push_back(c->cancelled);
    }
    std::vector<absl::StatusOr<at::Tensor>> results = DecoderSession::PushTogether(sessions, parts, cancelled);
    finished.assign(round.size(), false);  // `done` itself is only written under the lock
    for (size_t i = 0; i < round.size(); ++i) {
      Call* c = round[i];
      if (!results[i].ok()) {
        c->status = results[i].status();
        finished[i] = true;
        continue;
      }
      c->samples.push_back(*std::move(results[i]));
      c->frames_done += parts[i].size(0);
      finished[i] = c->frames_done == c->codes.size(0);
    }
    if (on_round_) on_round_(static_cast<int>(round.size()));
    lock.lock();
    ++stats_.rounds;
    stats_.call_rounds += static_cast<int64_t>(round.size());
    stats_.most_calls_in_a_round = std::max<int64_t>(stats_.most_calls_in_a_round, static_cast<int64_t>(round.size()));
    for (size_t i = 0; i < round.size(); ++i) {
      if (!finished[i]) continue;
      round[i]->done = true;
      ++stats_.calls;
      calls_.remove(round[i]);
    }
    done_.notify_all();
  }
  for (Call* c : calls_) {
    c->status = absl::UnavailableError("the vocoder is shutting down");
    c->done = true;
  }
  calls_.clear();
  done_.notify_all();
}

}  // namespace qwen3tts
