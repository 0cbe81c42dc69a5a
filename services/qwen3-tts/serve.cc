#include "services/qwen3-tts/serve.h"

#include <ATen/Parallel.h>
#include <cstdio>

#include "common/rpc/grpc_util.h"
#include "common/util/file_util.h"
#include "services/gateway/gateway_service.h"
#include "services/gateway/openai_http.h"
#include "services/talker/talker_service.h"
#include "services/vocoder/vocoder_service.h"

namespace qwen3tts {
namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "qwen3-tts serve: %s\n", std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int Serve(const std::string& model_dir, const std::string& listen, const std::string& dtype, int threads,
          const std::string& voice_dir, const std::string& http_listen) {
  if (threads > 0) at::set_num_threads(threads);
  auto info = LoadModelInfo(model_dir);
  if (!info.ok()) return Fail(info.status());
  auto tokenizer = TextTokenizer::LoadFromDir(model_dir);
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  auto ckpt = Checkpoint::Open(model_dir);
  if (!ckpt.ok()) return Fail(ckpt.status());
  auto talker = TalkerModel::Load(*ckpt, info->config, dtype == "bfloat16" ? at::kBFloat16 : at::kFloat);
  if (!talker.ok()) return Fail(talker.status());
  std::shared_ptr<const XVectorEncoder> xvector;
  std::shared_ptr<const SpeechEncoder> encoder;
  const std::string st_dir = JoinPath(model_dir, "speech_tokenizer");
  auto decoder = CodecDecoder::Load(st_dir);
  if (!decoder.ok()) return Fail(decoder.status());
  if (info->config.variant == ModelVariant::kBase) {
    if (!info->config.speaker_encoder.has_value()) return Fail(absl::InvalidArgumentError("Base model without speaker_encoder_config"));
    auto x = XVectorEncoder::Load(*ckpt, *info->config.speaker_encoder);
    if (!x.ok()) return Fail(x.status());
    xvector = *x;
    auto st_ckpt = Checkpoint::Open(st_dir);
    if (!st_ckpt.ok()) return Fail(st_ckpt.status());
    auto e = SpeechEncoder::Load(*st_ckpt, *info->speech_tokenizer);
    if (!e.ok()) return Fail(e.status());
    encoder = *e;
  }
  std::unique_ptr<VoiceStore> voices;
  if (info->config.variant == ModelVariant::kBase) {
    auto store = VoiceStore::Open(voice_dir);
    if (!store.ok()) return Fail(store.status());
    voices = std::move(*store);
  }
  TalkerService talker_service(*info, *talker, xvector);
  VocoderService vocoder_service(*decoder, encoder);

  // The gateway needs a channel to the very server it is registered on, which exists only once
  // the server is built: register a forwarder now and point it at the gateway when listening.
  std::unique_ptr<GatewayService> gateway;
  GatewayService* gateway_ptr = nullptr;
  struct Forwarder final : public v1::TextToSpeech::CallbackService {
    GatewayService** target;
    grpc::ServerWriteReactor<v1::SynthesizeResponse>* Synthesize(grpc::CallbackServerContext* c,
                                                                 const v1::SynthesizeRequest* r) override {
      return (*target)->Synthesize(c, r);
    }
    grpc::ServerBidiReactor<v1::StreamingSynthesizeRequest, v1::SynthesizeResponse>* StreamingSynthesize(
        grpc::CallbackServerContext* c) override {
      return (*target)->StreamingSynthesize(c);
    }
    grpc::ServerReadReactor<v1::CreateVoiceRequest>* CreateVoice(grpc::CallbackServerContext* c, v1::Voice* o) override {
      return (*target)->CreateVoice(c, o);
    }
    grpc::ServerUnaryReactor* ListVoices(grpc::CallbackServerContext* c, const v1::ListVoicesRequest* r,
                                         v1::ListVoicesResponse* o) override {
      return (*target)->ListVoices(c, r, o);
    }
    grpc::ServerUnaryReactor* GetVoice(grpc::CallbackServerContext* c, const v1::GetVoiceRequest* r, v1::Voice* o) override {
      return (*target)->GetVoice(c, r, o);
    }
    grpc::ServerUnaryReactor* DeleteVoice(grpc::CallbackServerContext* c, const v1::DeleteVoiceRequest* r,
                                          v1::DeleteVoiceResponse* o) override {
      return (*target)->DeleteVoice(c, r, o);
    }
    grpc::ServerUnaryReactor* ListSpeakers(grpc::CallbackServerContext* c, const v1::ListSpeakersRequest* r,
                                           v1::ListSpeakersResponse* o) override {
      return (*target)->ListSpeakers(c, r, o);
    }
    grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* c, const v1::GetModelInfoRequest* r,
                                           v1::ModelInfo* o) override {
      return (*target)->GetModelInfo(c, r, o);
    }
  } forwarder;
  forwarder.target = &gateway_ptr;
  std::unique_ptr<OpenAiHttpServer> http;
  auto on_listening = [&](grpc::Server* server, int port) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    std::shared_ptr<grpc::Channel> local = server->InProcessChannel(args);
    gateway = std::make_unique<GatewayService>(*info, *tokenizer, local, local, GatewayLimits{}, voices.get());
    gateway_ptr = gateway.get();
    if (!http_listen.empty()) {
      auto started = OpenAiHttpServer::Start(http_listen, "127.0.0.1:" + std::to_string(port), info->config.variant);
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
  return RunServer("qwen3-tts", listen, {&talker_service, &vocoder_service, &forwarder}, 10.0, on_listening);
}

}  // namespace qwen3tts
