// Weight precision of a stage, as configured (`dtype`): float32 (the reference's numbers),
// bfloat16, int8 (linear layers' weights quantized per output row, their inputs per block of 32:
// nn::Int8Gemv), int4 (weights in 4 bits per block of 32 inputs: nn::Int4Gemv) or int4-g128 (the
// same per block of 128 inputs, activations too: AMX-INT8 tiles for batched steps). Which layers a
// precision applies to, and which precisions a stage takes, is each stage's choice (TalkerModel,
// CodecDecoder).
#pragma once

#include <string_view>

#include "absl/status/statusor.h"

namespace qwen3tts {

enum class WeightPrecision { kFloat32, kBFloat16, kInt8, kInt4, kInt4G128 };
// "float32" | "bfloat16" | "int8" | "int4" | "int4-g128"; anything else is INVALID_ARGUMENT naming
// the allowed values.
absl::StatusOr<WeightPrecision> ParseWeightPrecision(std::string_view name);
const char* WeightPrecisionName(WeightPrecision precision);

}  // namespace qwen3tts
