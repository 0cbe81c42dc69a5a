// gRPC shell of the public API (qwen3tts.v1.TextToSpeech): maps a voice request to a talker
// request, pipes the talker's frames into the vocoder as they arrive and streams audio back.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "common/metrics/metrics.h"
#include "common/rpc/admission.h"
#include "common/tensor/model_config.h"
#include "common/text/tokenizer.h"
#include "common/voice/voice_store.h"
#include "qwen3tts/v1/codec.grpc.pb.h"
#include "qwen3tts/v1/talker.grpc.pb.h"
#include "qwen3tts/v1/tts.grpc.pb.h"

namespace qwen3tts {

struct GatewayLimits {
  int64_t max_text_chars = 5000;
  double max_reference_seconds = 60.0;
  double max_duration_seconds = 600.0;
  int64_t max_upload_bytes = 32ll << 20;  // enforced while CreateVoice streams, not after
  StreamLimits streams;                    // concurrent Synthesize/StreamingSynthesize streams
};

// Reads API keys from a file: one key per line; blank lines and lines starting with '#' are
// skipped. An empty result is an error (a typo must not silently open the gateway).
absl::StatusOr<std::vector<std::string>> LoadApiKeys(const std::string& path);

class GatewayService final : public v1::TextToSpeech::CallbackService {
 public:
  GatewayService(ModelInfo info, std::shared_ptr<const TextTokenizer> tokenizer,
                 std::shared_ptr<grpc::Channel> talker, std::shared_ptr<grpc::Channel> vocoder, GatewayLimits limits,
                 VoiceStore* voices = nullptr, std::vector<std::string> api_keys = {});

  grpc::ServerWriteReactor<v1::SynthesizeResponse>* Synthesize(grpc::CallbackServerContext* context,
                                                               const v1::SynthesizeRequest* request) override;
  grpc::ServerBidiReactor<v1::StreamingSynthesizeRequest, v1::SynthesizeResponse>* StreamingSynthesize(
      grpc::CallbackServerContext* context) override;
  grpc::ServerReadReactor<v1::CreateVoiceRequest>* CreateVoice(grpc::CallbackServerContext* context,
                                                               v1::Voice* response) override;
  grpc::ServerUnaryReactor* ListVoices(grpc::CallbackServerContext* context, const v1::ListVoicesRequest* request,
                                       v1::ListVoicesResponse* response) override;
  grpc::ServerUnaryReactor* GetVoice(grpc::CallbackServerContext* context, const v1::GetVoiceRequest* request,
                                     v1::Voice* response) override;
  grpc::ServerUnaryReactor* DeleteVoice(grpc::CallbackServerContext* context, const v1::DeleteVoiceRequest* request,
                                        v1::DeleteVoiceResponse* response) override;
  grpc::ServerUnaryReactor* ListSpeakers(grpc::CallbackServerContext* context, const v1::ListSpeakersRequest* request,
                                         v1::ListSpeakersResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context, const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;

 private:
  // Handler bodies; streaming ones run on the reactor's worker thread (common/rpc/reactors.h).
  template <typename Writer>
  grpc::Status DoSynthesize(grpc::ServerContextBase* context, const v1::SynthesizeRequest* request, Writer* writer);
  template <typename Stream>
  grpc::Status DoStreamingSynthesize(grpc::ServerContextBase* context, Stream* stream);
  template <typename Stream>
  grpc::Status RunStreamingSynthesis(grpc::ServerContextBase* context, Stream* stream, const std::string& request_id,
                                     v1::SynthesisSummary* summary, std::string* voice_kind);
  template <typename Reader>
  grpc::Status DoCreateVoice(grpc::ServerContextBase* context, Reader* reader, v1::Voice* response);
  grpc::Status DoListVoices(v1::ListVoicesResponse* response);
  grpc::Status DoGetVoice(const v1::GetVoiceRequest* request, v1::Voice* response);
  grpc::Status DoDeleteVoice(const v1::DeleteVoiceRequest* request);

  // Voice, language and text -> a talker request (reference clips are embedded and encoded
  // through the talker and vocoder stages).
  grpc::Status BuildTalkerRequest(grpc::ServerContextBase* context, const v1::SynthesizeRequest& request,
                                  v1::GenerateRequest* out);

  // Reference clip -> speaker embedding (talker stage) and, unless x_vector_only, codes (vocoder
  // stage). `field` names the request field in errors.
  grpc::Status EmbedReference(grpc::ServerContextBase* context, const std::string& audio_file, bool x_vector_only,
                              const std::string& field, StoredVoice* out);
  grpc::Status CheckVoices() const;
  // "use config.voice.speaker: aiden, ..." — the voice kinds this model takes, for error messages.
  std::string VoiceKindsFor(ModelVariant variant) const;
  // UNAUTHENTICATED unless API keys are off or the call carries `authorization: Bearer <key>`
  // with a configured key (compared in constant time).
  grpc::Status Authorize(grpc::ServerContextBase* context) const;
  // Metrics and the structured log line of a finished synthesis stream.
  void FinishSynthesis(const char* method, const std::string& request_id, const std::string& voice_kind,
                       const v1::SynthesisSummary& summary, const grpc::Status& status) const;
  // Checks the audio config; sets `encoding`.
  grpc::Status CheckAudioConfig(const v1::AudioConfig& audio, v1::AudioEncoding* encoding) const;
  // Reads frames from the talker stream, decodes them through the vocoder as they arrive and
  // writes audio to the client: metadata first, then one audio chunk per vocoder request (one
  // frame, or every frame that arrived while the vocoder was busy, up to 16), then the summary.
  template <typename FrameStream, typename ClientWriter>
  grpc::Status Pump(grpc::ServerContextBase* context, const std::string& request_id, const v1::GenerateRequest& generate,
                    const v1::AudioConfig& audio, FrameStream* frames, grpc::ClientContext* talker_context,
                    ClientWriter* writer, v1::SynthesisSummary* summary);

  ModelInfo info_;
  std::shared_ptr<const TextTokenizer> tokenizer_;
  std::unique_ptr<v1::Talker::Stub> talker_;
  std::unique_ptr<v1::Codec::Stub> vocoder_;
  GatewayLimits limits_;
  VoiceStore* voices_;
  std::vector<std::string> api_keys_;
  StageMetrics& metrics_;
  mutable AdmissionControl admission_;
};

}  // namespace qwen3tts
