// The three stages as separate processes on loopback (ports chosen free at run time by the
// servers themselves), driven through the public API: for every generation case of the golden
// manifest the PCM streamed by the gateway equals the in-process engine's output and matches the
// reference waveform; bad requests get INVALID_ARGUMENT naming the field; a dead stage gives
// UNAVAILABLE promptly.
#include <ATen/ATen.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/tts/tts_engine.h"
#include "common/audio/audio_file.h"
#include "qwen3tts/v1/codec.grpc.pb.h"
#include "qwen3tts/v1/talker.grpc.pb.h"
#include "tests/support/streaming_request.h"
#include "qwen3tts/v1/tts.grpc.pb.h"
#include "tests/support/golden.h"
#include "tests/support/server_process.h"

namespace qwen3tts {
namespace {

struct Stack {
  std::unique_ptr<testing::ServerProcess> talker, vocoder, gateway;
  std::unique_ptr<v1::TextToSpeech::Stub> stub;
};

std::unique_ptr<Stack> StartStack(const std::string& model_dir, const std::string& voice_dir = "") {
  auto s = std::make_unique<Stack>();
  // Prefills on two threads, decoding steps on one (step_threads): the audio must still equal the in-process engine's.
  s->talker = std::make_unique<testing::ServerProcess>(
      QWEN3TTS_TALKER_BIN, std::vector<std::string>{"--model-dir", model_dir, "--listen", "127.0.0.1:0", "--threads", "2",
                                                    "--step-threads", "1"});
  s->vocoder = std::make_unique<testing::ServerProcess>(QWEN3TTS_VOCODER_BIN,
                                               std::vector<std::string>{"--model-dir", model_dir, "--listen", "127.0.0.1:0", "--threads", "1"});
  if (s->talker->address().empty() || s->vocoder->address().empty()) return nullptr;
  s->gateway = std::make_unique<testing::ServerProcess>(
      QWEN3TTS_GATEWAY_BIN, std::vector<std::string>{"--model-dir", model_dir, "--talker", s->talker->address(), "--vocoder",
                                                     s->vocoder->address(), "--listen", "127.0.0.1:0", "--voice-dir",
                                                     voice_dir.empty() ? "/tmp/qwen3tts_test_voices_" + std::to_string(::getpid()) : voice_dir});
  if (s->gateway->address().empty()) return nullptr;
  s->stub = v1::TextToSpeech::NewStub(grpc::CreateChannel(s->gateway->address(), grpc::InsecureChannelCredentials()));
  return s;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Streamed {
  grpc::Status status;
  std::vector<float> pcm;
  int chunks = 0;
  size_t first_chunk_samples = 0;
  bool saw_metadata_first = false;
  v1::SynthesisSummary summary;
};

Streamed Call(v1::TextToSpeech::Stub* stub, const v1::SynthesizeRequest& request) {
  Streamed out;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto reader = stub->Synthesize(&context, request);
  v1::SynthesizeResponse response;
  bool first = true;
  while (reader->Read(&response)) {
    if (first) out.saw_metadata_first = response.has_metadata();
    first = false;
    if (response.has_audio()) {
      const std::string& d = response.audio().data();
      size_t n = d.size() / sizeof(float);
      size_t old = out.pcm.size();
      out.pcm.resize(old + n);
      std::memcpy(out.pcm.data() + old, d.data(), n * sizeof(float));
      if (out.chunks++ == 0) out.first_chunk_samples = n;
    }
    if (response.has_summary()) out.summary = response.summary();
  }
  out.status = reader->Finish();
  return out;
}

// Builds the public request for a manifest case; in-process request alongside.
v1::SynthesizeRequest PublicRequest(const testing::GoldenCase& golden, SynthesisRequest* in_process) {
  const nlohmann::json& e = golden.json();
  v1::SynthesizeRequest r;
  r.set_text(e.value("text", ""));
  v1::SynthesisConfig* c = r.mutable_config();
  c->set_language(e.value("language", "auto"));
  c->mutable_audio()->set_encoding(v1::PCM_F32LE);
  c->mutable_sampling()->set_greedy(true);
  c->mutable_sampling()->set_repetition_penalty(e.value("repetition_penalty", 1.05));
  const int64_t max_tokens = e.value("max_new_tokens", 4096);
  c->set_max_duration_seconds(static_cast<float>((max_tokens - 1) * 0.08));
  in_process->text = r.text();
  in_process->language = c->language();
  if (e.contains("non_streaming_mode")) {
    c->set_non_streaming_mode(e["non_streaming_mode"].get<bool>());
    in_process->non_streaming_mode = c->non_streaming_mode();
  } else {
    in_process->non_streaming_mode.reset();
  }
  if (golden.mode() == "custom_voice") {
    c->mutable_voice()->set_speaker(e.value("speaker", ""));
    c->mutable_voice()->set_instruct(e.value("instruct", ""));
    in_process->speaker = e.value("speaker", "");
    in_process->instruct = e.value("instruct", "");
  } else if (golden.mode() == "voice_design") {
    c->mutable_voice()->set_design(e.value("instruct", ""));
    in_process->instruct = e.value("instruct", "");
  } else {
    v1::ReferenceAudio* ref = c->mutable_voice()->mutable_reference();
    ref->set_audio(ReadFile(testing::GoldenPath(e.value("ref_audio", ""))));
    ref->set_text(e.value("ref_text", ""));
    ref->set_x_vector_only(e.value("x_vector_only", false));
    in_process->ref_text = ref->text();
    in_process->x_vector_only = ref->x_vector_only();
  }
  return r;
}

class ServicesGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ServicesGoldenTest, GatewayStreamMatchesEngineAndReference) {
  auto golden = testing::FindCase(GetParam());
  ASSERT_TRUE(golden.ok()) << golden.status();
  const nlohmann::json& e = golden->json();
  auto stack = StartStack(golden->ModelDir());
  ASSERT_NE(stack, nullptr) << "a stage failed to start";

  SynthesisRequest in_process;
  v1::SynthesizeRequest request = PublicRequest(*golden, &in_process);
  Streamed streamed = Call(stack->stub.get(), request);
  ASSERT_TRUE(streamed.status.ok()) << streamed.status.error_message();
  EXPECT_TRUE(streamed.saw_metadata_first);
  // Audio streams as it is decoded: the first chunk is one frame (1920 samples of float PCM);
  // later chunks hold one frame, or every frame that arrived while the vocoder was busy.
  EXPECT_GE(streamed.chunks, 1);
  EXPECT_LE(streamed.chunks, streamed.summary.frames());
  EXPECT_GE(streamed.chunks * 16, streamed.summary.frames());
  if (streamed.summary.frames() > 0 && !golden->HasTensor("ref_wav")) {
    EXPECT_EQ(streamed.first_chunk_samples, 1920u);
  }
  if (e.contains("n_frames")) {
    EXPECT_EQ(streamed.summary.frames(), e["n_frames"].get<int64_t>());
  }

  // Same audio as the in-process engine, bit for bit.
  auto engine = TtsEngine::Load(golden->ModelDir());
  ASSERT_TRUE(engine.ok()) << engine.status();
  if (golden->HasTensor("ref_wav")) {
    auto wav = golden->TensorChecked("ref_wav");
    ASSERT_TRUE(wav.ok());
    at::Tensor w = wav->contiguous();
    in_process.ref_audio.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
  }
  in_process.options = (*engine)->DefaultOptions();
  in_process.options.talker.do_sample = in_process.options.code_predictor.do_sample = false;
  in_process.options.repetition_penalty = e.value("repetition_penalty", 1.05);
  in_process.options.max_new_tokens = e.value("max_new_tokens", 4096);
  std::vector<float> local;
  auto summary = (*engine)->Synthesize(in_process, [&](const std::vector<float>& c) {
    local.insert(local.end(), c.begin(), c.end());
    return true;
  });
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(streamed.pcm, local);

  auto expected = golden->TensorChecked("waveform");
  ASSERT_TRUE(expected.ok()) << expected.status();
  at::Tensor actual = at::from_blob(streamed.pcm.data(), {static_cast<int64_t>(streamed.pcm.size())}, at::kFloat).clone();
  EXPECT_TRUE(testing::TensorsMatch(actual, *expected, golden->ToleranceOf("waveform"), "waveform"));
}

INSTANTIATE_TEST_SUITE_P(Manifest, ServicesGoldenTest,
                         ::testing::ValuesIn(testing::CaseIdsWithModes({"custom_voice", "voice_design", "voice_clone"})),
                         QWEN3TTS_GOLDEN_CASE_NAMER);

TEST(ServicesTest, StreamingTextProducesAudioBeforeTheInputIsClosed) {
  auto stack = StartStack(testing::GoldenPath("models/tiny-customvoice"));
  ASSERT_NE(stack, nullptr);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stack->stub->StreamingSynthesize(&context);
  v1::StreamingSynthesizeRequest config = testing::GreedyStreamingConfig();
  config.mutable_config()->mutable_audio()->set_encoding(v1::PCM_F32LE);
  ASSERT_TRUE(stream->Write(config));
  v1::StreamingSynthesizeRequest piece;
  piece.set_text("Hello there, this text arrives from a language model ");
  ASSERT_TRUE(stream->Write(piece));
  // Audio must come back while the input is still open.
  v1::SynthesizeResponse response;
  int chunks_before_close = 0;
  bool metadata_first = false;
  while (chunks_before_close == 0 && stream->Read(&response)) {
    if (response.has_metadata()) metadata_first = chunks_before_close == 0;
    if (response.has_audio() && !response.audio().data().empty()) ++chunks_before_close;
  }
  EXPECT_TRUE(metadata_first);
  ASSERT_GT(chunks_before_close, 0) << "no audio before the text input was closed";
  piece.set_text("in several pieces.");
  ASSERT_TRUE(stream->Write(piece));
  ASSERT_TRUE(stream->WritesDone());
  int64_t frames = 0;
  while (stream->Read(&response)) {
    if (response.has_summary()) frames = response.summary().frames();
  }
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(frames, chunks_before_close);

  // A stream whose first message is not the config is rejected.
  grpc::ClientContext bad_context;
  auto bad = stack->stub->StreamingSynthesize(&bad_context);
  piece.set_text("no config");
  bad->Write(piece);
  bad->WritesDone();
  while (bad->Read(&response)) {
  }
  grpc::Status bad_status = bad->Finish();
  EXPECT_EQ(bad_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad_status.error_message().find("config"), std::string::npos);
}

TEST(ServicesTest, CreatedVoicesSurviveAGatewayRestart) {
  const std::string voice_dir = "/tmp/qwen3tts_voices_it_" + std::to_string(::getpid());
  std::filesystem::remove_all(voice_dir);
  auto stack = StartStack(testing::GoldenPath("models/tiny-base"), voice_dir);
  ASSERT_NE(stack, nullptr);
  const std::string clip = ReadFile(testing::GoldenPath("cases/ref_en.wav"));
  ASSERT_FALSE(clip.empty());
  const std::string ref_text = "The quick brown fox jumps over the lazy dog.";
  grpc::ClientContext create_context;
  v1::Voice voice;
  auto writer = stack->stub->CreateVoice(&create_context, &voice);
  v1::CreateVoiceRequest spec;
  spec.mutable_spec()->set_display_name("fox");
  spec.mutable_spec()->set_reference_text(ref_text);
  ASSERT_TRUE(writer->Write(spec));
  for (size_t at = 0; at < clip.size(); at += 16384) {  // uploaded in chunks
    v1::CreateVoiceRequest chunk;
    chunk.set_audio_chunk(clip.substr(at, 16384));
    ASSERT_TRUE(writer->Write(chunk));
  }
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status created = writer->Finish();
  ASSERT_TRUE(created.ok()) << created.error_message();
  EXPECT_FALSE(voice.voice_id().empty());
  EXPECT_NEAR(voice.reference_seconds(), 82523.0 / 24000.0, 0.01);

  v1::SynthesizeRequest by_id;
  by_id.set_text("Nice to meet you.");
  by_id.mutable_config()->mutable_voice()->set_voice_id(voice.voice_id());
  by_id.mutable_config()->mutable_audio()->set_encoding(v1::PCM_F32LE);
  by_id.mutable_config()->mutable_sampling()->set_greedy(true);
  by_id.mutable_config()->set_max_duration_seconds(1.0f);
  v1::SynthesizeRequest inline_ref = by_id;
  inline_ref.mutable_config()->mutable_voice()->mutable_reference()->set_audio(clip);
  inline_ref.mutable_config()->mutable_voice()->mutable_reference()->set_text(ref_text);
  Streamed a = Call(stack->stub.get(), by_id);
  Streamed b = Call(stack->stub.get(), inline_ref);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  ASSERT_TRUE(b.status.ok()) << b.status.error_message();
  EXPECT_FALSE(a.pcm.empty());
  EXPECT_EQ(a.pcm, b.pcm);  // a stored voice is the same conditioning as the clip itself

  // Restart the gateway on the same directory: the voice is still there and still speaks.
  stack->gateway->Stop();
  stack->gateway = std::make_unique<testing::ServerProcess>(
      QWEN3TTS_GATEWAY_BIN, std::vector<std::string>{"--model-dir", testing::GoldenPath("models/tiny-base"), "--talker",
                                                     stack->talker->address(), "--vocoder", stack->vocoder->address(),
                                                     "--listen", "127.0.0.1:0", "--voice-dir", voice_dir});
  ASSERT_FALSE(stack->gateway->address().empty());
  stack->stub = v1::TextToSpeech::NewStub(grpc::CreateChannel(stack->gateway->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext list_context;
  v1::ListVoicesResponse listed;
  ASSERT_TRUE(stack->stub->ListVoices(&list_context, v1::ListVoicesRequest(), &listed).ok());
  ASSERT_EQ(listed.voices_size(), 1);
  EXPECT_EQ(listed.voices(0).voice_id(), voice.voice_id());
  EXPECT_EQ(listed.voices(0).display_name(), "fox");
  Streamed c = Call(stack->stub.get(), by_id);
  ASSERT_TRUE(c.status.ok()) << c.status.error_message();
  EXPECT_EQ(c.pcm, a.pcm);

  // Path traversal and unknown ids.
  grpc::ClientContext get_context;
  v1::GetVoiceRequest get;
  get.set_voice_id("../../etc/passwd");
  v1::Voice ignored;
  EXPECT_EQ(stack->stub->GetVoice(&get_context, get, &ignored).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext delete_context;
  v1::DeleteVoiceRequest del;
  del.set_voice_id(voice.voice_id());
  v1::DeleteVoiceResponse deleted;
  EXPECT_TRUE(stack->stub->DeleteVoice(&delete_context, del, &deleted).ok());
  Streamed gone = Call(stack->stub.get(), by_id);
  EXPECT_EQ(gone.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(gone.status.error_message().find("config.voice.voice_id"), std::string::npos);
  std::filesystem::remove_all(voice_dir);
}

// Reference audio at an unusable sample rate (a 1 Hz header once cost minutes of resampling) is
// INVALID_ARGUMENT naming the field, at each stage that takes audio, and the stages keep serving.
TEST(ServicesTest, ReferenceAudioAtUnsupportedRatesIsRefusedByEveryStage) {
  auto stack = StartStack(testing::GoldenPath("models/tiny-base"));
  ASSERT_NE(stack, nullptr);
  std::vector<float> samples(24000);
  for (size_t i = 0; i < samples.size(); ++i) samples[i] = 0.3f * std::sin(0.05f * static_cast<float>(i));
  const std::string pcm(reinterpret_cast<const char*>(samples.data()), samples.size() * sizeof(float));
  auto talker = v1::Talker::NewStub(grpc::CreateChannel(stack->talker->address(), grpc::InsecureChannelCredentials()));
  auto codec = v1::Codec::NewStub(grpc::CreateChannel(stack->vocoder->address(), grpc::InsecureChannelCredentials()));
  for (int rate : {1, 3999, -16000, 1000000}) {
    grpc::ClientContext embed_context;
    v1::EmbedSpeakerRequest embed;
    embed.set_pcm_f32le(pcm);
    embed.set_sample_rate_hertz(rate);
    v1::EmbedSpeakerResponse embedding;
    grpc::Status embedded = talker->EmbedSpeaker(&embed_context, embed, &embedding);
    EXPECT_EQ(embedded.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << rate << ": " << embedded.error_message();
    EXPECT_NE(embedded.error_message().find("sample_rate_hertz is " + std::to_string(rate) + " Hz"), std::string::npos)
        << embedded.error_message();
    grpc::ClientContext encode_context;
    v1::EncodeRequest encode;
    encode.set_pcm_f32le(pcm);
    encode.set_sample_rate_hertz(rate);
    v1::EncodeResponse codes;
    grpc::Status encoded = codec->Encode(&encode_context, encode, &codes);
    EXPECT_EQ(encoded.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << rate << ": " << encoded.error_message();
    EXPECT_NE(encoded.error_message().find("sample_rate_hertz"), std::string::npos) << encoded.error_message();
  }
  v1::SynthesizeRequest cloned;
  cloned.set_text("Hello.");
  cloned.mutable_config()->mutable_voice()->mutable_reference()->set_audio(EncodeWav(samples, 1, WavEncoding::kPcm16));
  cloned.mutable_config()->mutable_voice()->mutable_reference()->set_x_vector_only(true);
  cloned.mutable_config()->set_max_duration_seconds(0.3f);
  Streamed refused = Call(stack->stub.get(), cloned);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << refused.status.error_message();
  EXPECT_NE(refused.status.error_message().find("sample rate is 1 Hz"), std::string::npos) << refused.status.error_message();

  // The same audio at its real rate goes through every stage.
  grpc::ClientContext embed_context;
  v1::EmbedSpeakerRequest embed;
  embed.set_pcm_f32le(pcm);
  embed.set_sample_rate_hertz(24000);
  v1::EmbedSpeakerResponse embedding;
  grpc::Status embedded = talker->EmbedSpeaker(&embed_context, embed, &embedding);
  ASSERT_TRUE(embedded.ok()) << embedded.error_message();
  EXPECT_GT(embedding.embedding_size(), 0);
  cloned.mutable_config()->mutable_voice()->mutable_reference()->set_audio(EncodeWav(samples, 24000, WavEncoding::kPcm16));
  Streamed spoken = Call(stack->stub.get(), cloned);
  ASSERT_TRUE(spoken.status.ok()) << spoken.status.error_message();
  EXPECT_FALSE(spoken.pcm.empty());
}

// A real HTTP client (curl) against the OpenAI-compatible endpoint.
std::pair<std::string, std::string> Curl(int port, const std::string& json, const std::string& out_file) {
  const std::string body_file = out_file + ".json";
  std::ofstream(body_file) << json;
  const std::string command = "curl -s -S -o " + out_file + " -w '%{http_code}' -X POST -H 'Content-Type: application/json'"
                              " --data-binary @" + body_file + " http://127.0.0.1:" + std::to_string(port) + "/v1/audio/speech";
  FILE* pipe = popen(command.c_str(), "r");
  std::string code;
  char buffer[256];
  while (pipe != nullptr && fgets(buffer, sizeof(buffer), pipe) != nullptr) code += buffer;
  if (pipe != nullptr) pclose(pipe);
  return {code, ReadFile(out_file)};
}

TEST(ServicesTest, OpenAiSpeechEndpointStreamsTheSameAudio) {
  if (std::system("curl --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "curl not installed";
  const std::string model = testing::GoldenPath("models/tiny-customvoice");
  auto talker = std::make_unique<testing::ServerProcess>(QWEN3TTS_TALKER_BIN, std::vector<std::string>{"--model-dir", model, "--listen", "127.0.0.1:0"});
  auto vocoder = std::make_unique<testing::ServerProcess>(QWEN3TTS_VOCODER_BIN, std::vector<std::string>{"--model-dir", model, "--listen", "127.0.0.1:0"});
  ASSERT_FALSE(talker->address().empty() || vocoder->address().empty());
  testing::ServerProcess gateway(QWEN3TTS_GATEWAY_BIN,
                                 {"--model-dir", model, "--talker", talker->address(), "--vocoder", vocoder->address(),
                                  "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"});
  ASSERT_FALSE(gateway.address().empty()) << gateway.startup_output();
  auto at = gateway.startup_output().find("http on port ");
  ASSERT_NE(at, std::string::npos) << gateway.startup_output();
  const int port = std::stoi(gateway.startup_output().substr(at + 13));
  const std::string out = "/tmp/qwen3tts_openai_" + std::to_string(::getpid());

  auto [code, pcm] = Curl(port, R"({"model": "qwen3-tts", "input": "Hello over HTTP.", "voice": "Ryan",
                                   "response_format": "pcm", "language": "English", "greedy": true, "max_duration_seconds": 1})", out);
  EXPECT_EQ(code, "200");
  ASSERT_FALSE(pcm.empty());
  EXPECT_EQ(pcm.size() % (1920 * 2), 0u);
  // Same bytes as the gRPC API gives for the same request.
  auto stub = v1::TextToSpeech::NewStub(grpc::CreateChannel(gateway.address(), grpc::InsecureChannelCredentials()));
  v1::SynthesizeRequest r;
  r.set_text("Hello over HTTP.");
  r.mutable_config()->mutable_voice()->set_speaker("Ryan");
  r.mutable_config()->set_language("English");
  r.mutable_config()->mutable_sampling()->set_greedy(true);
  r.mutable_config()->set_max_duration_seconds(1);
  r.mutable_config()->mutable_audio()->set_encoding(v1::PCM_S16LE);
  grpc::ClientContext context;
  auto reader = stub->Synthesize(&context, r);
  v1::SynthesizeResponse response;
  std::string grpc_pcm;
  while (reader->Read(&response)) {
    if (response.has_audio()) grpc_pcm += response.audio().data();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(pcm, grpc_pcm);

  auto [wav_code, wav] = Curl(port, R"({"input": "A wav file.", "voice": "serena", "max_duration_seconds": 0.5, "seed": 3, "response_format": "wav"})", out);
  EXPECT_EQ(wav_code, "200");
  ASSERT_GT(wav.size(), 44u);
  EXPECT_EQ(wav.substr(0, 4), "RIFF");
  EXPECT_EQ(wav.substr(8, 4), "WAVE");

  auto [bad_voice, bad_voice_body] = Curl(port, R"({"input": "x", "voice": "nobody"})", out);
  EXPECT_EQ(bad_voice, "400");
  EXPECT_NE(bad_voice_body.find("voice"), std::string::npos) << bad_voice_body;
  EXPECT_NE(bad_voice_body.find("\"error\""), std::string::npos) << bad_voice_body;
  auto [bad_speed, bad_speed_body] = Curl(port, R"({"input": "x", "voice": "ryan", "speed": 2.0})", out);
  EXPECT_EQ(bad_speed, "400");
  EXPECT_NE(bad_speed_body.find("speed"), std::string::npos) << bad_speed_body;
  auto [bad_format, bad_format_body] = Curl(port, R"({"input": "x", "voice": "ryan", "response_format": "flac"})", out);
  EXPECT_EQ(bad_format, "400");
  EXPECT_NE(bad_format_body.find("mp3, opus, wav, pcm"), std::string::npos) << bad_format_body;
  // OpenAI's default format (mp3) and Ogg/Opus.
  auto [mp3_code, mp3] = Curl(port, R"({"input": "Default format.", "voice": "ryan", "max_duration_seconds": 0.5})", out);
  EXPECT_EQ(mp3_code, "200");
  ASSERT_GT(mp3.size(), 100u);
  size_t sync = mp3.find('\xFF');
  ASSERT_NE(sync, std::string::npos);
  EXPECT_EQ(static_cast<unsigned char>(mp3[sync + 1]) & 0xE0, 0xE0);
  auto [opus_code, opus] = Curl(port, R"({"input": "Opus.", "voice": "ryan", "max_duration_seconds": 0.5, "response_format": "opus"})", out);
  EXPECT_EQ(opus_code, "200");
  EXPECT_EQ(opus.substr(0, 4), "OggS");
  EXPECT_NE(opus.find("OpusHead"), std::string::npos);
  auto [bad_json, bad_json_body] = Curl(port, "{not json", out);
  EXPECT_EQ(bad_json, "400");
  std::remove(out.c_str());
  std::remove((out + ".json").c_str());
}

TEST(ServicesTest, BadRequestsAreInvalidArgumentAndADeadStageIsUnavailable) {
  auto stack = StartStack(testing::GoldenPath("models/tiny-customvoice"));
  ASSERT_NE(stack, nullptr);
  struct Case {
    std::function<void(v1::SynthesizeRequest*)> mutate;
    grpc::StatusCode code;
    const char* field;
  } cases[] = {
      {[](v1::SynthesizeRequest* r) { r->clear_text(); }, grpc::StatusCode::INVALID_ARGUMENT, "text"},
      {[](v1::SynthesizeRequest* r) { r->mutable_config()->mutable_voice()->set_speaker("nobody"); },
       grpc::StatusCode::INVALID_ARGUMENT, "config.voice.speaker"},
      {[](v1::SynthesizeRequest* r) { r->mutable_config()->mutable_voice()->set_design("a voice"); },
       grpc::StatusCode::INVALID_ARGUMENT, "config.voice.design"},
      {[](v1::SynthesizeRequest* r) { r->mutable_config()->set_language("klingon"); }, grpc::StatusCode::INVALID_ARGUMENT,
       "config.language"},
      {[](v1::SynthesizeRequest* r) { r->mutable_config()->mutable_audio()->set_sample_rate_hertz(7000); },
       grpc::StatusCode::INVALID_ARGUMENT, "config.audio.sample_rate_hertz"},
      {[](v1::SynthesizeRequest* r) { r->mutable_config()->mutable_sampling()->set_temperature(-1); },
       grpc::StatusCode::INVALID_ARGUMENT, "temperature"},
      {[](v1::SynthesizeRequest* r) { r->mutable_config()->set_max_duration_seconds(-3); },
       grpc::StatusCode::INVALID_ARGUMENT, "config.max_duration_seconds"},
  };
  for (const Case& c : cases) {
    v1::SynthesizeRequest r;
    r.set_text("Hello there.");
    r.mutable_config()->mutable_voice()->set_speaker("ryan");
    r.mutable_config()->set_max_duration_seconds(0.5);
    c.mutate(&r);
    Streamed s = Call(stack->stub.get(), r);
    EXPECT_EQ(s.status.error_code(), c.code) << c.field << ": " << s.status.error_message();
    EXPECT_NE(s.status.error_message().find(c.field), std::string::npos) << s.status.error_message();
  }
  // Still healthy after the bad requests.
  v1::SynthesizeRequest ok;
  ok.set_text("Hello there.");
  ok.mutable_config()->mutable_voice()->set_speaker("ryan");
  ok.mutable_config()->set_max_duration_seconds(0.4);
  EXPECT_TRUE(Call(stack->stub.get(), ok).status.ok());
  // Kill the vocoder: the gateway answers UNAVAILABLE promptly.
  stack->vocoder->Stop();
  auto start = std::chrono::steady_clock::now();
  Streamed down = Call(stack->stub.get(), ok);
  EXPECT_EQ(down.status.error_code(), grpc::StatusCode::UNAVAILABLE) << down.status.error_message();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30.0);
}

}  // namespace
}  // namespace qwen3tts
