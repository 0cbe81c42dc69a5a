// gRPC shell of the talker stage (qwen3tts.v1.Talker) around common/talker.
#pragma once

#include <chrono>
#include <memory>

#include "common/codec/xvector_encoder.h"
#include "common/metrics/metrics.h"
#include "common/rpc/admission.h"
#include "common/talker/talker_batcher.h"
#include "common/talker/talker_generator.h"
#include "qwen3tts/v1/talker.grpc.pb.h"

namespace qwen3tts {

class TalkerService final : public v1::Talker::CallbackService {
 public:
  // compute_threads / prefill_threads: intra-op threads of the batcher's steps and of a prefill
  // while no other stream steps (0: the process's), for a talker that shares its process with
  // other stages (`qwen3-tts serve`; TalkerBatcher, as lone_stream_all_threads).
  TalkerService(ModelInfo info, std::shared_ptr<const TalkerModel> model, std::shared_ptr<const XVectorEncoder> xvector,
                StreamLimits limits = {}, int compute_threads = 0, int prefill_threads = 0,
                bool lone_stream_all_threads = false);

  // Runs a tiny generation (and an x-vector on a second of silence for Base models) so that the
  // first real request does not pay for lazy initialisation; start-up calls it before SERVING.
  absl::Status WarmUp() const;

  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(grpc::CallbackServerContext* context,
                                                           const v1::GenerateRequest* request) override;
  grpc::ServerBidiReactor<v1::GenerateStreamingTextRequest, v1::GenerateResponse>* GenerateStreamingText(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* EmbedSpeaker(grpc::CallbackServerContext* context, const v1::EmbedSpeakerRequest* request,
                                         v1::EmbedSpeakerResponse* response) override;
  grpc::ServerUnaryReactor* GetTalkerInfo(grpc::CallbackServerContext* context, const v1::GetTalkerInfoRequest* request,
                                          v1::TalkerInfo* response) override;

 private:
  // Handler bodies; they run on the reactor's worker thread (common/rpc/reactors.h).
  template <typename Writer>
  grpc::Status DoGenerate(grpc::ServerContextBase* context, const v1::GenerateRequest* request, Writer* writer);
  template <typename Stream>
  grpc::Status DoGenerateStreamingText(grpc::ServerContextBase* context, Stream* stream);
  template <typename Stream>
  grpc::Status RunStreamingText(grpc::ServerContextBase* context, Stream* stream,
                                std::chrono::steady_clock::time_point start, double* first_frame_seconds,
                                std::shared_ptr<TalkerBatcher::Stream>* batched_out);
  grpc::Status DoEmbedSpeaker(const v1::EmbedSpeakerRequest* request, v1::EmbedSpeakerResponse* response);

  // Writes the frames of a sequence in the batch as they come, then the summary; on any failure the
  // sequence leaves the batch before this returns. `first_frame_seconds` gets the time to the first frame.
  template <typename Writer>
  grpc::Status StreamFrames(grpc::ServerContextBase* context, TalkerBatcher::Stream* batched, Writer* writer,
                            std::chrono::steady_clock::time_point start, double* first_frame_seconds);
  // Per-request metrics and the structured log line (`batched` may be null: failed before starting).
  // The batcher's start of a request: the prompt's prefill, counted in qwen3tts_prompt_rows_total.
  TalkerBatcher::Starter Starter(TalkerRequest request) const;
  void Finish(grpc::ServerContextBase* context, const char* method, const TalkerBatcher::Stream* batched,
              std::chrono::steady_clock::time_point start, double first_frame_seconds,
              const grpc::Status& status) const;

  ModelInfo info_;
  std::shared_ptr<const TalkerModel> model_;
  std::shared_ptr<const XVectorEncoder> xvector_;  // Base models only
  StageMetrics& metrics_;
  mutable AdmissionControl admission_;
  // Every admitted stream is stepped together by one generation thread (continuous batching).
  // Declared last: its thread reports to metrics_ and must stop first.
  TalkerBatcher batcher_;
};

}  // namespace qwen3tts
