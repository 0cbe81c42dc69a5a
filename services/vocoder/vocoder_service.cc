#include "services/vocoder/vocoder_service.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>

#include "absl/strings/str_cat.h"

#include "common/audio/audio_file.h"
#include "common/nn/parallel.h"
#include "common/rpc/grpc_util.h"
#include "common/rpc/reactors.h"
#include "services/common/proto_convert.h"

namespace qwen3tts {

namespace {

absl::Status WithField(const std::string& field, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(field, ": ", status.message()));
}

}  // namespace

VocoderService::VocoderService(std::shared_ptr<const CodecDecoder> decoder, std::shared_ptr<const SpeechEncoder> encoder,
                               StreamLimits limits, int compute_threads, std::chrono::milliseconds gather_window)
    : decoder_(std::move(decoder)),
      encoder_(std::move(encoder)),
      metrics_(StageMetrics::For("vocoder")),
      admission_(limits.max_streams, limits.max_queue, &metrics_),
      compute_threads_(compute_threads),
      decode_batcher_(
          compute_threads, [this](int calls) { metrics_.batch_size.Observe(calls); }, gather_window) {}

absl::Status VocoderService::WarmUp() const {
  DecoderSession session(decoder_);
  // Through the worker, which then has its buffers.
  absl::StatusOr<at::Tensor> audio =
      decode_batcher_.Push(&session, at::zeros({2, decoder_->num_quantizers()}, at::kLong));
  if (!audio.ok()) return absl::Status(audio.status().code(), absl::StrCat("warm-up: ", audio.status().message()));
  if (encoder_ != nullptr) {
    nn::UseThreadsOnThisThread(compute_threads_);
    absl::StatusOr<at::Tensor> codes = encoder_->Encode(at::zeros({decoder_->sample_rate() / 4}));
    if (!codes.ok()) return absl::Status(codes.status().code(), absl::StrCat("warm-up: ", codes.status().message()));
  }
  return absl::OkStatus();
}

grpc::ServerBidiReactor<v1::DecodeRequest, v1::DecodeResponse>* VocoderService::Decode(grpc::CallbackServerContext* context) {
  return new BlockingBidiReactor<v1::DecodeRequest, v1::DecodeResponse>(
      [this, context](auto* stream) { return DoDecode(context, stream); });
}

template <typename Stream>
grpc::Status VocoderService::DoDecode(grpc::ServerContextBase* context, Stream* stream) {
  absl::StatusOr<AdmissionControl::Slot> slot = admission_.Acquire([context] { return context->IsCancelled(); });
  if (!slot.ok()) return ToGrpcStatus(slot.status());
  DecoderSession session(decoder_);
  // Open for the gather window while this stream's calls come (not before admission: a queued
  // stream sends none).
  DecodeBatcher::Stream open_stream(decode_batcher_);
  // Decoded on the batcher's worker with the other streams' calls waiting then. A cancelled call
  // stops within a few frames (DecoderSession::Push), even in the middle of a 16-frame chunk.
  auto decode = [&](const at::Tensor& codes) {
    return decode_batcher_.Push(&session, codes, [context] { return context->IsCancelled(); });
  };
  v1::DecodeRequest request;
  bool decoded_any = false;
  while (stream->Read(&request)) {
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
    if (request.prime_frames_size() > 0) {
      if (decoded_any) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "prime_frames are only allowed before any frames");
      }
      absl::StatusOr<at::Tensor> prime = FramesToTensor(request.prime_frames(), "prime_frames");
      if (!prime.ok()) return ToGrpcStatus(prime.status());
      absl::StatusOr<at::Tensor> discarded = decode(*prime);
      if (absl::IsCancelled(discarded.status())) return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
      if (!discarded.ok()) return ToGrpcStatus(WithField("prime_frames", discarded.status()));
    }
    if (request.frames_size() == 0) continue;
    absl::StatusOr<at::Tensor> codes = FramesToTensor(request.frames(), "frames");
    if (!codes.ok()) return ToGrpcStatus(codes.status());
    const auto decode_start = std::chrono::steady_clock::now();
    absl::StatusOr<at::Tensor> audio = decode(*codes);
    if (absl::IsCancelled(audio.status())) return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
    if (!audio.ok()) return ToGrpcStatus(WithField("frames", audio.status()));
    metrics_.decode_seconds.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - decode_start).count());
    metrics_.frames_total.Increment(static_cast<double>(codes->size(0)));
    decoded_any = true;
    at::Tensor pcm = audio->contiguous();
    v1::DecodeResponse response;
    response.set_pcm_f32le(FloatsToBytes(pcm.data_ptr<float>(), static_cast<size_t>(pcm.numel())));
    response.set_frames_decoded(session.frames_decoded());
    response.set_sample_rate_hertz(static_cast<int32_t>(decoder_->sample_rate()));
    if (!stream->Write(response)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* VocoderService::Encode(grpc::CallbackServerContext*, const v1::EncodeRequest* request,
                                                 v1::EncodeResponse* response) {
  return new BlockingUnaryReactor([this, request, response] { return DoEncode(request, response); });
}

grpc::Status VocoderService::DoEncode(const v1::EncodeRequest* request, v1::EncodeResponse* response) {
  nn::UseThreadsOnThisThread(compute_threads_);
  if (encoder_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "this vocoder has no speech-tokenizer encoder weights");
  }
  std::vector<float> samples;
  if (!request->audio_file().empty()) {
    absl::StatusOr<MonoAudio> audio = DecodeAudio(request->audio_file(), 24000);
    if (!audio.ok()) return ToGrpcStatus(absl::Status(audio.status().code(), "audio_file: " + std::string(audio.status().message())));
    samples = std::move(audio->samples);
  } else {
    absl::StatusOr<std::vector<float>> pcm = BytesToFloats(request->pcm_f32le(), "pcm_f32le");
    if (!pcm.ok()) return ToGrpcStatus(pcm.status());
    absl::StatusOr<std::vector<float>> resampled =
        ResampleRequestAudio(*pcm, request->sample_rate_hertz(), 24000, "sample_rate_hertz");
    if (!resampled.ok()) return ToGrpcStatus(resampled.status());
    samples = std::move(*resampled);
  }
  at::Tensor wav = at::from_blob(samples.data(), {static_cast<int64_t>(samples.size())}, at::kFloat).clone();
  absl::StatusOr<at::Tensor> codes = encoder_->Encode(wav);
  if (!codes.ok()) return ToGrpcStatus(codes.status());
  TensorToFrames(*codes, response->mutable_frames());
  return grpc::Status::OK;
}

}  // namespace qwen3tts
