// Random `encoder.*` (speech-tokenizer encoder) and `speaker_encoder.*` tensors with the official
// names and shapes, for make-random-model and the encoder benchmarks. Fan-in scaled so that a
// random network produces finite activations; the values mean nothing.
#pragma once

#include <ATen/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "common/tensor/model_config.h"

namespace qwen3tts {

std::vector<std::pair<std::string, at::Tensor>> RandomSpeechEncoderWeights(const SpeechTokenizerConfig& config,
                                                                           uint64_t seed);
std::vector<std::pair<std::string, at::Tensor>> RandomSpeakerEncoderWeights(const SpeakerEncoderConfig& config,
                                                                            uint64_t seed);

}  // namespace qwen3tts
