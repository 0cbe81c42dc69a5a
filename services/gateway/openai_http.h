// POST /v1/audio/speech, compatible with the OpenAI speech API, in front of the gateway's own
// gRPC API (the handler is a client of it over loopback, so both paths share one implementation).
//
// Request JSON: model (any), input (required), voice, instructions, response_format
// (mp3 | opus | wav | pcm; default mp3 as OpenAI), speed (1.0 only), stream_format ("audio" only), plus Qwen extras:
// language, seed, temperature, top_k, top_p, greedy, max_duration_seconds.
// voice means: the preset speaker (CustomVoice) or a stored voice id (Base); VoiceDesign models
// take the voice description from `instructions`. The body is streamed (chunked) as audio is made.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/tensor/model_config.h"
#include "qwen3tts/v1/tts.grpc.pb.h"

namespace qwen3tts {

// The JSON body -> a Synthesize request; INVALID_ARGUMENT naming the parameter otherwise.
// `format` receives the response format ("mp3", "opus", "wav" or "pcm").
absl::StatusOr<v1::SynthesizeRequest> ParseOpenAiSpeechRequest(const std::string& body, ModelVariant variant,
                                                               std::string* format);

// A small HTTP/1.1 server (one thread per connection, Connection: close, bodies with
// Content-Length up to 1 MiB, chunked responses) for this one endpoint.
class OpenAiHttpServer {
 public:
  // Listens on `address` ("127.0.0.1:0" picks a free port) and relays to the gRPC gateway through
  // `gateway` (its in-process channel, so TLS on the gRPC port does not matter). An
  // `Authorization` header is passed on as gRPC metadata: API keys work the same on both paths.
  static absl::StatusOr<std::unique_ptr<OpenAiHttpServer>> Start(const std::string& address,
                                                                 std::shared_ptr<grpc::Channel> gateway,
                                                                 ModelVariant variant);
  ~OpenAiHttpServer();
  int port() const { return port_; }
  struct State;  // shared with connection threads, which may outlive a stopped server briefly

 private:
  OpenAiHttpServer() = default;
  std::shared_ptr<State> state_;
  int port_ = 0;
};

}  // namespace qwen3tts
