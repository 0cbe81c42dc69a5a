// A random tiny talker written in the official checkpoint layout and loaded back through the real
// loader, and prompt ids in the chat template's shape: what the talker unit tests generate with.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/talker/random_weights.h"
#include "common/talker/talker_model.h"
#include "common/tensor/checkpoint.h"
#include "common/tensor/safetensors.h"

namespace qwen3tts::testing {

// size: "0b6" or "1b7" (the tiny preset keeps each size's structure, e.g. 1.7B's projection into
// the code predictor).
// checkpoint_dtype: how the weights are stored (bfloat16, as the official checkpoints are).
inline std::shared_ptr<const TalkerModel> LoadRandomTalker(ModelVariant variant, const std::string& size,
                                                           WeightPrecision precision = WeightPrecision::kFloat32,
                                                           at::ScalarType checkpoint_dtype = at::kBFloat16) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("qwen3tts_talker_" + std::to_string(::getpid()) + "_" +
                                              ModelVariantName(variant) + size + WeightPrecisionName(precision) +
                                              c10::toString(checkpoint_dtype));
  fs::create_directories(dir);
  auto config = PresetModelConfig("tiny", variant);
  EXPECT_TRUE(config.ok());
  config->tts_model_size = size;
  std::ofstream((dir / "config.json").string()) << ModelConfigToJson(*config).dump(2);
  EXPECT_TRUE(WriteSafetensors((dir / "model.safetensors").string(), RandomTalkerWeights(*config, 7, checkpoint_dtype)).ok());
  auto parsed = ParseModelConfig((dir / "config.json").string());
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  auto ckpt = Checkpoint::Open(dir.string());
  EXPECT_TRUE(ckpt.ok()) << ckpt.status();
  auto model = TalkerModel::Load(*ckpt, *parsed, precision);
  EXPECT_TRUE(model.ok()) << model.status();
  fs::remove_all(dir);
  return model.ok() ? *model : nullptr;
}

// <|im_start|>assistant\n + text + 5-token suffix, with arbitrary in-vocabulary text ids.
inline std::vector<int64_t> TemplateIds(int64_t text_tokens) {
  std::vector<int64_t> ids = {151644, 77091, 198};
  for (int64_t i = 0; i < text_tokens; ++i) ids.push_back(1000 + 37 * i);
  for (int64_t id : {151645, 198, 151644, 77091, 198}) ids.push_back(id);
  return ids;
}

}  // namespace qwen3tts::testing
