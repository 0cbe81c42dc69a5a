// qwen3-tts-gateway: the public TextToSpeech API in front of talker and vocoder stages.
//   qwen3-tts-gateway --model-dir DIR --talker HOST:PORT --vocoder HOST:PORT [--listen 0.0.0.0:50050] [--voice-dir DIR]
//       [--http-listen 0.0.0.0:8080]   (OpenAI-compatible POST /v1/audio/speech)
// DIR supplies config.json and the text tokenizer (no weights are loaded here). --talker and
// --vocoder accept any gRPC target (e.g. dns:///talker-headless:50051 for round-robin over pods).
#include <cstdio>
#include <string>

#include "common/rpc/grpc_util.h"
#include "services/common/flags.h"
#include "services/gateway/gateway_service.h"
#include "services/gateway/openai_http.h"

int main(int argc, char** argv) {
  using namespace qwen3tts;
  Flags flags(argc, argv, {"model-dir", "talker", "vocoder", "listen", "voice-dir", "http-listen"});
  if (!flags.ok() || !flags.Has("model-dir") || !flags.Has("talker") || !flags.Has("vocoder")) {
    std::fprintf(stderr, "%s\nusage: qwen3-tts-gateway --model-dir DIR --talker HOST:PORT --vocoder HOST:PORT [--config FILE.yaml] [--listen HOST:PORT] [--voice-dir DIR] [--http-listen HOST:PORT]\n",
                 flags.error().c_str());
    return 2;
  }
  auto info = LoadModelInfo(flags.Get("model-dir"));
  if (!info.ok()) return std::fprintf(stderr, "qwen3-tts-gateway: %s\n", std::string(info.status().message()).c_str()), 1;
  auto tokenizer = TextTokenizer::LoadFromDir(flags.Get("model-dir"));
  if (!tokenizer.ok()) return std::fprintf(stderr, "qwen3-tts-gateway: %s\n", std::string(tokenizer.status().message()).c_str()), 1;
  // Cloned voices persist here (Base models); other variants keep none.
  std::unique_ptr<VoiceStore> voices;
  if (info->config.variant == ModelVariant::kBase) {
    auto store = VoiceStore::Open(flags.Get("voice-dir", "voices"));
    if (!store.ok()) return std::fprintf(stderr, "qwen3-tts-gateway: %s\n", std::string(store.status().message()).c_str()), 1;
    voices = std::move(*store);
  }
  GatewayService service(*info, *tokenizer, MakeStageChannel(flags.Get("talker")), MakeStageChannel(flags.Get("vocoder")),
                         GatewayLimits{}, voices.get());
  // The OpenAI-compatible HTTP endpoint relays to this server's gRPC port once it is bound.
  std::unique_ptr<OpenAiHttpServer> http;
  auto on_listening = [&](grpc::Server*, int grpc_port) {
    if (!flags.Has("http-listen")) return true;
    auto started = OpenAiHttpServer::Start(flags.Get("http-listen"), "127.0.0.1:" + std::to_string(grpc_port),
                                           info->config.variant);
    if (!started.ok()) {
      std::fprintf(stderr, "qwen3-tts-gateway: %s\n", std::string(started.status().message()).c_str());
      return false;
    }
    http = std::move(*started);
    std::printf("qwen3-tts-gateway http on port %d\n", http->port());
    return true;
  };
  return RunServer("qwen3-tts-gateway", flags.Get("listen", "0.0.0.0:50050"), {&service}, 10.0, on_listening);
}
