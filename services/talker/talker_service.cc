#include "services/talker/talker_service.h"

#include <ATen/ATen.h>

#include <chrono>
#include <thread>

#include "common/audio/audio_file.h"
#include "common/nn/parallel.h"
#include "common/rpc/grpc_util.h"
#include "common/rpc/reactors.h"
#include "absl/strings/str_cat.h"
#include "common/util/request_log.h"
#include "services/common/proto_convert.h"

namespace qwen3tts {

namespace {

constexpr double kFrameSeconds = 0.08;  // one 12.5 Hz codec frame

std::string RequestIdOf(grpc::ServerContextBase* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("x-request-id");
  return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

}  // namespace

TalkerService::TalkerService(ModelInfo info, std::shared_ptr<const TalkerModel> model,
                             std::shared_ptr<const XVectorEncoder> xvector, StreamLimits limits, int compute_threads,
                             int prefill_threads, bool lone_stream_all_threads)
    : info_(std::move(info)),
      model_(std::move(model)),
      xvector_(std::move(xvector)),
      metrics_(StageMetrics::For("talker")),
      admission_(limits.max_streams, limits.max_queue, &metrics_),
      // The batch holds every admitted stream (unlimited admission: a generous cap, the rest wait).
      batcher_(limits.max_streams > 0 ? limits.max_streams : 64, /*max_queued_frames=*/32,
               [this](const TalkerBatcher::StepStats& step) {
                 metrics_.batch_size.Observe(step.batch_size);
                 for (int i = 0; i < step.batch_size; ++i) {
                   metrics_.talker_frame_seconds.Observe(step.talker_seconds);
                   metrics_.code_predictor_frame_seconds.Observe(step.code_predictor_seconds);
                 }
               },
               compute_threads, prefill_threads, lone_stream_all_threads) {}

absl::Status TalkerService::WarmUp() const {
  const ModelConfig& config = info_.config;
  TalkerRequest request;
  // <|im_start|> stands in for every token: any in-vocabulary ids exercise the same kernels.
  request.input_ids.assign(3 + 1 + 5, config.im_start_token_id);
  if (config.variant == ModelVariant::kCustomVoice && !config.talker.spk_id.empty()) {
    request.speaker = config.talker.spk_id.begin()->first;
  }
  if (config.variant == ModelVariant::kBase) request.speaker_embedding = at::zeros({config.talker.hidden_size});
  request.options = DefaultGenerationOptions(info_.generation);
  request.options.talker.do_sample = request.options.code_predictor.do_sample = false;
  request.options.max_new_tokens = 3;
  request.options.min_new_tokens = 3;
  absl::StatusOr<at::Tensor> codes = GenerateCodes(model_, request);
  if (!codes.ok()) return absl::Status(codes.status().code(), absl::StrCat("warm-up: ", codes.status().message()));
  if (xvector_ != nullptr) {
    absl::StatusOr<at::Tensor> e = xvector_->EmbedAudio(at::zeros({xvector_->config().sample_rate}));
    if (!e.ok()) return absl::Status(e.status().code(), absl::StrCat("warm-up: ", e.status().message()));
  }
  return absl::OkStatus();
}

TalkerBatcher::Starter TalkerService::Starter(TalkerRequest request) const {
  using Clock = std::chrono::steady_clock;
  return [model = model_, metrics = &metrics_, r = std::move(request),
          submitted = Clock::now()]() -> absl::StatusOr<std::unique_ptr<TalkerSequence>> {
    const Clock::time_point begin = Clock::now();
    metrics->prefill_wait_seconds.Observe(std::chrono::duration<double>(begin - submitted).count());
    absl::StatusOr<std::unique_ptr<TalkerSequence>> sequence = TalkerSequence::Start(model, r);
    if (sequence.ok()) {
      metrics->prefill_seconds.Observe(std::chrono::duration<double>(Clock::now() - begin).count());
      const TalkerSequence& s = **sequence;
      metrics->prompt_rows_computed_total.Increment(static_cast<double>(s.prompt_rows() - s.prompt_rows_reused()));
      metrics->prompt_rows_cached_total.Increment(static_cast<double>(s.prompt_rows_reused()));
    }
    return sequence;
  };
}

void TalkerService::Finish(grpc::ServerContextBase* context, const char* method, const TalkerBatcher::Stream* batched,
                           std::chrono::steady_clock::time_point start, double first_frame_seconds,
                           const grpc::Status& status) const {
  const TalkerSequence* sequence = batched != nullptr && batched->done() ? batched->sequence() : nullptr;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t frames = sequence == nullptr ? 0 : sequence->frames_produced();
  const double rtf = frames > 0 ? seconds / (frames * kFrameSeconds) : 0.0;
  if (frames > 0) metrics_.real_time_factor.Observe(rtf);
  LogRequest({{"stage", "talker"},
              {"method", method},
              {"request_id", RequestIdOf(context)},
              {"frames", frames},
              {"eos", sequence != nullptr && sequence->eos_hit()},
              {"prompt_rows", sequence == nullptr ? 0 : sequence->prompt_rows()},
              {"prompt_rows_cached", sequence == nullptr ? 0 : sequence->prompt_rows_reused()},
              {"ttff_seconds", first_frame_seconds},
              {"seconds", seconds},
              {"rtf", rtf},
              {"status", status.ok() ? "OK" : std::to_string(static_cast<int>(status.error_code()))},
              {"message", status.error_message()}});
}

template <typename Writer>
grpc::Status TalkerService::StreamFrames(grpc::ServerContextBase* context, TalkerBatcher::Stream* batched,
                                         Writer* writer, std::chrono::steady_clock::time_point start,
                                         double* first_frame_seconds) {
  while (true) {
    // A cancelled or expired client leaves the batch at the next frame boundary.
    absl::StatusOr<std::optional<std::vector<int64_t>>> frame =
        batched->Next([context] { return context->IsCancelled(); });
    if (!frame.ok()) {
      if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
      return ToGrpcStatus(frame.status());
    }
    if (!frame->has_value()) break;
    metrics_.frames_total.Increment();
    if (*first_frame_seconds < 0) {
      *first_frame_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      metrics_.time_to_first_audio_seconds.Observe(*first_frame_seconds);
    }
    v1::GenerateResponse response;
    AppendFrame(**frame, response.add_frames());
    if (!writer->Write(response)) {
      batched->CancelAndWait();
      return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
  }
  const TalkerSequence& sequence = *batched->sequence();  // finished normally, so it started
  v1::GenerateResponse last;
  last.mutable_summary()->set_frames(sequence.frames_produced());
  last.mutable_summary()->set_finished_by_eos(sequence.eos_hit());
  for (const std::string& w : sequence.warnings()) last.mutable_summary()->add_warnings(w);
  writer->Write(last);
  return grpc::Status::OK;
}

grpc::ServerWriteReactor<v1::GenerateResponse>* TalkerService::Generate(grpc::CallbackServerContext* context,
                                                                        const v1::GenerateRequest* request) {
  return new BlockingWriteReactor<v1::GenerateResponse>(
      [this, context, request](auto* writer) { return DoGenerate(context, request, writer); });
}

template <typename Writer>
grpc::Status TalkerService::DoGenerate(grpc::ServerContextBase* context, const v1::GenerateRequest* request,
                                       Writer* writer) {
  const auto start = std::chrono::steady_clock::now();
  double first_frame_seconds = -1;
  std::shared_ptr<TalkerBatcher::Stream> batched;
  grpc::Status status = [&]() -> grpc::Status {
    const bool base = info_.config.variant == ModelVariant::kBase;
    absl::StatusOr<TalkerRequest> talker_request =
        ToTalkerRequest(*request, DefaultGenerationOptions(info_.generation), /*default_non_streaming_mode=*/!base);
    if (!talker_request.ok()) return ToGrpcStatus(talker_request.status());
    absl::StatusOr<AdmissionControl::Slot> slot = admission_.Acquire([context] { return context->IsCancelled(); });
    if (!slot.ok()) return ToGrpcStatus(slot.status());
    // The prefill runs on the batcher's prefill thread (TalkerBatcher::Submit(Starter)).
    batched = batcher_.Submit(Starter(*talker_request));
    return StreamFrames(context, batched.get(), writer, start, &first_frame_seconds);
  }();
  Finish(context, "Generate", batched.get(), start, first_frame_seconds, status);
  return status;
}

grpc::ServerBidiReactor<v1::GenerateStreamingTextRequest, v1::GenerateResponse>* TalkerService::GenerateStreamingText(
    grpc::CallbackServerContext* context) {
  return new BlockingBidiReactor<v1::GenerateStreamingTextRequest, v1::GenerateResponse>(
      [this, context](auto* stream) { return DoGenerateStreamingText(context, stream); });
}

template <typename Stream>
grpc::Status TalkerService::DoGenerateStreamingText(grpc::ServerContextBase* context, Stream* stream) {
  const auto start = std::chrono::steady_clock::now();
  double first_frame_seconds = -1;
  std::shared_ptr<TalkerBatcher::Stream> batched;
  grpc::Status status = RunStreamingText(context, stream, start, &first_frame_seconds, &batched);
  Finish(context, "GenerateStreamingText", batched.get(), start, first_frame_seconds, status);
  return status;
}

template <typename Stream>
grpc::Status TalkerService::RunStreamingText(grpc::ServerContextBase* context, Stream* stream,
                                             std::chrono::steady_clock::time_point start, double* first_frame_seconds,
                                             std::shared_ptr<TalkerBatcher::Stream>* batched_out) {
  v1::GenerateStreamingTextRequest first;
  if (!stream->Read(&first)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request message");
  if (!first.has_request()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be `request`, later ones `text`");
  }
  // Streaming text needs the streaming prompt layout: one text token fed per frame.
  v1::GenerateRequest request = first.request();
  request.set_non_streaming_mode(false);
  absl::StatusOr<TalkerRequest> talker_request = ToTalkerRequest(request, DefaultGenerationOptions(info_.generation), false);
  if (!talker_request.ok()) return ToGrpcStatus(talker_request.status());
  talker_request->text_input_open = true;
  absl::StatusOr<AdmissionControl::Slot> slot = admission_.Acquire([context] { return context->IsCancelled(); });
  if (!slot.ok()) return ToGrpcStatus(slot.status());
  *batched_out = batcher_.Submit(Starter(*talker_request));
  std::shared_ptr<TalkerBatcher::Stream> batched = *batched_out;
  absl::Status reader_status;  // written by the reader, read after join
  // Text arrives on its own thread and is handed to the sequence between batch steps, while frames
  // are written on this one.
  std::thread reader([&reader_status, batched, stream] {
    v1::GenerateStreamingTextRequest message;
    while (stream->Read(&message)) {
      if (!message.has_text()) {
        reader_status = absl::InvalidArgumentError("after the first message only `text` messages are allowed");
        break;
      }
      reader_status = batched->AppendText(std::vector<int64_t>(message.text().ids().begin(), message.text().ids().end()));
      if (!reader_status.ok()) break;
    }
    if (reader_status.ok()) {
      batched->CloseText();  // half-close: the text is complete
    } else {
      batched->Cancel();
    }
  });
  grpc::Status status = StreamFrames(context, batched.get(), stream, start, first_frame_seconds);
  if (!status.ok()) context->TryCancel();  // unblocks the reader
  reader.join();
  if (!batched->done()) batched->CancelAndWait();
  if (!reader_status.ok()) return ToGrpcStatus(reader_status);
  return status;
}

grpc::ServerUnaryReactor* TalkerService::EmbedSpeaker(grpc::CallbackServerContext*, const v1::EmbedSpeakerRequest* request,
                                                      v1::EmbedSpeakerResponse* response) {
  return new BlockingUnaryReactor([this, request, response] { return DoEmbedSpeaker(request, response); });
}

grpc::Status TalkerService::DoEmbedSpeaker(const v1::EmbedSpeakerRequest* request, v1::EmbedSpeakerResponse* response) {
  if (xvector_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        std::string("EmbedSpeaker needs a Base model; this talker serves ") +
                            ModelVariantName(info_.config.variant));
  }
  absl::StatusOr<std::vector<float>> samples = BytesToFloats(request->pcm_f32le(), "pcm_f32le");
  if (!samples.ok()) return ToGrpcStatus(samples.status());
  nn::UseThreadsOnThisThread(batcher_.prefill_threads());  // like a prefill, a one-off computation
  absl::StatusOr<std::vector<float>> resampled = ResampleRequestAudio(
      *samples, request->sample_rate_hertz(), xvector_->config().sample_rate, "sample_rate_hertz");
  if (!resampled.ok()) return ToGrpcStatus(resampled.status());
  at::Tensor wav = at::from_blob(resampled->data(), {static_cast<int64_t>(resampled->size())}, at::kFloat).clone();
  absl::StatusOr<at::Tensor> embedding = xvector_->EmbedAudio(wav);
  if (!embedding.ok()) return ToGrpcStatus(embedding.status());
  at::Tensor e = embedding->contiguous();
  for (int64_t i = 0; i < e.numel(); ++i) response->add_embedding(e[i].item<float>());
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* TalkerService::GetTalkerInfo(grpc::CallbackServerContext* context, const v1::GetTalkerInfoRequest*,
                                                       v1::TalkerInfo* response) {
  response->set_variant(ModelVariantName(info_.config.variant));
  response->set_size(info_.config.SizeLabel());
  for (const auto& [name, id] : info_.config.talker.spk_id) response->add_speakers(name);
  for (const auto& [name, id] : info_.config.talker.codec_language_id) response->add_languages(name);
  response->set_hidden_size(static_cast<int32_t>(info_.config.talker.hidden_size));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace qwen3tts
