// Conversions between the wire messages and the engine types, shared by the service shells.
#pragma once

#include <ATen/Tensor.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/talker/talker_generator.h"
#include "qwen3tts/v1/codec.pb.h"
#include "qwen3tts/v1/talker.pb.h"

namespace qwen3tts {

// frames -> int64 [n, codebooks]; INVALID_ARGUMENT naming `field` when frames have unequal or
// zero code counts.
absl::StatusOr<at::Tensor> FramesToTensor(const google::protobuf::RepeatedPtrField<v1::CodecFrame>& frames,
                                          const std::string& field);
void AppendFrame(const std::vector<int64_t>& codes, v1::CodecFrame* frame);
void TensorToFrames(const at::Tensor& codes, google::protobuf::RepeatedPtrField<v1::CodecFrame>* frames);

// A talker request from the wire, with `defaults` (the model's generation config) for unset options.
absl::StatusOr<TalkerRequest> ToTalkerRequest(const v1::GenerateRequest& request, const GenerationOptions& defaults,
                                              bool default_non_streaming_mode);

// Little-endian float32 bytes <-> samples.
std::string FloatsToBytes(const float* data, size_t n);
absl::StatusOr<std::vector<float>> BytesToFloats(const std::string& bytes, const std::string& field);

}  // namespace qwen3tts
