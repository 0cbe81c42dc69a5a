// Operations, tested against real processes on loopback: a real Prometheus server scrapes all three
// stages; health (readiness and liveness); SIGTERM drain; client-side round-robin over two talker
// processes; admission limits; API keys; TLS on the gateway and mutual TLS to the stages.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "qwen3tts/v1/talker.grpc.pb.h"
#include "qwen3tts/v1/tts.grpc.pb.h"
#include "tests/support/golden.h"
#include "tests/support/server_process.h"
#include "tests/support/stages.h"

namespace qwen3tts {
namespace {

using namespace qwen3tts::testing;  // NOLINT: test helpers
using Clock = std::chrono::steady_clock;

TEST(OperationsTest, PrometheusScrapesEveryStageAndSeesASynthesis) {
  auto talker = StartTalker();
  auto vocoder = StartVocoder();
  ASSERT_FALSE(talker->address().empty() || vocoder->address().empty());
  auto gateway = StartGateway(talker->address(), vocoder->address());
  ASSERT_FALSE(gateway->address().empty());
  ASSERT_FALSE(gateway->metrics_address().empty()) << gateway->startup_output();

  const std::string dir = TempDir("prometheus");
  const int port = FreePort();
  {
    std::ofstream config(dir + "/prometheus.yml");
    config << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
           << "  - job_name: qwen3tts\n    static_configs:\n      - targets: ['" << talker->metrics_address() << "', '"
           << vocoder->metrics_address() << "', '" << gateway->metrics_address() << "']\n";
  }
  Background prometheus({"prometheus", "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
                         "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"});
  const std::string api = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/query";
  auto query = [&](const std::string& q) {
    return RunCommand("curl -s --max-time 5 -G --data-urlencode 'query=" + q + "' " + api);
  };

  auto stub = Stub(gateway->address());
  Result result = Synthesize(stub.get(), Request("Metrics should move after this sentence."));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_GT(result.frames, 0);
  // The same voice again: its prompt's head comes from the talker's prompt-head cache.
  Result again = Synthesize(stub.get(), Request("And the cached prompt head after this one."));
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();

  // Each query must return a positive value once Prometheus has scraped after the synthesis.
  const std::vector<std::string> queries = {
      "sum(qwen3tts_grpc_requests_total{method=\"/qwen3tts.v1.TextToSpeech/Synthesize\",code=\"OK\"})",
      "sum(qwen3tts_grpc_requests_total{method=\"/qwen3tts.v1.Talker/Generate\",code=\"OK\"})",
      "sum(qwen3tts_grpc_requests_total{method=\"/qwen3tts.v1.Codec/Decode\",code=\"OK\"})",
      "sum(qwen3tts_frames_total{stage=\"talker\"})",
      "sum(qwen3tts_frames_total{stage=\"vocoder\"})",
      "sum(qwen3tts_frames_total{stage=\"gateway\"})",
      "sum(qwen3tts_time_to_first_audio_seconds_count{stage=\"gateway\"})",
      "sum(qwen3tts_time_to_first_audio_seconds_count{stage=\"talker\"})",
      "sum(qwen3tts_real_time_factor_count{stage=\"gateway\"})",
      "sum(qwen3tts_talker_frame_seconds_count)",
      "sum(qwen3tts_code_predictor_frame_seconds_count)",
      "sum(qwen3tts_vocoder_decode_seconds_count)",
      "sum(qwen3tts_batch_size_count{stage=\"talker\"})",
      "sum(qwen3tts_prompt_rows_total{stage=\"talker\",source=\"computed\"})",
      "sum(qwen3tts_prompt_rows_total{stage=\"talker\",source=\"cached\"})",
      "sum(qwen3tts_prefill_wait_seconds_count{stage=\"talker\"})",
      "sum(qwen3tts_prefill_seconds_count{stage=\"talker\"})",
      "sum(qwen3tts_prefill_seconds_sum{stage=\"talker\"})",
      "sum(qwen3tts_queue_wait_seconds_count{stage=\"talker\"})",
      "count(qwen3tts_build_info)",
      "count(qwen3tts_model_load_seconds)",
  };
  std::vector<std::string> pending = queries;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  std::string last;
  while (!pending.empty() && Clock::now() < deadline) {
    std::vector<std::string> still;
    for (const std::string& q : pending) {
      last = query(q);
      nlohmann::json j = nlohmann::json::parse(last, nullptr, false);
      bool positive = false;
      if (!j.is_discarded() && j.value("status", "") == "success" && !j["data"]["result"].empty()) {
        positive = std::stod(j["data"]["result"][0]["value"][1].get<std::string>()) > 0;
      }
      if (!positive) still.push_back(q);
    }
    pending = still;
    if (!pending.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_TRUE(pending.empty()) << pending.size() << " queries never moved, first: " << pending.front()
                               << "\nlast answer: " << last;
  // The build_info series carries the three stages.
  const std::string info = query("count by (stage) (qwen3tts_build_info)");
  for (const char* stage : {"talker", "vocoder", "gateway"}) {
    EXPECT_NE(info.find(std::string("\"stage\":\"") + stage + "\""), std::string::npos) << info;
  }
}

TEST(OperationsTest, MetricLabelsStayBounded) {
  auto talker = StartTalker();
  ASSERT_FALSE(talker->address().empty());
  // A made-up method must not create its own label value.
  grpc::Status status = GenericUnary(grpc::CreateChannel(talker->address(), grpc::InsecureChannelCredentials()),
                                     "/made.up.Service/Method12345", "", nullptr);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  const std::string text = HttpGet("http://" + talker->metrics_address() + "/metrics");
  EXPECT_EQ(text.find("Method12345"), std::string::npos);
  EXPECT_NE(text.find("qwen3tts_grpc_requests_total{code=\"UNIMPLEMENTED\",method=\"unknown\"}"), std::string::npos)
      << text.substr(0, 2000);
}

TEST(OperationsTest, HealthReportsReadinessAndLiveness) {
  auto talker = StartTalker();
  ASSERT_FALSE(talker->address().empty());
  EXPECT_NE(talker->startup_output().find("loading on"), std::string::npos) << talker->startup_output();
  for (const char* service : {"", "liveness"}) {
    EXPECT_EQ(HealthStatus(talker->address(), service), 1) << "service '" << service << "' is not SERVING";
  }
  // A service name nobody registered is NOT_FOUND, not SERVING.
  EXPECT_EQ(HealthStatus(talker->address(), "no.such.Service"), -1);
}

// Readiness stays NOT_SERVING while the models load: the talker's generation_config.json is a FIFO
// here, so loading blocks until the test writes it.
TEST(OperationsTest, HealthIsNotServingWhileTheModelLoads) {
  const std::string dir = TempDir("slow_model");
  for (const auto& entry : fs::directory_iterator(Model())) {
    const fs::path target = fs::path(dir) / entry.path().filename();
    if (entry.path().filename() == "generation_config.json") {
      ASSERT_EQ(::mkfifo(target.c_str(), 0600), 0);
    } else {
      fs::create_symlink(entry.path(), target);
    }
  }
  ServerProcess talker(QWEN3TTS_TALKER_BIN, {"--model-dir", dir, "--listen", "127.0.0.1:0", "--threads", "1"},
                       "loading on ");
  ASSERT_FALSE(talker.address().empty()) << talker.startup_output();
  EXPECT_EQ(HealthStatus(talker.address(), ""), 2) << "readiness must be NOT_SERVING while loading";
  EXPECT_EQ(HealthStatus(talker.address(), "liveness"), 1);
  {
    std::ofstream fifo(dir + "/generation_config.json");  // unblocks the loader
    fifo << RunCommand("cat " + Model() + "/generation_config.json");
  }
  std::string line;
  for (int i = 0; i < 20 && line.find("listening on") == std::string::npos; ++i) line = talker.ReadLine();
  ASSERT_NE(line.find("listening on"), std::string::npos);
  EXPECT_EQ(HealthStatus(talker.address(), ""), 1);
  EXPECT_EQ(HealthStatus(talker.address(), "liveness"), 1);
}

// SIGTERM while a stream is in flight: new calls are refused at once, the stream in flight
// finishes with all its audio, and the process exits 0.
TEST(OperationsTest, SigtermDrainsStreamsInFlightThenExitsZero) {
  auto talker = StartTalker();
  auto vocoder = StartVocoder();
  ASSERT_FALSE(talker->address().empty() || vocoder->address().empty());
  auto gateway = StartGateway(talker->address(), vocoder->address(), {"--drain-seconds", "30"});
  ASSERT_FALSE(gateway->address().empty());
  auto stub = Stub(gateway->address());

  // A streaming-text call stays in flight for as long as we hold its input open.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub->StreamingSynthesize(&context);
  v1::StreamingSynthesizeRequest config;
  *config.mutable_config() = Request("unused").config();
  config.mutable_config()->set_max_duration_seconds(3.0f);
  ASSERT_TRUE(stream->Write(config));
  v1::StreamingSynthesizeRequest piece;
  piece.set_text("The first half arrives before the signal, ");
  ASSERT_TRUE(stream->Write(piece));
  v1::SynthesizeResponse response;
  int audio_chunks = 0;
  while (audio_chunks == 0 && stream->Read(&response)) {
    if (response.has_audio()) ++audio_chunks;
  }
  ASSERT_GT(audio_chunks, 0);

  gateway->Signal(SIGTERM);
  EXPECT_NE(gateway->ReadLine().find("draining"), std::string::npos);
  // A new call is refused while the old stream drains.
  const auto refused_at = Clock::now();
  Result refused = Synthesize(Stub(gateway->address()).get(), Request("Too late."));
  // UNAVAILABLE from our admission while the drain begins, CANCELLED from gRPC once it has shut
  // the server down: either way refused, never served.
  EXPECT_TRUE(refused.status.error_code() == grpc::StatusCode::UNAVAILABLE ||
              refused.status.error_code() == grpc::StatusCode::CANCELLED)
      << refused.status.error_code() << " " << refused.status.error_message();
  EXPECT_LT(Clock::now() - refused_at, std::chrono::seconds(10));

  // The stream in flight still gets the rest of its text and all of its audio.
  piece.set_text("and the second half after it.");
  ASSERT_TRUE(stream->Write(piece));
  stream->WritesDone();
  int64_t frames = 0;
  while (stream->Read(&response)) {
    if (response.has_audio()) ++audio_chunks;
    if (response.has_summary()) frames = response.summary().frames();
  }
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(frames, 0);
  EXPECT_EQ(gateway->Wait(), 0);
}

TEST(OperationsTest, DrainDeadlineCancelsWhatIsLeftAndStillExitsZero) {
  auto talker = StartTalker({"--drain-seconds", "1"});
  ASSERT_FALSE(talker->address().empty());
  auto stub = v1::Talker::NewStub(grpc::CreateChannel(talker->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->GenerateStreamingText(&context);
  v1::GenerateStreamingTextRequest first;
  // <|im_start|>assistant\n + one text token; the sequence then waits for more text.
  for (int i = 0; i < 4; ++i) first.mutable_request()->add_input_ids(151644);
  first.mutable_request()->set_speaker("ryan");
  ASSERT_TRUE(stream->Write(first));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = Clock::now();
  talker->Signal(SIGTERM);
  EXPECT_EQ(talker->Wait(), 0);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  v1::GenerateResponse response;
  while (stream->Read(&response)) {
  }
  EXPECT_FALSE(stream->Finish().ok());
}

// Two talker processes behind one target: the gateway's round_robin policy spreads calls.
TEST(OperationsTest, GatewaySpreadsCallsOverEveryTalkerAddress) {
  auto talker_a = StartTalker();
  auto talker_b = StartTalker();
  auto vocoder = StartVocoder();
  ASSERT_FALSE(talker_a->address().empty() || talker_b->address().empty() || vocoder->address().empty());
  const std::string both = "ipv4:" + talker_a->address() + "," + talker_b->address();
  auto gateway = StartGateway(both, vocoder->address());
  ASSERT_FALSE(gateway->address().empty());
  auto stub = Stub(gateway->address());
  const std::string series = "qwen3tts_grpc_requests_total{code=\"OK\",method=\"/qwen3tts.v1.Talker/Generate\"}";
  auto served = [&](const ServerProcess& talker) { return MetricValue(talker.metrics_address(), series); };
  // round_robin only uses connections that are ready: until the gateway has connected to both
  // talkers (a loaded machine may take a moment), calls can all go to one. Warm up until both
  // have served a call, then count.
  for (int i = 0; i < 50 && (served(*talker_a) < 1 || served(*talker_b) < 1); ++i) {
    Result r = Synthesize(stub.get(), Request("Warm-up call.", 0.2f));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  }
  const double a0 = served(*talker_a), b0 = served(*talker_b);
  ASSERT_GE(a0, 1);
  ASSERT_GE(b0, 1);
  for (int i = 0; i < 6; ++i) {
    Result r = Synthesize(stub.get(), Request("Call number " + std::to_string(i) + ".", 0.5f));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  }
  const double a = served(*talker_a) - a0, b = served(*talker_b) - b0;
  EXPECT_EQ(a + b, 6);
  EXPECT_GE(a, 2) << "talker A served " << a << ", B " << b;
  EXPECT_GE(b, 2) << "talker A served " << a << ", B " << b;
}

// Beyond max_streams + max_queue a call is refused at once with RESOURCE_EXHAUSTED.
TEST(OperationsTest, StreamLimitsRefuseExcessCallsAtOnce) {
  auto talker = StartTalker({"--max-streams", "1", "--max-queue", "0"});
  ASSERT_FALSE(talker->address().empty());
  auto stub = v1::Talker::NewStub(grpc::CreateChannel(talker->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext holder_context;
  auto holder = stub->GenerateStreamingText(&holder_context);
  v1::GenerateStreamingTextRequest first;
  for (int i = 0; i < 4; ++i) first.mutable_request()->add_input_ids(151644);
  first.mutable_request()->set_speaker("ryan");
  ASSERT_TRUE(holder->Write(first));
  // Wait until the holder runs (it owns the only slot).
  const auto until = Clock::now() + std::chrono::seconds(20);
  while (MetricValue(talker->metrics_address(), "qwen3tts_active_streams{stage=\"talker\"}") < 1 && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::GenerateRequest request = first.request();
  request.add_input_ids(151645);
  for (int i = 0; i < 4; ++i) request.add_input_ids(151644);
  auto reader = stub->Generate(&context, request);
  v1::GenerateResponse response;
  const auto asked = Clock::now();
  while (reader->Read(&response)) {
  }
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("max_streams 1"), std::string::npos) << status.error_message();
  EXPECT_LT(Clock::now() - asked, std::chrono::seconds(5));
  EXPECT_GE(MetricValue(talker->metrics_address(), "qwen3tts_rejected_streams_total{stage=\"talker\"}"), 1);
  holder_context.TryCancel();
}

TEST(OperationsTest, ApiKeysGuardThePublicApi) {
  auto talker = StartTalker();
  auto vocoder = StartVocoder();
  ASSERT_FALSE(talker->address().empty() || vocoder->address().empty());
  const std::string dir = TempDir("keys");
  std::ofstream(dir + "/keys") << "# team keys\nkey-one-0123456789\n\nkey-two-abcdefghij\n";
  auto gateway = StartGateway(talker->address(), vocoder->address(), {"--api-keys-file", dir + "/keys"});
  ASSERT_FALSE(gateway->address().empty());
  auto stub = Stub(gateway->address());
  Result missing = Synthesize(stub.get(), Request("No key."));
  EXPECT_EQ(missing.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(missing.status.error_message().find("authorization: Bearer"), std::string::npos);
  Result wrong = Synthesize(stub.get(), Request("Wrong key."), "key-one-012345678X");
  EXPECT_EQ(wrong.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  Result prefix = Synthesize(stub.get(), Request("Prefix of a key."), "key-one");
  EXPECT_EQ(prefix.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  Result right = Synthesize(stub.get(), Request("Second key.", 0.5f), "key-two-abcdefghij");
  EXPECT_TRUE(right.status.ok()) << right.status.error_message();
  EXPECT_GT(right.frames, 0);
  // Health stays open for probes.
  EXPECT_EQ(HealthStatus(gateway->address(), ""), 1);
  // Scrapes of a gateway with metrics_require_api_key need the bearer token too.
  auto guarded = StartGateway(talker->address(), vocoder->address(),
                              {"--api-keys-file", dir + "/keys", "--metrics-require-api-key", "true"});
  ASSERT_FALSE(guarded->metrics_address().empty());
  const std::string url = "http://" + guarded->metrics_address() + "/metrics";
  EXPECT_EQ(RunCommand("curl -s -o /dev/null -w '%{http_code}' " + url), "401");
  EXPECT_EQ(RunCommand("curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer key-one-0123456789' " + url),
            "200");
  EXPECT_NE(HttpGet("http://" + gateway->metrics_address() + "/metrics").find("qwen3tts_build_info"), std::string::npos)
      << "metrics are open by default";
  // A missing key file stops start-up with the key named.
  auto broken = StartGateway(talker->address(), vocoder->address(), {"--api-keys-file", dir + "/nope"});
  EXPECT_TRUE(broken->address().empty());
  EXPECT_NE(broken->Wait(), 0);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Certificates made with openssl: a CA, a server certificate for 127.0.0.1 and a client one.
void MakeCertificates(const std::string& dir) {
  const std::string ext = dir + "/san.ext";
  std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  const std::string q = " >/dev/null 2>&1";
  std::system(("cd " + dir + " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca.key -out ca.crt" + q).c_str());
  for (const char* who : {"server", "client", "stranger"}) {
    const std::string w = who;
    std::system(("cd " + dir + " && openssl req -newkey rsa:2048 -nodes -subj /CN=" + w + " -keyout " + w + ".key -out " + w + ".csr" + q).c_str());
    // The stranger's certificate is self-signed: not from the CA the stages trust.
    const std::string signer = w == "stranger" ? "-signkey stranger.key" : "-CA ca.crt -CAkey ca.key -CAcreateserial";
    std::system(("cd " + dir + " && openssl x509 -req -days 2 -in " + w + ".csr " + signer + " -extfile san.ext -out " + w + ".crt" + q).c_str());
  }
}

TEST(OperationsTest, TlsGatewayAndMutualTlsToTheStages) {
  const std::string dir = TempDir("tls");
  MakeCertificates(dir);
  ASSERT_NE(ReadAll(dir + "/server.crt").find("BEGIN CERTIFICATE"), std::string::npos) << "openssl failed";
  const std::vector<std::string> server_tls = {"--tls-cert-file", dir + "/server.crt", "--tls-key-file", dir + "/server.key",
                                               "--tls-client-ca-file", dir + "/ca.crt"};
  auto talker = StartTalker(server_tls);
  auto vocoder = StartVocoder(server_tls);
  ASSERT_FALSE(talker->address().empty() || vocoder->address().empty());
  auto gateway = StartGateway(talker->address(), vocoder->address(),
                              {"--tls-cert-file", dir + "/server.crt", "--tls-key-file", dir + "/server.key",
                               "--stage-ca-file", dir + "/ca.crt", "--stage-cert-file", dir + "/client.crt",
                               "--stage-key-file", dir + "/client.key"});
  ASSERT_FALSE(gateway->address().empty());

  grpc::SslCredentialsOptions client;
  client.pem_root_certs = ReadAll(dir + "/ca.crt");
  auto secure = v1::TextToSpeech::NewStub(grpc::CreateChannel(gateway->address(), grpc::SslCredentials(client)));
  Result ok = Synthesize(secure.get(), Request("Encrypted all the way.", 0.5f));
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_GT(ok.frames, 0);

  // Plaintext to a TLS port fails.
  Result plain = Synthesize(Stub(gateway->address()).get(), Request("Plaintext."));
  EXPECT_FALSE(plain.status.ok());

  // A stage refuses a client without a certificate, and one whose certificate the CA did not sign.
  auto talker_stub_for = [&](const std::string& who) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ReadAll(dir + "/ca.crt");
    if (!who.empty()) {
      o.pem_cert_chain = ReadAll(dir + "/" + who + ".crt");
      o.pem_private_key = ReadAll(dir + "/" + who + ".key");
    }
    return v1::Talker::NewStub(grpc::CreateChannel(talker->address(), grpc::SslCredentials(o)));
  };
  for (const std::string who : {"", "stranger", "client"}) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::TalkerInfo info;
    grpc::Status s = talker_stub_for(who)->GetTalkerInfo(&context, v1::GetTalkerInfoRequest(), &info);
    if (who == "client") {
      EXPECT_TRUE(s.ok()) << s.error_message();
    } else {
      EXPECT_FALSE(s.ok()) << "a client " << (who.empty() ? "without a certificate" : "with a stranger's certificate")
                           << " got through";
    }
  }
}

// The documented example configs start real stages (only addresses and paths overridden).
TEST(OperationsTest, ExampleConfigsStartTheStages) {
  const std::string config_dir = QWEN3TTS_DEPLOY_CONFIG_DIR;
  const std::vector<std::string> local = {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"};
  auto with = [&](const std::string& stage, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--config", config_dir + "/" + stage + ".yaml", "--model-dir", Model()};
    args.insert(args.end(), local.begin(), local.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  auto talker = std::make_unique<ServerProcess>(QWEN3TTS_TALKER_BIN, with("talker", {}));
  auto vocoder = std::make_unique<ServerProcess>(QWEN3TTS_VOCODER_BIN, with("vocoder", {}));
  ASSERT_FALSE(talker->address().empty() || vocoder->address().empty());
  auto gateway = std::make_unique<ServerProcess>(
      QWEN3TTS_GATEWAY_BIN, with("gateway", {"--talker", talker->address(), "--vocoder", vocoder->address(),
                                             "--http-listen", "127.0.0.1:0", "--voice-dir", TempDir("example_voices")}));
  ASSERT_FALSE(gateway->address().empty()) << gateway->startup_output();
  Result r = Synthesize(Stub(gateway->address()).get(), Request("Configured from the examples.", 0.5f));
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_GT(r.frames, 0);
}

// Plaintext beyond loopback only when asked for: a server (and the gateway's stage channels)
// refuse to start unencrypted on a public address unless `plaintext: true`.
TEST(OperationsTest, PlaintextOffLoopbackMustBeExplicit) {
  const std::string talker_bin = QWEN3TTS_TALKER_BIN;
  const std::string refused =
      RunCommand("timeout 60 " + talker_bin + " --model-dir " + Model() + " --listen 0.0.0.0:0 2>&1; echo exit=$?");
  EXPECT_NE(refused.find("no TLS is configured"), std::string::npos) << refused;
  EXPECT_NE(refused.find("plaintext: true"), std::string::npos) << refused;
  EXPECT_NE(refused.find("exit=1"), std::string::npos) << refused;
  auto allowed = StartTalker({"--listen", "0.0.0.0:0", "--plaintext", "true"});
  EXPECT_FALSE(allowed->address().empty()) << allowed->startup_output();

  const std::string gateway_bin = QWEN3TTS_GATEWAY_BIN;
  const std::string gateway = RunCommand("timeout 60 " + gateway_bin + " --model-dir " + Model() +
                                         " --talker dns:///talker.example:50051 --vocoder 127.0.0.1:1 "
                                         "--listen 127.0.0.1:0 2>&1; echo exit=$?");
  EXPECT_NE(gateway.find("no stage TLS is configured"), std::string::npos) << gateway;
  EXPECT_NE(gateway.find("exit=1"), std::string::npos) << gateway;
}

}  // namespace
}  // namespace qwen3tts
