// gRPC shell of the talker stage (qwen3tts.v1.Talker) around common/talker.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>

#include "common/codec/xvector_encoder.h"
#include "common/talker/talker_generator.h"
#include "qwen3tts/v1/talker.grpc.pb.h"

namespace qwen3tts {

class TalkerService final : public v1::Talker::Service {
 public:
  TalkerService(ModelInfo info, std::shared_ptr<const TalkerModel> model, std::shared_ptr<const XVectorEncoder> xvector);

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status GenerateStreamingText(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::GenerateResponse, v1::GenerateStreamingTextRequest>* stream) override;
  grpc::Status EmbedSpeaker(grpc::ServerContext* context, const v1::EmbedSpeakerRequest* request,
                            v1::EmbedSpeakerResponse* response) override;
  grpc::Status GetTalkerInfo(grpc::ServerContext* context, const v1::GetTalkerInfoRequest* request,
                             v1::TalkerInfo* response) override;

 private:
  // Runs a started sequence to the end, writing each frame; `lock` guards the sequence when text
  // is appended from another thread (null: no concurrency).
  template <typename Writer>
  grpc::Status StreamFrames(grpc::ServerContext* context, TalkerSequence* sequence, Writer* writer,
                            std::mutex* mu, std::condition_variable* text_arrived, const bool* reader_done);

  ModelInfo info_;
  std::shared_ptr<const TalkerModel> model_;
  std::shared_ptr<const XVectorEncoder> xvector_;  // Base models only
};

}  // namespace qwen3tts
