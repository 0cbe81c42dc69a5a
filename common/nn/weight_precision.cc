#include "common/nn/weight_precision.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace qwen3tts {

absl::StatusOr<WeightPrecision> ParseWeightPrecision(std::string_view name) {
  if (name == "float32") return WeightPrecision::kFloat32;
  if (name == "bfloat16") return WeightPrecision::kBFloat16;
  if (name == "int8") return WeightPrecision::kInt8;
  if (name == "int4") return WeightPrecision::kInt4;
  if (name == "int4-g128") return WeightPrecision::kInt4G128;
  return absl::InvalidArgumentError(absl::StrCat(
      "dtype: '", std::string(name), "' is not a weight precision (allowed: float32, bfloat16, int8, int4, int4-g128)"));
}

const char* WeightPrecisionName(WeightPrecision precision) {
  switch (precision) {
    case WeightPrecision::kFloat32: return "float32";
    case WeightPrecision::kBFloat16: return "bfloat16";
    case WeightPrecision::kInt8: return "int8";
    case WeightPrecision::kInt4: return "int4";
    case WeightPrecision::kInt4G128: return "int4-g128";
  }
  return "float32";
}

}  // namespace qwen3tts
