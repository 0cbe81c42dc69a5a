// `qwen3-tts make-random-model`: a complete model directory in the official layout with random
// weights (config.json, generation_config.json, text tokenizer, model.safetensors with the talker
// and, for Base, the speaker encoder; speech_tokenizer/ with the codec encoder and decoder).
// For offline demos, tests and benchmarks: real weights cannot be downloaded everywhere.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/tensor/model_config.h"
#include "nlohmann/json.hpp"

namespace qwen3tts {

struct RandomModelOptions {
  std::string shape = "tiny";  // tiny | 0.6b | 1.7b
  ModelVariant variant = ModelVariant::kCustomVoice;
  uint64_t seed = 1;
  // Copy vocab.json, merges.txt and tokenizer_config.json from here (a real model directory);
  // empty: write a byte-level tokenizer.json with the official special-token ids.
  std::string tokenizer_from;
};

absl::Status WriteRandomModel(const std::string& out_dir, const RandomModelOptions& options);

// The speech tokenizer (12 Hz codec) config for a shape: "tiny" (the golden test models' sizes)
// or the released full size ("0.6b" and "1.7b" share it).
absl::StatusOr<SpeechTokenizerConfig> PresetSpeechTokenizerConfig(const std::string& shape);
nlohmann::json SpeechTokenizerConfigToJson(const SpeechTokenizerConfig& config);

}  // namespace qwen3tts
