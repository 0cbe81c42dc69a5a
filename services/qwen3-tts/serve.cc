#include "services/qwen3-tts/serve.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>

#include "common/metrics/metrics.h"
#include "common/rpc/grpc_util.h"
#include "common/rpc/reactors.h"
#include "common/util/file_util.h"
#include "services/common/stage_flags.h"
#include "services/gateway/gateway_service.h"
#include "services/gateway/openai_http.h"
#include "services/talker/talker_service.h"
#include "services/vocoder/vocoder_service.h"

namespace qwen3tts {
namespace {

// The gateway needs a channel to the very server it is registered on, which exists only once the
// server is built: the forwarder is registered at start and pointed at the gateway when listening.
struct Forwarder final : public v1::TextToSpeech::CallbackService {
  std::unique_ptr<GatewayService> owned;
  std::atomic<GatewayService*> gateway{nullptr};

  static grpc::Status NotReady() { return grpc::Status(grpc::StatusCode::UNAVAILABLE, "starting up; retry shortly"); }
  grpc::ServerUnaryReactor* Unready(grpc::CallbackServerContext* c) {
    grpc::ServerUnaryReactor* reactor = c->DefaultReactor();
    reactor->Finish(NotReady());
    return reactor;
  }

  grpc::ServerWriteReactor<v1::SynthesizeResponse>* Synthesize(grpc::CallbackServerContext* c,
                                                               const v1::SynthesizeRequest* r) override {
    if (GatewayService* g = gateway.load()) return g->Synthesize(c, r);
    return new BlockingWriteReactor<v1::SynthesizeResponse>([](auto*) { return NotReady(); });
  }
  grpc::ServerBidiReactor<v1::StreamingSynthesizeRequest, v1::SynthesizeResponse>* StreamingSynthesize(
      grpc::CallbackServerContext* c) override {
    if (GatewayService* g = gateway.load()) return g->StreamingSynthesize(c);
    return new BlockingBidiReactor<v1::StreamingSynthesizeRequest, v1::SynthesizeResponse>([](auto*) { return NotReady(); });
  }
  grpc::ServerReadReactor<v1::CreateVoiceRequest>* CreateVoice(grpc::CallbackServerContext* c, v1::Voice* o) override {
    if (GatewayService* g = gateway.load()) return g->CreateVoice(c, o);
    return new BlockingReadReactor<v1::CreateVoiceRequest>([](auto*) { return NotReady(); });
  }
  grpc::ServerUnaryReactor* ListVoices(grpc::CallbackServerContext* c, const v1::ListVoicesRequest* r,
                                       v1::ListVoicesResponse* o) override {
    GatewayService* g = gateway.load();
    return g != nullptr ? g->ListVoices(c, r, o) : Unready(c);
  }
  grpc::ServerUnaryReactor* GetVoice(grpc::CallbackServerContext* c, const v1::GetVoiceRequest* r, v1::Voice* o) override {
    GatewayService* g = gateway.load();
    return g != nullptr ? g->GetVoice(c, r, o) : Unready(c);
  }
  grpc::ServerUnaryReactor* DeleteVoice(grpc::CallbackServerContext* c, const v1::DeleteVoiceRequest* r,
                                        v1::DeleteVoiceResponse* o) override {
    GatewayService* g = gateway.load();
    return g != nullptr ? g->DeleteVoice(c, r, o) : Unready(c);
  }
  grpc::ServerUnaryReactor* ListSpeakers(grpc::CallbackServerContext* c, const v1::ListSpeakersRequest* r,
                                         v1::ListSpeakersResponse* o) override {
    GatewayService* g = gateway.load();
    return g != nullptr ? g->ListSpeakers(c, r, o) : Unready(c);
  }
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* c, const v1::GetModelInfoRequest* r,
                                         v1::ModelInfo* o) override {
    GatewayService* g = gateway.load();
    return g != nullptr ? g->GetModelInfo(c, r, o) : Unready(c);
  }
};

}  // namespace

int ServeMain(int argc, char** argv) {
  const std::vector<FlagSpec> specs = ServeFlagSpecs();
  Flags flags(argc, argv, specs);
  if (!ParseOrUsage(flags, "qwen3-tts serve", specs)) return 2;
  // The stages split the process's threads instead of each sizing its parallel regions to the
  // whole machine: the vocoder's decode worker gets `vocoder_threads`, the talker's generation thread
  // the rest (both all of them on a single core). On 2 cores, talker 2 + vocoder 1 threads made 3
  // busy threads, and a parallel region whose second thread lost its core waited for it: one
  // stream ran at 7.3 frames/s against 9.7 with 1 + 1 (int8, bench/RESULTS.md). A prefill, which
  // starts a request while its audio is not being decoded yet, takes every thread while no other
  // stream steps, and the threads the steps leave (at least 1) beside them.
  const int threads = ApplyThreads(flags);
  const int vocoder_threads = std::min<int>(threads, static_cast<int>(flags.GetInt("vocoder-threads")));
  const int talker_threads = flags.GetInt("talker-threads") > 0 ? static_cast<int>(flags.GetInt("talker-threads"))
                             : threads > vocoder_threads ? threads - vocoder_threads
                                                         : threads;
  const std::string dtype = flags.Get("dtype");
  SetBuildInfo("all", dtype, threads);
  const std::string model_dir = flags.Get("model-dir");
  const StreamLimits limits = StageStreamLimits(flags);
  // Filled by `load`, used by the gateway once the server exists.
  absl::StatusOr<ModelInfo> info = absl::UnknownError("not loaded");
  std::shared_ptr<const TextTokenizer> tokenizer;
  std::unique_ptr<VoiceStore> voices;
  std::vector<std::string> api_keys;
  auto forwarder = std::make_shared<Forwarder>();
  std::unique_ptr<OpenAiHttpServer> http;
  auto load = [&]() -> absl::StatusOr<ServiceList> {
  info = LoadModelInfo(model_dir);
  if (!info.ok()) return info.status();
  auto loaded_tokenizer = TextTokenizer::LoadFromDir(model_dir);
  if (!loaded_tokenizer.ok()) return loaded_tokenizer.status();
  tokenizer = *loaded_tokenizer;
  auto ckpt = Checkpoint::Open(model_dir);
  if (!ckpt.ok()) return ckpt.status();
  absl::StatusOr<WeightPrecision> precision = ParseWeightPrecision(dtype);
  if (!precision.ok()) return precision.status();
  auto talker = TalkerModel::Load(*ckpt, info->config, *precision);
  if (!talker.ok()) return talker.status();
  ApplyPromptCache(flags, **talker);
  std::shared_ptr<const XVectorEncoder> xvector;
  std::shared_ptr<const SpeechEncoder> encoder;
  const std::string st_dir = JoinPath(model_dir, "speech_tokenizer");
  absl::StatusOr<WeightPrecision> vocoder_precision = ParseWeightPrecision(flags.Get("vocoder-dtype"));
  if (!vocoder_precision.ok()) return vocoder_precision.status();
  absl::StatusOr<WeightPrecision> conv_precision = ParseWeightPrecision(flags.Get("vocoder-conv-dtype"));
  if (!conv_precision.ok()) return conv_precision.status();
  auto decoder = CodecDecoder::Load(st_dir, *vocoder_precision, *conv_precision);
  if (!decoder.ok()) return decoder.status();
  if (info->config.variant == ModelVariant::kBase) {
    if (!info->config.speaker_encoder.has_value()) return absl::InvalidArgumentError("Base model without speaker_encoder_config");
    auto x = XVectorEncoder::Load(*ckpt, *info->config.speaker_encoder);
    if (!x.ok()) return x.status();
    xvector = *x;
    auto st_ckpt = Checkpoint::Open(st_dir);
    if (!st_ckpt.ok()) return st_ckpt.status();
    auto e = SpeechEncoder::Load(*st_ckpt, *info->speech_tokenizer);
    if (!e.ok()) return e.status();
    encoder = *e;
    auto store = VoiceStore::Open(flags.Get("voice-dir"));
    if (!store.ok()) return store.status();
    voices = std::move(*store);
  }
  if (!flags.Get("api-keys-file").empty()) {
    auto keys = LoadApiKeys(flags.Get("api-keys-file"));
    if (!keys.ok()) return keys.status();
    api_keys = std::move(*keys);
  }
    auto talker_service = std::make_shared<TalkerService>(*info, *talker, xvector, limits, talker_threads, threads,
                                                          flags.GetBool("lone-stream-all-threads"));
    auto vocoder_service = std::make_shared<VocoderService>(
        *decoder, encoder, limits, vocoder_threads, std::chrono::milliseconds(flags.GetInt("vocoder-gather-ms")));
    absl::Status warm = talker_service->WarmUp();
    if (warm.ok()) warm = vocoder_service->WarmUp();
    if (!warm.ok()) return warm;
    return ServiceList{talker_service, vocoder_service, forwarder};
  };

  auto on_listening = [&](grpc::Server* server, int) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    std::shared_ptr<grpc::Channel> local = server->InProcessChannel(args);
    GatewayLimits gateway_limits;
    gateway_limits.streams = limits;
    forwarder->owned = std::make_unique<GatewayService>(*info, tokenizer, local, local, gateway_limits, voices.get(),
                                                        api_keys);
    forwarder->gateway.store(forwarder->owned.get());
    if (!flags.Get("http-listen").empty()) {
      auto started = OpenAiHttpServer::Start(flags.Get("http-listen"), local, info->config.variant);
      if (!started.ok()) {
        std::fprintf(stderr, "qwen3-tts serve: %s\n", std::string(started.status().message()).c_str());
        return false;
      }
      http = std::move(*started);
      std::printf("qwen3-tts http on port %d\n", http->port());
    }
    std::printf("qwen3-tts: %s %s\n", info->config.SizeLabel().c_str(), ModelVariantName(info->config.variant));
    return true;
  };
  return RunServer(StageServerOptions(flags, "qwen3-tts", "all"), load, on_listening);
}

}  // namespace qwen3tts
