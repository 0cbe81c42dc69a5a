// qwen3-tts-gateway: the public TextToSpeech API in front of talker and vocoder stages.
//   qwen3-tts-gateway --model-dir DIR --talker TARGET --vocoder TARGET [--config FILE.yaml] [--listen 0.0.0.0:50050]
//       [--voice-dir DIR] [--http-listen 0.0.0.0:8080] [--api-keys-file FILE] ...
// DIR supplies config.json and the text tokenizer (no weights are loaded here). --talker and
// --vocoder accept any gRPC target (e.g. dns:///talker-headless:50051 for round-robin over pods).
// Every key is documented in deploy/config/gateway.yaml.
#include <cstdio>
#include <string>

#include "common/metrics/metrics.h"
#include "services/common/stage_flags.h"
#include "services/gateway/gateway_service.h"
#include "services/gateway/openai_http.h"

int main(int argc, char** argv) {
  using namespace qwen3tts;
  const std::vector<FlagSpec> specs = GatewayFlagSpecs();
  Flags flags(argc, argv, specs);
  if (!ParseOrUsage(flags, "qwen3-tts-gateway", specs)) return 2;
  SetBuildInfo("gateway", "none", ApplyThreads(flags));
  std::vector<std::string> api_keys;
  if (!flags.Get("api-keys-file").empty()) {
    auto loaded = LoadApiKeys(flags.Get("api-keys-file"));
    if (!loaded.ok()) return std::fprintf(stderr, "qwen3-tts-gateway: %s\n", std::string(loaded.status().message()).c_str()), 1;
    api_keys = std::move(*loaded);
  }
  ServerOptions options = StageServerOptions(flags, "qwen3-tts-gateway", "gateway");
  if (flags.GetBool("metrics-require-api-key")) {
    if (api_keys.empty()) {
      std::fprintf(stderr, "qwen3-tts-gateway: metrics_require_api_key needs api_keys_file\n");
      return 2;
    }
    options.metrics_bearer_keys = api_keys;
  }
  std::unique_ptr<VoiceStore> voices;
  ModelVariant variant = ModelVariant::kCustomVoice;
  std::unique_ptr<OpenAiHttpServer> http;
  auto load = [&]() -> absl::StatusOr<ServiceList> {
    auto info = LoadModelInfo(flags.Get("model-dir"));
    if (!info.ok()) return info.status();
    variant = info->config.variant;
    auto tokenizer = TextTokenizer::LoadFromDir(flags.Get("model-dir"));
    if (!tokenizer.ok()) return tokenizer.status();
    // Cloned voices persist here (Base models); other variants keep none.
    if (variant == ModelVariant::kBase) {
      auto store = VoiceStore::Open(flags.Get("voice-dir"));
      if (!store.ok()) return store.status();
      voices = std::move(*store);
    }
    const ChannelTlsFiles tls{flags.Get("stage-ca-file"), flags.Get("stage-cert-file"), flags.Get("stage-key-file")};
    if (!tls.enabled() && !flags.GetBool("plaintext") &&
        !(IsLoopbackAddress(flags.Get("talker")) && IsLoopbackAddress(flags.Get("vocoder")))) {
      return absl::FailedPreconditionError(
          "talker/vocoder: the stages are not on loopback and no stage TLS is configured; set stage_ca_file "
          "(and stage_cert_file/stage_key_file for mutual TLS), or plaintext: true");
    }
    auto talker = MakeStageChannel(flags.Get("talker"), tls);
    if (!talker.ok()) return talker.status();
    auto vocoder = MakeStageChannel(flags.Get("vocoder"), tls);
    if (!vocoder.ok()) return vocoder.status();
    GatewayLimits limits;
    limits.max_text_chars = flags.GetInt("max-text-chars");
    limits.max_duration_seconds = flags.GetDouble("max-duration-seconds");
    limits.max_reference_seconds = flags.GetDouble("max-reference-seconds");
    limits.max_upload_bytes = flags.GetInt("max-upload-bytes");
    limits.streams = StageStreamLimits(flags);
    // Warm-up: the tokenizer's caches and ICU.
    if (auto ids = (*tokenizer)->Encode("Warm-up, 预热.", false); !ids.ok()) return ids.status();
    return ServiceList{std::make_shared<GatewayService>(*info, *tokenizer, *talker, *vocoder, limits, voices.get(),
                                                        api_keys)};
  };
  // The OpenAI-compatible HTTP endpoint relays through the server's in-process channel.
  auto on_listening = [&](grpc::Server* server, int) {
    if (flags.Get("http-listen").empty()) return true;
    auto started = OpenAiHttpServer::Start(flags.Get("http-listen"), server->InProcessChannel(grpc::ChannelArguments()),
                                           variant);
    if (!started.ok()) {
      std::fprintf(stderr, "qwen3-tts-gateway: %s\n", std::string(started.status().message()).c_str());
      return false;
    }
    http = std::move(*started);
    std::printf("qwen3-tts-gateway http on port %d\n", http->port());
    return true;
  };
  return RunServer(options, load, on_listening);
}
