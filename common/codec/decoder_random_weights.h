// Random `decoder.*` tensors with the official checkpoint names and shapes for a decoder config
// (used by make-random-model and the decoder benchmark). The values are scaled so that a random
// decoder produces finite, non-trivial audio (fan-in scaled weights, positive cluster usage,
// small layer scales), not to mean anything.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/tensor/model_config.h"

namespace qwen3tts {

// Deterministic for a given (config, seed). Tensors are float32; the order is stable.
std::vector<std::pair<std::string, at::Tensor>> RandomDecoderWeights(
    const CodecDecoderConfig& config, uint64_t seed);

}  // namespace qwen3tts
