// Reliability, tested against real processes on loopback: a table of bad requests to every stage
// (right status, message naming the field) that leaves every process healthy; cancellation and
// deadlines stop generation within a frame; a stage killed mid-stream gives UNAVAILABLE promptly
// and is used again once it is back; a gateway killed during CreateVoice never leaves a broken voice.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/audio/audio_file.h"
#include "qwen3tts/v1/codec.grpc.pb.h"
#include "qwen3tts/v1/talker.grpc.pb.h"
#include "qwen3tts/v1/tts.grpc.pb.h"
#include "tests/support/audio_test_util.h"
#include "tests/support/stages.h"
#include "tests/support/streaming_request.h"

namespace qwen3tts {
namespace {

using namespace qwen3tts::testing;  // NOLINT: test helpers
using Clock = std::chrono::steady_clock;

std::string BaseModel() { return GoldenPath("models/tiny-base"); }

std::string WavOf(double seconds) {
  return EncodeWav(Sine(220.0, 24000, seconds, 0.3f), 24000, WavEncoding::kPcm16);
}

struct BadRequest {
  const char* name;
  std::function<void(v1::SynthesizeRequest*)> mutate;
  grpc::StatusCode code;
  std::vector<std::string> message_has;  // the field, and the allowed values where there is a list
};

void ExpectRejected(v1::TextToSpeech::Stub* stub, const v1::SynthesizeRequest& good, const BadRequest& c) {
  v1::SynthesizeRequest r = good;
  c.mutate(&r);
  const auto start = Clock::now();
  Result result = Synthesize(stub, r);
  EXPECT_EQ(result.status.error_code(), c.code) << c.name << ": " << result.status.error_message();
  for (const std::string& part : c.message_has) {
    EXPECT_NE(result.status.error_message().find(part), std::string::npos)
        << c.name << ": message '" << result.status.error_message() << "' lacks '" << part << "'";
  }
  EXPECT_EQ(result.frames, 0) << c.name;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10)) << c.name << " was not refused promptly";
}

TEST(ReliabilityTest, BadRequestsToACustomVoiceGatewayNameTheFieldAndLeaveItHealthy) {
  auto talker = StartTalker();
  auto vocoder = StartVocoder();
  ASSERT_FALSE(talker->address().empty() || vocoder->address().empty());
  auto gateway = StartGateway(talker->address(), vocoder->address(), {"--max-text-chars", "200"});
  ASSERT_FALSE(gateway->address().empty());
  auto stub = Stub(gateway->address());
  const v1::SynthesizeRequest good = Request("Hello there.", 0.4f);
  using C = grpc::StatusCode;
  const std::vector<BadRequest> cases = {
      {"empty text", [](auto* r) { r->clear_text(); }, C::INVALID_ARGUMENT, {"text"}},
      {"over-long text", [](auto* r) { r->set_text(std::string(201, 'a')); }, C::INVALID_ARGUMENT, {"text", "200"}},
      {"unknown speaker", [](auto* r) { r->mutable_config()->mutable_voice()->set_speaker("nobody"); },
       C::INVALID_ARGUMENT, {"config.voice.speaker", "ryan"}},
      {"no voice", [](auto* r) { r->mutable_config()->mutable_voice()->clear_voice(); }, C::INVALID_ARGUMENT,
       {"config.voice", "ryan"}},
      {"designed voice on CustomVoice", [](auto* r) { r->mutable_config()->mutable_voice()->set_design("calm"); },
       C::INVALID_ARGUMENT, {"config.voice.design", "config.voice.speaker", "ryan"}},
      {"stored voice on CustomVoice", [](auto* r) { r->mutable_config()->mutable_voice()->set_voice_id("v-1"); },
       C::INVALID_ARGUMENT, {"config.voice.voice_id", "Base", "config.voice.speaker"}},
      {"unknown language", [](auto* r) { r->mutable_config()->set_language("klingon"); }, C::INVALID_ARGUMENT,
       {"config.language", "english"}},
      {"negative temperature", [](auto* r) { r->mutable_config()->mutable_sampling()->set_temperature(-1); },
       C::INVALID_ARGUMENT, {"temperature"}},
      {"NaN temperature",
       [](auto* r) { r->mutable_config()->mutable_sampling()->set_temperature(std::numeric_limits<float>::quiet_NaN()); },
       C::INVALID_ARGUMENT, {"temperature"}},
      {"top_p above 1", [](auto* r) { r->mutable_config()->mutable_sampling()->set_top_p(1.5f); }, C::INVALID_ARGUMENT,
       {"top_p"}},
      {"negative top_k", [](auto* r) { r->mutable_config()->mutable_sampling()->set_top_k(-2); }, C::INVALID_ARGUMENT,
       {"top_k"}},
      {"zero repetition penalty", [](auto* r) { r->mutable_config()->mutable_sampling()->set_repetition_penalty(0); },
       C::INVALID_ARGUMENT, {"repetition_penalty"}},
      {"unsupported sample rate", [](auto* r) { r->mutable_config()->mutable_audio()->set_sample_rate_hertz(7000); },
       C::INVALID_ARGUMENT, {"config.audio.sample_rate_hertz"}},
      {"unknown encoding",
       [](auto* r) { r->mutable_config()->mutable_audio()->set_encoding(static_cast<v1::AudioEncoding>(77)); },
       C::INVALID_ARGUMENT, {"config.audio.encoding", "PCM_S16LE", "MP3"}},
      {"negative duration", [](auto* r) { r->mutable_config()->set_max_duration_seconds(-3); }, C::INVALID_ARGUMENT,
       {"config.max_duration_seconds"}},
  };
  for (const BadRequest& c : cases) ExpectRejected(stub.get(), good, c);
  // Invalid UTF-8 in a proto3 string never reaches the service: gRPC refuses to parse the message.
  // What matters is that it is refused and nothing falls over.
  v1::SynthesizeRequest invalid_utf8 = good;
  invalid_utf8.set_text("caf\xc3(\xff\xfe");
  EXPECT_FALSE(Synthesize(stub.get(), invalid_utf8).status.ok());
  // Every process is still healthy and serves a good request.
  for (const auto* p : {talker.get(), vocoder.get(), gateway.get()}) EXPECT_EQ(HealthStatus(p->address(), ""), 1);
  Result ok = Synthesize(stub.get(), good);
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_GT(ok.frames, 0);
}

TEST(ReliabilityTest, BadCloningRequestsToABaseGatewayNameTheFieldAndLeaveItHealthy) {
  auto talker = StartTalker({}, BaseModel());
  auto vocoder = StartVocoder({}, BaseModel());
  ASSERT_FALSE(talker->address().empty() || vocoder->address().empty());
  auto gateway = StartGateway(talker->address(), vocoder->address(),
                              {"--voice-dir", TempDir("bad_clone_voices"), "--max-reference-seconds", "5"}, BaseModel());
  ASSERT_FALSE(gateway->address().empty());
  auto stub = Stub(gateway->address());
  v1::SynthesizeRequest good = Request("Hello there.", 0.4f);
  good.mutable_config()->mutable_voice()->mutable_reference()->set_audio(WavOf(1.0));
  good.mutable_config()->mutable_voice()->mutable_reference()->set_x_vector_only(true);
  using C = grpc::StatusCode;
  const std::vector<BadRequest> cases = {
      {"preset speaker on Base", [](auto* r) { r->mutable_config()->mutable_voice()->set_speaker("ryan"); },
       C::INVALID_ARGUMENT, {"config.voice.speaker", "config.voice.voice_id", "config.voice.reference"}},
      {"unknown stored voice", [](auto* r) { r->mutable_config()->mutable_voice()->set_voice_id("no-such-voice"); },
       C::NOT_FOUND, {"voice_id"}},
      {"corrupt reference clip",
       [](auto* r) { r->mutable_config()->mutable_voice()->mutable_reference()->set_audio("RIFF\x10\0\0\0WAVEjunk"); },
       C::INVALID_ARGUMENT, {"config.voice.reference"}},
      {"empty reference clip", [](auto* r) { r->mutable_config()->mutable_voice()->mutable_reference()->clear_audio(); },
       C::INVALID_ARGUMENT, {"config.voice.reference"}},
      {"too short reference clip",
       [](auto* r) { r->mutable_config()->mutable_voice()->mutable_reference()->set_audio(WavOf(0.2)); },
       C::INVALID_ARGUMENT, {"config.voice.reference", "0.5 s"}},
      {"too long reference clip",
       [](auto* r) { r->mutable_config()->mutable_voice()->mutable_reference()->set_audio(WavOf(6.0)); },
       C::OUT_OF_RANGE, {"config.voice.reference", "5"}},
      {"in-context clone without transcript",
       [](auto* r) { r->mutable_config()->mutable_voice()->mutable_reference()->set_x_vector_only(false); },
       C::INVALID_ARGUMENT, {"config.voice.reference.text"}},
  };
  for (const BadRequest& c : cases) ExpectRejected(stub.get(), good, c);
  for (const auto* p : {talker.get(), vocoder.get(), gateway.get()}) EXPECT_EQ(HealthStatus(p->address(), ""), 1);
  Result ok = Synthesize(stub.get(), good);
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
}

// The internal stages validate on their own: a gateway bug or a direct caller cannot crash them.
TEST(ReliabilityTest, InternalStagesRejectMalformedFramesAndEmbeddings) {
  auto talker = StartTalker({}, BaseModel());
  auto vocoder = StartVocoder({}, BaseModel());
  ASSERT_FALSE(talker->address().empty() || vocoder->address().empty());
  auto talker_stub = v1::Talker::NewStub(grpc::CreateChannel(talker->address(), grpc::InsecureChannelCredentials()));
  v1::TalkerInfo info;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(talker_stub->GetTalkerInfo(&context, v1::GetTalkerInfoRequest(), &info).ok());
  }
  auto generate = [&](const std::function<void(v1::GenerateRequest*)>& mutate) {
    v1::GenerateRequest r;
    for (int i = 0; i < 9; ++i) r.add_input_ids(151644);
    for (int i = 0; i < info.hidden_size(); ++i) r.add_speaker_embedding(0.01f);
    r.mutable_options()->set_max_frames(2);
    mutate(&r);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto reader = talker_stub->Generate(&context, r);
    v1::GenerateResponse response;
    while (reader->Read(&response)) {
    }
    return reader->Finish();
  };
  const grpc::Status fine = generate([](auto*) {});
  EXPECT_TRUE(fine.ok()) << fine.error_message();
  const grpc::Status nan = generate([](auto* r) { r->set_speaker_embedding(3, std::nanf("")); });
  EXPECT_EQ(nan.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(nan.error_message().find("speaker_embedding"), std::string::npos) << nan.error_message();
  const grpc::Status inf = generate([](auto* r) { r->set_speaker_embedding(0, INFINITY); });
  EXPECT_EQ(inf.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << inf.error_message();
  const grpc::Status short_embedding = generate([](auto* r) { r->mutable_speaker_embedding()->RemoveLast(); });
  EXPECT_EQ(short_embedding.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(short_embedding.error_message().find(std::to_string(info.hidden_size())), std::string::npos)
      << short_embedding.error_message();
  const grpc::Status bad_id = generate([](auto* r) { r->set_input_ids(4, 1 << 30); });
  EXPECT_EQ(bad_id.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad_id.error_message().find("input_ids"), std::string::npos) << bad_id.error_message();

  auto vocoder_stub = v1::Codec::NewStub(grpc::CreateChannel(vocoder->address(), grpc::InsecureChannelCredentials()));
  auto decode = [&](std::vector<int> codes) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto stream = vocoder_stub->Decode(&context);
    v1::DecodeRequest request;
    v1::CodecFrame* frame = request.add_frames();
    for (int c : codes) frame->add_codes(c);
    stream->Write(request);
    stream->WritesDone();
    v1::DecodeResponse response;
    while (stream->Read(&response)) {
    }
    return stream->Finish();
  };
  EXPECT_TRUE(decode(std::vector<int>(16, 5)).ok());
  const grpc::Status fifteen = decode(std::vector<int>(15, 5));
  EXPECT_EQ(fifteen.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(fifteen.error_message().find("16"), std::string::npos) << fifteen.error_message();
  std::vector<int> out_of_range(16, 5);
  out_of_range[3] = 1 << 20;
  const grpc::Status range = decode(out_of_range);
  EXPECT_EQ(range.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(range.error_message().find("frames"), std::string::npos) << range.error_message();
  for (const auto* p : {talker.get(), vocoder.get()}) EXPECT_EQ(HealthStatus(p->address(), ""), 1);
}

// Frames the talker generated so far (its own counter, read from /metrics).
double TalkerFrames(const ServerProcess& talker) {
  return MetricValue(talker.metrics_address(), "qwen3tts_frames_total{stage=\"talker\"}");
}

// Waits until the talker's frame counter stops moving; returns its value.
double SettledFrames(const ServerProcess& talker) {
  double last = TalkerFrames(talker);
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const double now = TalkerFrames(talker);
    if (now == last) return now;
    last = now;
  }
  return last;
}

// A request allowed 60 s of audio, so that only a cancel, a deadline or a failure ends it early;
// sampling with a seed keeps the random tiny model from stopping at EOS quickly.
v1::SynthesizeRequest LongRequest(uint64_t seed) {
  v1::SynthesizeRequest request = Request("A long story that the client will not wait for to finish, at all.", 60.0f);
  request.mutable_config()->mutable_sampling()->set_greedy(false);
  request.mutable_config()->mutable_sampling()->set_seed(seed);
  return request;
}

// The random model stops at EOS after a seed-dependent number of frames: a seed whose request runs
// at least `min_frames`, with that request's frames and wall time. The time is the faster of two
// runs: the first request of a fresh stack is the slowest (lazy set-up), and a deadline derived
// from an inflated time could let a later, warm run finish before it.
struct LongRun {
  v1::SynthesizeRequest request;
  int64_t frames = 0;
  double seconds = 0;
};
LongRun FindLongRun(v1::TextToSpeech::Stub* stub, int64_t min_frames = 30) {
  LongRun run;
  for (uint64_t seed = 7; seed < 40; ++seed) {
    run.request = LongRequest(seed);
    const auto start = Clock::now();
    Result whole = Synthesize(stub, run.request);
    run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    run.frames = whole.status.ok() ? whole.frames : 0;
    if (run.frames >= min_frames) break;
  }
  if (run.frames >= min_frames) {
    const auto start = Clock::now();
    Synthesize(stub, run.request);
    run.seconds = std::min(run.seconds, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return run;
}

TEST(ReliabilityTest, ClientCancelAndDeadlineStopGenerationWithinAFrame) {
  Stack stack = StartStack();
  ASSERT_TRUE(stack.ok());
  ServerProcess* talker = stack.talker.get();
  ServerProcess* vocoder = stack.vocoder.get();
  v1::TextToSpeech::Stub* stub = stack.stub.get();
  const LongRun long_run = FindLongRun(stub);
  ASSERT_GE(long_run.frames, 30) << "no seed gave a long enough request";
  const v1::SynthesizeRequest& request = long_run.request;

  // Cancel after a few chunks of audio.
  {
    grpc::ClientContext context;
    auto reader = stub->Synthesize(&context, request);
    v1::SynthesizeResponse response;
    int chunks = 0;
    while (chunks < 3 && reader->Read(&response)) {
      if (response.has_audio()) ++chunks;
    }
    ASSERT_EQ(chunks, 3) << "the stream ended before it could be cancelled";
    // Counted once the cancel is issued: frames a fast talker makes between a metrics read and the
    // cancel call are not the cancel's latency (the tiny model makes a frame in about a millisecond).
    context.TryCancel();
    const double at_cancel = TalkerFrames(*talker);
    while (reader->Read(&response)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
    const double after = SettledFrames(*talker);
    // At most one frame was in progress when the cancel arrived, plus those already queued in flight.
    EXPECT_LE(after - at_cancel, 3) << "talker kept generating after the cancel";
    EXPECT_EQ(MetricValue(talker->metrics_address(), "qwen3tts_active_streams{stage=\"talker\"}"), 0);
    // The vocoder's stream for this request closed as well.
    EXPECT_EQ(MetricValue(vocoder->metrics_address(), "qwen3tts_active_streams{stage=\"vocoder\"}"), 0);
    EXPECT_EQ(MetricValue(vocoder->metrics_address(), "qwen3tts_grpc_active_calls{method=\"/qwen3tts.v1.Codec/Decode\"}"), 0);
  }
  // A deadline behaves the same: an eighth of the time the whole request took (the talker alone
  // can be done within a quarter of it: on the tiny model it is several times faster than the
  // vocoder, whose audio paces the request).
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::microseconds(static_cast<int64_t>(long_run.seconds / 8 * 1e6)));
    const double before = SettledFrames(*talker);
    auto reader = stub->Synthesize(&context, request);
    v1::SynthesizeResponse response;
    while (reader->Read(&response)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    const double after = SettledFrames(*talker);
    EXPECT_LT(after - before, long_run.frames) << "the deadline did not cut generation short";
    EXPECT_EQ(MetricValue(talker->metrics_address(), "qwen3tts_active_streams{stage=\"talker\"}"), 0);
  }
  // The slots were freed: a normal request still runs.
  Result ok = Synthesize(stub, Request("Still here.", 0.4f));
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
}

TEST(ReliabilityTest, AStageKilledMidStreamIsUnavailablePromptlyAndUsedAgainWhenBack) {
  Stack stack = StartStack();
  ASSERT_TRUE(stack.ok());
  v1::TextToSpeech::Stub* stub = stack.stub.get();

  for (const std::string stage : {"vocoder", "talker"}) {
    std::unique_ptr<ServerProcess>& victim = stage == "vocoder" ? stack.vocoder : stack.talker;
    const std::string address = victim->address();
    // A streaming request whose text input stays open: the talker generates what the text so far
    // allows and waits for more, so both stage streams are in flight when the stage dies. (A whole
    // text request is not: the talker can finish all its frames long before the client has read
    // two chunks of audio, and a kill after that interrupts nothing.)
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto stream = stub->StreamingSynthesize(&context);
    ASSERT_TRUE(stream->Write(testing::GreedyStreamingConfig()));
    v1::StreamingSynthesizeRequest piece;
    piece.set_text("Hello there, this text arrives from a language model ");
    ASSERT_TRUE(stream->Write(piece));
    v1::SynthesizeResponse response;
    int chunks = 0;
    while (chunks == 0 && stream->Read(&response)) {
      if (response.has_audio() && !response.audio().data().empty()) ++chunks;
    }
    ASSERT_EQ(chunks, 1) << stage << ": no audio while the text input was open";
    victim->Signal(SIGKILL);
    victim->Wait();
    const auto killed_at = Clock::now();
    // The rest of the text: the gateway needs both stages for it.
    piece.set_text("in several pieces.");
    stream->Write(piece);
    stream->WritesDone();
    while (stream->Read(&response)) {
    }
    grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << stage << ": " << status.error_message();
    EXPECT_LT(Clock::now() - killed_at, std::chrono::seconds(10)) << stage << ": the gateway hung";
    // While it is down, new calls fail fast too.
    const auto asked = Clock::now();
    EXPECT_EQ(Synthesize(stub, Request("Anyone there?", 0.4f)).status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_LT(Clock::now() - asked, std::chrono::seconds(15)) << stage;

    // Back on the same address: the gateway reconnects (backoff capped at a few seconds).
    victim = stage == "vocoder" ? StartVocoder({"--listen", address}) : StartTalker({"--listen", address});
    ASSERT_EQ(victim->address(), address) << victim->startup_output();
    grpc::Status again;
    const auto until = Clock::now() + std::chrono::seconds(30);
    do {
      again = Synthesize(stub, Request("Back again.", 0.4f)).status;
      if (!again.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } while (!again.ok() && Clock::now() < until);
    EXPECT_TRUE(again.ok()) << stage << " never came back: " << again.error_message();
  }
}

TEST(ReliabilityTest, GatewayKilledDuringCreateVoiceNeverLeavesABrokenVoice) {
  auto talker = StartTalker({}, BaseModel());
  auto vocoder = StartVocoder({}, BaseModel());
  ASSERT_FALSE(talker->address().empty() || vocoder->address().empty());
  const std::string voices = TempDir("killed_voices");
  const std::string clip = WavOf(2.0);
  std::mt19937 rng(1234);
  int completed = 0;
  for (int round = 0; round < 8; ++round) {
    auto gateway = StartGateway(talker->address(), vocoder->address(), {"--voice-dir", voices}, BaseModel());
    ASSERT_FALSE(gateway->address().empty());
    auto stub = Stub(gateway->address());
    // Upload on another thread; SIGKILL lands at a random moment during or after it.
    std::thread upload([&] {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      v1::Voice voice;
      auto writer = stub->CreateVoice(&context, &voice);
      v1::CreateVoiceRequest spec;
      spec.mutable_spec()->set_display_name("round " + std::to_string(round));
      spec.mutable_spec()->set_reference_text("A sine wave says nothing.");
      if (!writer->Write(spec)) return;
      for (size_t at = 0; at < clip.size(); at += 8192) {
        v1::CreateVoiceRequest chunk;
        chunk.set_audio_chunk(clip.substr(at, 8192));
        if (!writer->Write(chunk)) break;
      }
      writer->WritesDone();
      if (writer->Finish().ok()) ++completed;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 400)(rng)));
    gateway->Signal(SIGKILL);
    gateway->Wait();
    upload.join();
  }
  // A fresh gateway on the same directory lists only whole voices, and every one of them speaks.
  auto gateway = StartGateway(talker->address(), vocoder->address(), {"--voice-dir", voices}, BaseModel());
  ASSERT_FALSE(gateway->address().empty()) << gateway->startup_output();
  auto stub = Stub(gateway->address());
  grpc::ClientContext context;
  v1::ListVoicesResponse listed;
  ASSERT_TRUE(stub->ListVoices(&context, v1::ListVoicesRequest(), &listed).ok());
  EXPECT_GE(listed.voices_size(), completed);
  for (const v1::Voice& v : listed.voices()) {
    EXPECT_EQ(v.reference_text(), "A sine wave says nothing.");
    v1::SynthesizeRequest r = Request("Do you still work?", 0.4f);
    r.mutable_config()->mutable_voice()->set_voice_id(v.voice_id());
    Result spoken = Synthesize(stub.get(), r);
    EXPECT_TRUE(spoken.status.ok()) << v.voice_id() << ": " << spoken.status.error_message();
  }
  std::cout << "rounds completed before the kill: " << completed << ", voices listed: " << listed.voices_size() << "\n";
}

}  // namespace
}  // namespace qwen3tts
