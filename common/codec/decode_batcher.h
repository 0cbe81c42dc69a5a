// Decode calls of concurrent streams, decoded together on one thread.
//
// A vocoder serving many streams gets about one frame per stream at a time: the gateway sends a
// stream's frames as the talker makes them, one per batched talker step. Decoded call by call,
// each of those frames read the whole pre-transformer (110 MB of int8 weights at the real shape)
// on its own, and the calls ran on a thread per stream, competing for the cores with one another
// and with the talker. Here one worker thread takes every call waiting when it starts a round and
// decodes them with DecoderSession::PushTogether (the same samples as each session's own Push).
// A round takes at most DecoderSession::kFramesPerTransformerPass frames of each call; longer
// calls (a cloned voice's reference frames) go on in the next rounds, beside the calls that arrive
// meanwhile, so a long call does not hold up the short ones.
#pragma once

#include <ATen/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "common/codec/decoder.h"

namespace qwen3tts {

class DecodeBatcher {
 public:
  // threads: the worker's intra-op threads (0: the process's). on_round, when given, is told how
  // many calls each round decoded together (on the worker thread).
  explicit DecodeBatcher(int threads = 0, std::function<void(int calls)> on_round = nullptr);
  // Waits for the round in progress; calls not finished by then end with UNAVAILABLE.
  ~DecodeBatcher();
  DecodeBatcher(const DecodeBatcher&) = delete;
  DecodeBatcher& operator=(const DecodeBatcher&) = delete;

  // session->Push(codes, cancelled), decoded by the worker together with the other calls waiting
  // then; blocks until it is done. Invalid codes are refused here, before anything is consumed.
  // Nobody else may use `session` meanwhile. `cancelled` is asked by the worker before each round
  // and each group of frames (DecoderSession::Push).
  absl::StatusOr<at::Tensor> Push(DecoderSession* session, const at::Tensor& codes,
                                  std::function<bool()> cancelled = nullptr);

  // Calls submitted and not yet done.
  int pending_calls() const;
  struct Stats {
    int64_t rounds = 0;
    int64_t calls = 0;                // calls finished
    int64_t call_rounds = 0;          // calls' parts decoded, summed over rounds
    int64_t most_calls_in_a_round = 0;
  };
  Stats stats() const;

 private:
  struct Call;
  void Run();

  const int threads_;
  const std::function<void(int)> on_round_;
  mutable std::mutex mu_;
  std::condition_variable work_;  // a call to decode, or stopping
  std::condition_variable done_;  // a call finished
  std::list<Call*> calls_;        // in arrival order
  bool stopping_ = false;
  Stats stats_;
  std::thread worker_;  // last: starts once the rest is built
};

}  // namespace qwen3tts
