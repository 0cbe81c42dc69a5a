// gRPC shell of the vocoder stage (qwen3tts.v1.Codec) around common/codec.
#pragma once

#include <chrono>
#include <memory>

#include "common/codec/decode_batcher.h"
#include "common/codec/decoder.h"
#include "common/codec/speech_encoder.h"
#include "common/metrics/metrics.h"
#include "common/rpc/admission.h"
#include "qwen3tts/v1/codec.grpc.pb.h"

namespace qwen3tts {

class VocoderService final : public v1::Codec::CallbackService {
 public:
  // compute_threads: intra-op threads of each decode / encode call (0: the process's), for a vocoder
  // that shares its process with other stages (`qwen3-tts serve`). gather_window: how long a decode
  // round may wait for the other open streams' calls (DecodeBatcher).
  VocoderService(std::shared_ptr<const CodecDecoder> decoder, std::shared_ptr<const SpeechEncoder> encoder,
                 StreamLimits limits = {}, int compute_threads = 0,
                 std::chrono::milliseconds gather_window = std::chrono::milliseconds(kDefaultDecodeGatherMillis));

  // Decodes (and encodes, when there is an encoder) a few frames before the stage reports SERVING.
  absl::Status WarmUp() const;

  grpc::ServerBidiReactor<v1::DecodeRequest, v1::DecodeResponse>* Decode(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Encode(grpc::CallbackServerContext* context, const v1::EncodeRequest* request,
                                   v1::EncodeResponse* response) override;

 private:
  template <typename Stream>
  grpc::Status DoDecode(grpc::ServerContextBase* context, Stream* stream);
  grpc::Status DoEncode(const v1::EncodeRequest* request, v1::EncodeResponse* response);

  std::shared_ptr<const CodecDecoder> decoder_;
  std::shared_ptr<const SpeechEncoder> encoder_;  // absent when the checkpoint has no encoder weights
  StageMetrics& metrics_;
  mutable AdmissionControl admission_;
  const int compute_threads_;
  // Every stream's decode calls run on its worker thread, the calls waiting at once together.
  mutable DecodeBatcher decode_batcher_;
};

}  // namespace qwen3tts
