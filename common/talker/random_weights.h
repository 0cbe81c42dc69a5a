// Configurations of the real model shapes and random weights in the official layout, for
// `qwen3-tts make-random-model`, benchmarks and tests (real weights cannot be downloaded here).
#pragma once

#include <ATen/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor/model_config.h"
#include "nlohmann/json.hpp"

namespace qwen3tts {

// shape: "tiny" (the golden models' sizes), "0.6b" or "1.7b"; token ids, speakers and languages
// as in the official checkpoints.
absl::StatusOr<ModelConfig> PresetModelConfig(const std::string& shape, ModelVariant variant);

// config.json text in the official layout for a config (inverse of ParseModelConfig).
nlohmann::json ModelConfigToJson(const ModelConfig& config);

// Random talker + code predictor (+ speaker encoder for Base) tensors with official names and
// shapes, scaled like a trained model's initialisation (std 0.02, norms at 1).
std::vector<std::pair<std::string, at::Tensor>> RandomTalkerWeights(const ModelConfig& config, uint64_t seed,
                                                                    c10::ScalarType dtype);

}  // namespace qwen3tts
