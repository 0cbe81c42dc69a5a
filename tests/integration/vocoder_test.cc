// The vocoder stage as a process on loopback: concurrent Decode streams, which its worker decodes
// together (common/codec/decode_batcher.h), each get exactly the audio of their frames decoded
// alone; a long call takes one round per pre-transformer pass; the stage counts the streams of its
// rounds (qwen3tts_batch_size{stage="vocoder"}).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "qwen3tts/v1/codec.grpc.pb.h"
#include "tests/support/server_process.h"
#include "tests/support/stages.h"

namespace qwen3tts {
namespace {

using namespace qwen3tts::testing;  // NOLINT: test helpers

// Frames of 16 codes in [0, 16) (every codebook of the golden models has more), from a seed.
std::vector<std::vector<int>> Frames(int count, uint32_t seed) {
  std::vector<std::vector<int>> frames(count, std::vector<int>(16));
  for (auto& frame : frames) {
    for (int& code : frame) {
      seed = seed * 1664525u + 1013904223u;
      code = static_cast<int>(seed >> 28);
    }
  }
  return frames;
}

struct Decoded {
  grpc::Status status;
  std::string pcm;  // float32 little-endian, every response's in order
};

// One Decode stream sending `frames` in requests of chunks[i] frames (the last chunk repeating).
Decoded Decode(v1::Codec::Stub* stub, const std::vector<std::vector<int>>& frames, const std::vector<int>& chunks) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stream = stub->Decode(&context);
  Decoded out;
  size_t sent = 0;
  for (size_t i = 0; sent < frames.size(); ++i) {
    const size_t n = std::min<size_t>(chunks[std::min(i, chunks.size() - 1)], frames.size() - sent);
    v1::DecodeRequest request;
    for (size_t f = sent; f < sent + n; ++f) {
      v1::CodecFrame* frame = request.add_frames();
      for (int c : frames[f]) frame->add_codes(c);
    }
    sent += n;
    v1::DecodeResponse response;
    if (!stream->Write(request) || !stream->Read(&response)) break;
    out.pcm += response.pcm_f32le();
  }
  stream->WritesDone();
  v1::DecodeResponse extra;
  while (stream->Read(&extra)) out.pcm += extra.pcm_f32le();
  out.status = stream->Finish();
  return out;
}

// Rounds a call of n frames takes: one per pre-transformer pass (DecoderSession::kFramesPerTransformerPass).
int Rounds(int n) { return (n + 31) / 32; }

TEST(VocoderTest, ConcurrentStreamsGetTheAudioOfTheirFramesDecodedAlone) {
  auto vocoder = StartVocoder();
  ASSERT_FALSE(vocoder->address().empty()) << vocoder->startup_output();
  ASSERT_FALSE(vocoder->metrics_address().empty()) << vocoder->startup_output();
  auto stub = v1::Codec::NewStub(grpc::CreateChannel(vocoder->address(), grpc::InsecureChannelCredentials()));
  const std::string rounds_series = "qwen3tts_batch_size_sum{stage=\"vocoder\"}";
  const double rounds_before = MetricValue(vocoder->metrics_address(), rounds_series);

  // Stream 0 opens with a 70-frame call (3 rounds, beside the others' calls); the rest send a frame
  // per call, as the gateway does at a talker step's pace.
  constexpr int kStreams = 6;
  std::vector<std::vector<std::vector<int>>> frames;
  std::vector<std::vector<int>> chunks;
  for (int s = 0; s < kStreams; ++s) {
    frames.push_back(Frames(s == 0 ? 75 : 8 + 3 * s, 17u + static_cast<uint32_t>(s)));
    chunks.push_back(s == 0 ? std::vector<int>{70, 1} : std::vector<int>{1});
  }
  std::vector<Decoded> together(kStreams);
  std::vector<std::thread> threads;
  for (int s = 0; s < kStreams; ++s) {
    threads.emplace_back([&, s] { together[s] = Decode(stub.get(), frames[s], chunks[s]); });
  }
  for (std::thread& t : threads) t.join();
  int expected_call_rounds = 0;
  for (int s = 0; s < kStreams; ++s) {
    expected_call_rounds += s == 0 ? Rounds(70) + 5 : static_cast<int>(frames[s].size());
  }

  for (int s = 0; s < kStreams; ++s) {
    ASSERT_TRUE(together[s].status.ok()) << "stream " << s << ": " << together[s].status.error_message();
    const Decoded alone = Decode(stub.get(), frames[s], {static_cast<int>(frames[s].size())});
    ASSERT_TRUE(alone.status.ok()) << alone.status.error_message();
    expected_call_rounds += Rounds(static_cast<int>(frames[s].size()));
    ASSERT_EQ(together[s].pcm.size(), frames[s].size() * 1920 * sizeof(float)) << "stream " << s;
    EXPECT_TRUE(together[s].pcm == alone.pcm) << "stream " << s << ": decoded beside the others, the audio differs";
  }
  // Every call counted once per round it took part in (the sum of the rounds' stream counts).
  EXPECT_EQ(MetricValue(vocoder->metrics_address(), rounds_series) - rounds_before, expected_call_rounds);
}

}  // namespace
}  // namespace qwen3tts
