#include "services/talker/talker_service.h"

#include <ATen/ATen.h>

#include "common/audio/audio_file.h"
#include "common/rpc/grpc_util.h"
#include "services/common/proto_convert.h"

namespace qwen3tts {

TalkerService::TalkerService(ModelInfo info, std::shared_ptr<const TalkerModel> model,
                             std::shared_ptr<const XVectorEncoder> xvector)
    : info_(std::move(info)), model_(std::move(model)), xvector_(std::move(xvector)) {}

grpc::Status TalkerService::Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                                     grpc::ServerWriter<v1::GenerateResponse>* writer) {
  const bool base = info_.config.variant == ModelVariant::kBase;
  absl::StatusOr<TalkerRequest> talker_request =
      ToTalkerRequest(*request, DefaultGenerationOptions(info_.generation), /*default_non_streaming_mode=*/!base);
  if (!talker_request.ok()) return ToGrpcStatus(talker_request.status());
  absl::StatusOr<std::unique_ptr<TalkerSequence>> sequence = TalkerSequence::Start(model_, *talker_request);
  if (!sequence.ok()) return ToGrpcStatus(sequence.status());
  while ((*sequence)->state() == TalkerSequence::State::kRunning) {
    // A cancelled or expired client stops generation within one frame.
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
    absl::StatusOr<std::optional<std::vector<int64_t>>> frame = (*sequence)->Step();
    if (!frame.ok()) return ToGrpcStatus(frame.status());
    if (!frame->has_value()) continue;
    v1::GenerateResponse response;
    AppendFrame(**frame, response.add_frames());
    if (!writer->Write(response)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }
  v1::GenerateResponse last;
  last.mutable_summary()->set_frames((*sequence)->frames_produced());
  last.mutable_summary()->set_finished_by_eos((*sequence)->eos_hit());
  for (const std::string& w : (*sequence)->warnings()) last.mutable_summary()->add_warnings(w);
  writer->Write(last);
  return grpc::Status::OK;
}

grpc::Status TalkerService::EmbedSpeaker(grpc::ServerContext* context, const v1::EmbedSpeakerRequest* request,
                                         v1::EmbedSpeakerResponse* response) {
  if (xvector_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        std::string("EmbedSpeaker needs a Base model; this talker serves ") +
                            ModelVariantName(info_.config.variant));
  }
  absl::StatusOr<std::vector<float>> samples = BytesToFloats(request->pcm_f32le(), "pcm_f32le");
  if (!samples.ok()) return ToGrpcStatus(samples.status());
  const int64_t rate = request->sample_rate_hertz() == 0 ? 24000 : request->sample_rate_hertz();
  absl::StatusOr<std::vector<float>> resampled = Resample(*samples, rate, xvector_->config().sample_rate);
  if (!resampled.ok()) return ToGrpcStatus(resampled.status());
  at::Tensor wav = at::from_blob(resampled->data(), {static_cast<int64_t>(resampled->size())}, at::kFloat).clone();
  absl::StatusOr<at::Tensor> embedding = xvector_->EmbedAudio(wav);
  if (!embedding.ok()) return ToGrpcStatus(embedding.status());
  at::Tensor e = embedding->contiguous();
  for (int64_t i = 0; i < e.numel(); ++i) response->add_embedding(e[i].item<float>());
  return grpc::Status::OK;
}

grpc::Status TalkerService::GetTalkerInfo(grpc::ServerContext*, const v1::GetTalkerInfoRequest*,
                                          v1::TalkerInfo* response) {
  response->set_variant(ModelVariantName(info_.config.variant));
  response->set_size(info_.config.SizeLabel());
  for (const auto& [name, id] : info_.config.talker.spk_id) response->add_speakers(name);
  for (const auto& [name, id] : info_.config.talker.codec_language_id) response->add_languages(name);
  response->set_hidden_size(static_cast<int32_t>(info_.config.talker.hidden_size));
  return grpc::Status::OK;
}

}  // namespace qwen3tts
