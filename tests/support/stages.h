// Test support: the three stage binaries as child processes on loopback, and small clients for
// them (public API calls, raw health checks, /metrics scraping). Header-only; the binaries' paths
// come from QWEN3TTS_{TALKER,VOCODER,GATEWAY}_BIN compile definitions.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "qwen3tts/v1/tts.grpc.pb.h"
#include "tests/support/golden.h"
#include "tests/support/server_process.h"

namespace qwen3tts::testing {

namespace fs = std::filesystem;

inline std::string Model() { return GoldenPath("models/tiny-customvoice"); }

inline std::string TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("qwen3tts_ops_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

inline std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), p)) > 0) out.append(buffer, n);
  ::pclose(p);
  return out;
}

inline std::string HttpGet(const std::string& url) { return RunCommand("curl -s --max-time 5 '" + url + "'"); }

// A port that was free a moment ago (for programs that cannot report the port they bound).
inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A unary call with raw request bytes (no generated stub needed).
inline grpc::Status GenericUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                          const std::string& request_bytes, std::string* response_bytes) {
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::Status status;
  bool done = false;
  std::mutex mu;
  std::condition_variable cv;
  generic.UnaryCall(&context, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = s;
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  if (status.ok() && response_bytes != nullptr) {
    std::vector<grpc::Slice> slices;
    response.Dump(&slices);
    response_bytes->clear();
    for (const grpc::Slice& sl : slices) response_bytes->append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  }
  return status;
}

// grpc.health.v1.Health/Check, encoded by hand (HealthCheckRequest.service is field 1; the
// response's status is field 1 as a varint: 1 = SERVING, 2 = NOT_SERVING). -1 on error.
inline int HealthStatus(const std::string& address, const std::string& service) {
  std::string request;
  if (!service.empty()) request = std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
  std::string response;
  grpc::Status s = GenericUnary(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()),
                                "/grpc.health.v1.Health/Check", request, &response);
  if (!s.ok()) return -1;
  return response.size() >= 2 && response[0] == 0x08 ? response[1] : 0;
}

// A helper program that does not announce readiness on stdout: killed on destruction.
class Background {
 public:
  explicit Background(const std::vector<std::string>& argv) {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }

 private:
  pid_t pid_ = -1;
};

inline std::unique_ptr<ServerProcess> StartTalker(std::vector<std::string> extra = {}, const std::string& model = Model()) {
  std::vector<std::string> args = {"--model-dir", model, "--listen", "127.0.0.1:0", "--threads", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(QWEN3TTS_TALKER_BIN, args);
}

inline std::unique_ptr<ServerProcess> StartVocoder(std::vector<std::string> extra = {}, const std::string& model = Model()) {
  std::vector<std::string> args = {"--model-dir", model, "--listen", "127.0.0.1:0", "--threads", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(QWEN3TTS_VOCODER_BIN, args);
}

inline std::unique_ptr<ServerProcess> StartGateway(const std::string& talker, const std::string& vocoder,
                                              std::vector<std::string> extra = {}, const std::string& model = Model()) {
  std::vector<std::string> args = {"--model-dir", model, "--talker", talker, "--vocoder", vocoder,
                                   "--listen", "127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(QWEN3TTS_GATEWAY_BIN, args);
}

// Talker, vocoder and gateway on one model, and a stub for the gateway.
struct Stack {
  std::unique_ptr<ServerProcess> talker, vocoder, gateway;
  std::unique_ptr<v1::TextToSpeech::Stub> stub;
  bool ok() const { return gateway != nullptr && !gateway->address().empty(); }
};

inline Stack StartStack(const std::string& model = Model(), std::vector<std::string> gateway_extra = {}) {
  Stack s;
  s.talker = StartTalker({}, model);
  s.vocoder = StartVocoder({}, model);
  if (s.talker->address().empty() || s.vocoder->address().empty()) return s;
  s.gateway = StartGateway(s.talker->address(), s.vocoder->address(), std::move(gateway_extra), model);
  s.stub = v1::TextToSpeech::NewStub(grpc::CreateChannel(s.gateway->address(), grpc::InsecureChannelCredentials()));
  return s;
}

inline v1::SynthesizeRequest Request(const std::string& text, float max_seconds = 2.0f) {
  v1::SynthesizeRequest r;
  r.set_text(text);
  r.mutable_config()->mutable_voice()->set_speaker("ryan");
  r.mutable_config()->set_language("english");
  r.mutable_config()->mutable_audio()->set_encoding(v1::PCM_F32LE);
  r.mutable_config()->mutable_sampling()->set_greedy(true);
  r.mutable_config()->set_max_duration_seconds(max_seconds);
  return r;
}

struct Result {
  grpc::Status status;
  int64_t frames = 0;
  size_t audio_bytes = 0;
};

inline Result Synthesize(v1::TextToSpeech::Stub* stub, const v1::SynthesizeRequest& request,
                  const std::string& api_key = "") {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  if (!api_key.empty()) context.AddMetadata("authorization", "Bearer " + api_key);
  auto reader = stub->Synthesize(&context, request);
  v1::SynthesizeResponse response;
  Result r;
  while (reader->Read(&response)) {
    if (response.has_audio()) r.audio_bytes += response.audio().data().size();
    if (response.has_summary()) r.frames = response.summary().frames();
  }
  r.status = reader->Finish();
  return r;
}

inline std::unique_ptr<v1::TextToSpeech::Stub> Stub(const std::string& address) {
  return v1::TextToSpeech::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

// Sum of a counter's samples in a stage's /metrics text whose line starts with `series`.
inline double MetricValue(const std::string& metrics_address, const std::string& series) {
  const std::string text = HttpGet("http://" + metrics_address + "/metrics");
  double total = 0;
  size_t at = 0;
  while ((at = text.find(series, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      const size_t space = text.find(' ', at);
      const size_t end = text.find('\n', space);
      total += std::stod(text.substr(space + 1, end - space - 1));
    }
    at += series.size();
  }
  return total;
}

}  // namespace qwen3tts::testing
