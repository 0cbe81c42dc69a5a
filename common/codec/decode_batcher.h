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
//
// Gathering: each round reads the decoder's weights once (~210 MB at the real shape: the int8
// pre-transformer and the first bfloat16 convolutions), so a round's cost is about a fixed part
// plus a part per frame (codec bench, one core: 29.6 ms per frame one stream at a time, 17.6 for 3
// streams together, 13.7 for 8). Streams of a busy vocoder arrive a few at a time, so rounds
// started as soon as one call waits decoded ~3 of 8 streams. With a gather window, a round waits
// until every open stream (Stream below) has a call waiting, up to the window; it never waits for
// a stream's first call (time to first audio) or a call that goes on from the previous round.
// One stream alone never waits.
#pragma once

#include <ATen/Tensor.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "common/codec/decoder.h"

namespace qwen3tts {

// The vocoder stage's default gather window. 8 streams of 1-second requests through the gateway
// (int4 talker, vocoder on one thread, 2 cores), alternating: 0 ms 3.2 calls per round and 15.7 /
// 16.7 ms of vocoder CPU per frame; 40 ms 4.7 calls per round and 13.8 / 14.4 ms, time to first
// audio unchanged. (Frames/s did not change on that machine, 51.0 / 48.6 against 51.1 / 48.8: the
// talker's step thread bounds it there; a vocoder with cores of its own serves more per core.)
// Longer windows gathered no more calls (80 ms: 4.7-4.9 per round).
constexpr int kDefaultDecodeGatherMillis = 40;

class DecodeBatcher {
 public:
  // threads: the worker's intra-op threads (0: the process's). on_round, when given, is told how
  // many calls each round decoded together (on the worker thread). gather_window: how long a round
  // may wait for the open streams' calls (0: it starts as soon as a call waits).
  explicit DecodeBatcher(int threads = 0, std::function<void(int calls)> on_round = nullptr,
                         std::chrono::milliseconds gather_window = std::chrono::milliseconds(0));
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

  // A stream that sends decode calls one after another: while it is open, a round may wait (up to
  // the gather window) for its next call.
  class Stream {
   public:
    explicit Stream(DecodeBatcher& batcher);
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

   private:
    DecodeBatcher& batcher_;
  };

  // Calls submitted and not yet done.
  int pending_calls() const;
  struct Stats {
    int64_t rounds = 0;
    int64_t calls = 0;                // calls finished
    int64_t call_rounds = 0;          // calls' parts decoded, summed over rounds
    int64_t most_calls_in_a_round = 0;
    int64_t gathered_rounds = 0;      // rounds that waited for more calls
  };
  Stats stats() const;

 private:
  struct Call;
  void Run();
  // Whether a round may start without waiting for more calls (mu_ held).
  bool RoundIsReady() const;

  const int threads_;
  const std::function<void(int)> on_round_;
  const std::chrono::milliseconds gather_window_;
  int open_streams_ = 0;
  mutable std::mutex mu_;
  std::condition_variable work_;  // a call to decode, or stopping
  std::condition_variable done_;  // a call finished
  std::list<Call*> calls_;        // in arrival order
  bool stopping_ = false;
  Stats stats_;
  std::thread worker_;  // last: starts once the rest is built
};

}  // namespace qwen3tts
