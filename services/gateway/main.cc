// qwen3-tts-gateway: the public TextToSpeech API in front of talker and vocoder stages.
//   qwen3-tts-gateway --model-dir DIR --talker HOST:PORT --vocoder HOST:PORT [--listen 0.0.0.0:50050] [--voice-dir DIR]
// DIR supplies config.json and the text tokenizer (no weights are loaded here). --talker and
// --vocoder accept any gRPC target (e.g. dns:///talker-headless:50051 for round-robin over pods).
#include <cstdio>
#include <string>

#include "common/rpc/grpc_util.h"
#include "services/common/flags.h"
#include "services/gateway/gateway_service.h"

int main(int argc, char** argv) {
  using namespace qwen3tts;
  Flags flags(argc, argv, {"model-dir", "talker", "vocoder", "listen", "voice-dir"});
  if (!flags.ok() || !flags.Has("model-dir") || !flags.Has("talker") || !flags.Has("vocoder")) {
    std::fprintf(stderr, "%s\nusage: qwen3-tts-gateway --model-dir DIR --talker HOST:PORT --vocoder HOST:PORT [--listen HOST:PORT] [--voice-dir DIR]\n",
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
  return RunServer("qwen3-tts-gateway", flags.Get("listen", "0.0.0.0:50050"), {&service});
}
