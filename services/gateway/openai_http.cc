#include "services/gateway/openai_http.h"

#include "common/util/tcp_listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace qwen3tts {
namespace {

absl::Status BadParam(const std::string& param, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(param, ": ", message));
}

int HttpStatusFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE: return 400;
    case grpc::StatusCode::UNAUTHENTICATED: return 401;
    case grpc::StatusCode::PERMISSION_DENIED: return 403;
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return 429;
    case grpc::StatusCode::UNIMPLEMENTED: return 501;
    case grpc::StatusCode::UNAVAILABLE: return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return 504;
    default: return 500;
  }
}

}  // namespace

absl::StatusOr<v1::SynthesizeRequest> ParseOpenAiSpeechRequest(const std::string& body, ModelVariant variant,
                                                               std::string* format) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError("body: not valid JSON (a UTF-8 JSON object is expected; check `input` for invalid UTF-8)");
  }
  if (!j.is_object()) return absl::InvalidArgumentError("body: expected a JSON object");
  auto str = [&](const char* key, std::string* out) -> absl::Status {
    if (!j.contains(key) || j[key].is_null()) return absl::OkStatus();
    if (!j[key].is_string()) return BadParam(key, "expected a string");
    *out = j[key].get<std::string>();
    return absl::OkStatus();
  };
  auto num = [&](const char* key, double* out, bool* present) -> absl::Status {
    *present = j.contains(key) && !j[key].is_null();
    if (!*present) return absl::OkStatus();
    if (!j[key].is_number()) return BadParam(key, "expected a number");
    *out = j[key].get<double>();
    return absl::OkStatus();
  };
  std::string model, input, voice, instructions, language, stream_format = "audio";
  *format = "mp3";  // the OpenAI default
  for (auto [key, out] : {std::pair<const char*, std::string*>{"model", &model}, {"input", &input}, {"voice", &voice},
                          {"instructions", &instructions}, {"language", &language}, {"response_format", format},
                          {"stream_format", &stream_format}}) {
    absl::Status s = str(key, out);
    if (!s.ok()) return s;
  }
  if (input.empty()) return BadParam("input", "required, non-empty text");
  if (*format != "mp3" && *format != "opus" && *format != "wav" && *format != "pcm") {
    return BadParam("response_format", "'" + *format + "' is not supported (supported: mp3, opus, wav, pcm)");
  }
  if (stream_format != "audio") return BadParam("stream_format", "only 'audio' is supported");
  v1::SynthesizeRequest r;
  r.set_text(input);
  v1::SynthesisConfig* c = r.mutable_config();
  c->set_language(language.empty() ? "auto" : language);
  c->mutable_audio()->set_encoding(*format == "mp3" ? v1::MP3 : *format == "opus" ? v1::OGG_OPUS
                                   : *format == "wav" ? v1::WAV : v1::PCM_S16LE);
  switch (variant) {
    case ModelVariant::kCustomVoice:
      if (voice.empty()) return BadParam("voice", "required: a preset speaker of this model");
      c->mutable_voice()->set_speaker(voice);
      c->mutable_voice()->set_instruct(instructions);
      break;
    case ModelVariant::kVoiceDesign:
      if (instructions.empty()) return BadParam("instructions", "required: describe the voice (VoiceDesign model)");
      c->mutable_voice()->set_design(instructions);
      break;
    case ModelVariant::kBase:
      if (voice.empty()) return BadParam("voice", "required: a voice id created with CreateVoice (Base model)");
      c->mutable_voice()->set_voice_id(voice);
      break;
  }
  double value;
  bool present;
  absl::Status s = num("speed", &value, &present);
  if (!s.ok()) return s;
  if (present && value != 1.0) return BadParam("speed", "only 1.0 is supported");
  if (!(s = num("temperature", &value, &present)).ok()) return s;
  if (present) c->mutable_sampling()->set_temperature(static_cast<float>(value));
  if (!(s = num("top_p", &value, &present)).ok()) return s;
  if (present) c->mutable_sampling()->set_top_p(static_cast<float>(value));
  if (!(s = num("top_k", &value, &present)).ok()) return s;
  if (present) c->mutable_sampling()->set_top_k(static_cast<int32_t>(value));
  if (!(s = num("seed", &value, &present)).ok()) return s;
  if (present) {
    if (value < 0) return BadParam("seed", "must be >= 0");
    c->mutable_sampling()->set_seed(static_cast<uint64_t>(value));
  }
  if (!(s = num("max_duration_seconds", &value, &present)).ok()) return s;
  if (present) c->set_max_duration_seconds(static_cast<float>(value));
  if (j.contains("greedy")) {
    if (!j["greedy"].is_boolean()) return BadParam("greedy", "expected true or false");
    c->mutable_sampling()->set_greedy(j["greedy"].get<bool>());
  }
  return r;
}

struct OpenAiHttpServer::State {
  ModelVariant variant;
  std::unique_ptr<v1::TextToSpeech::Stub> stub;
  int listen_fd = -1;
  std::atomic<bool> stopping{false};
  std::thread acceptor;
};

namespace {

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Internal Server Error";
  }
}

void SendError(int fd, int status, const std::string& message) {
  nlohmann::json body = {{"error", {{"message", message}, {"type", status < 500 ? "invalid_request_error" : "server_error"},
                                    {"code", nullptr}}}};
  const std::string text = body.dump();
  SendAll(fd, absl::StrCat("HTTP/1.1 ", status, " ", Reason(status), "\r\nContent-Type: application/json\r\nContent-Length: ",
                           text.size(), "\r\nConnection: close\r\n\r\n", text));
}

bool SendChunk(int fd, const std::string& data) {
  if (data.empty()) return true;
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return SendAll(fd, size) && SendAll(fd, data) && SendAll(fd, "\r\n");
}

void HandleConnection(std::shared_ptr<OpenAiHttpServer::State> state, int fd);

}  // namespace

absl::StatusOr<std::unique_ptr<OpenAiHttpServer>> OpenAiHttpServer::Start(const std::string& address,
                                                                          std::shared_ptr<grpc::Channel> gateway,
                                                                          ModelVariant variant) {
  absl::StatusOr<TcpListener> listener = ListenTcp(address, "http_listen");
  if (!listener.ok()) return listener.status();
  std::unique_ptr<OpenAiHttpServer> server(new OpenAiHttpServer());
  auto state = std::make_shared<State>();
  state->variant = variant;
  state->stub = v1::TextToSpeech::NewStub(std::move(gateway));
  server->port_ = listener->port;
  const int fd = listener->fd;
  state->listen_fd = fd;
  state->acceptor = std::thread([state] {
    while (!state->stopping) {
      int client = ::accept4(state->listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        if (state->stopping) break;
        continue;
      }
      std::thread(HandleConnection, state, client).detach();
    }
  });
  server->state_ = state;
  return server;
}

OpenAiHttpServer::~OpenAiHttpServer() {
  if (!state_) return;
  state_->stopping = true;
  ::shutdown(state_->listen_fd, SHUT_RDWR);
  ::close(state_->listen_fd);
  if (state_->acceptor.joinable()) state_->acceptor.join();
}

namespace {

void HandleConnection(std::shared_ptr<OpenAiHttpServer::State> state, int fd) {
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  timeval timeout{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string data;
  char buffer[16384];
  size_t header_end;
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return;
    data.append(buffer, static_cast<size_t>(n));
    if (data.size() > 65536) return SendError(fd, 413, "request headers too large");
  }
  const std::string head = data.substr(0, header_end);
  std::string body = data.substr(header_end + 4);
  const size_t line_end = head.find("\r\n");
  const std::string request_line = head.substr(0, line_end);
  const size_t sp1 = request_line.find(' '), sp2 = request_line.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return SendError(fd, 400, "malformed request line");
  const std::string method = request_line.substr(0, sp1), path = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (path != "/v1/audio/speech") return SendError(fd, 404, "not found: " + path + " (this server has POST /v1/audio/speech)");
  if (method != "POST") return SendError(fd, 405, "use POST");
  int64_t length = -1;
  std::string lower = absl::AsciiStrToLower(head);
  size_t cl = lower.find("\r\ncontent-length:");
  if (cl != std::string::npos) {
    size_t end = lower.find("\r\n", cl + 2);
    std::string value(absl::StripAsciiWhitespace(head.substr(cl + 17, end - cl - 17)));
    if (!absl::SimpleAtoi(value, &length)) length = -1;
  }
  if (length < 0) return SendError(fd, 411, "Content-Length is required");
  if (length > (1 << 20)) return SendError(fd, 413, "request body exceeds 1 MiB");
  while (static_cast<int64_t>(body.size()) < length) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return;
    body.append(buffer, static_cast<size_t>(n));
  }
  body.resize(static_cast<size_t>(length));

  std::string format;
  absl::StatusOr<v1::SynthesizeRequest> request = ParseOpenAiSpeechRequest(body, state->variant, &format);
  if (!request.ok()) return SendError(fd, 400, std::string(request.status().message()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  const size_t auth = lower.find("\r\nauthorization:");
  if (auth != std::string::npos) {
    const size_t end = lower.find("\r\n", auth + 2);
    context.AddMetadata("authorization", std::string(absl::StripAsciiWhitespace(head.substr(auth + 16, end - auth - 16))));
  }
  auto reader = state->stub->Synthesize(&context, *request);
  v1::SynthesizeResponse response;
  bool started = false;
  const char* content_type = format == "mp3" ? "audio/mpeg" : format == "opus" ? "audio/ogg" : format == "wav" ? "audio/wav" : "audio/pcm";
  const std::string headers = absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: ", content_type,
                                           "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  while (reader->Read(&response)) {
    if (!response.has_audio() || response.audio().data().empty()) continue;
    // Headers go out with the first audio, so errors found before any audio still get a status.
    if (!started && !SendAll(fd, headers)) {
      context.TryCancel();
      break;
    }
    started = true;
    if (!SendChunk(fd, response.audio().data())) {
      context.TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (!started) {
    if (!status.ok()) return SendError(fd, HttpStatusFor(status.error_code()), status.error_message());
    SendAll(fd, headers);
  }
  SendAll(fd, "0\r\n\r\n");
}

}  // namespace

}  // namespace qwen3tts
