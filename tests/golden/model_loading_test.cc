// Every model directory the golden manifest names loads: configs parse, the variant is detected,
// and every tensor of its checkpoints (talker and speech tokenizer) reads back.
#include <gtest/gtest.h>

#include <set>

#include "common/tensor/checkpoint.h"
#include "common/tensor/model_config.h"
#include "common/util/file_util.h"
#include "tests/support/golden.h"

namespace qwen3tts {
namespace {

std::vector<std::string> ModelDirs() {
  std::set<std::string> dirs;
  auto manifest = testing::LoadManifest();
  if (!manifest.ok()) return {"<manifest unreadable>"};
  for (const auto& entry : (*manifest)["cases"]) {
    if (entry.contains("model_dir") && entry["model_dir"].is_string()) {
      dirs.insert(entry["model_dir"].get<std::string>());
    }
  }
  return {dirs.begin(), dirs.end()};
}

class GoldenModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenModelTest, LoadsConfigAndEveryTensor) {
  ASSERT_TRUE(testing::LoadManifest().ok()) << testing::LoadManifest().status();
  const std::string dir = testing::GoldenPath(GetParam());
  auto info = LoadModelInfo(dir);
  ASSERT_TRUE(info.ok()) << info.status();
  std::cout << DescribeModel(*info);
  ASSERT_TRUE(info->speech_tokenizer.has_value()) << dir << " has no speech_tokenizer/config.json";
  // The manifest's cases must be consistent with the detected variant.
  auto manifest = testing::LoadManifest();
  for (const auto& entry : (*manifest)["cases"]) {
    if (entry.value("model_dir", "") != GetParam()) continue;
    const std::string mode = entry.value("mode", "");
    if (mode == "custom_voice") {
      EXPECT_EQ(info->config.variant, ModelVariant::kCustomVoice);
    }
    if (mode == "voice_design") {
      EXPECT_EQ(info->config.variant, ModelVariant::kVoiceDesign);
    }
    if (mode == "voice_clone") {
      EXPECT_EQ(info->config.variant, ModelVariant::kBase);
    }
    if (entry.contains("speaker")) {
      std::string speaker = entry["speaker"].get<std::string>();
      for (char& c : speaker) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      EXPECT_EQ(info->config.talker.spk_id.count(speaker), 1u) << speaker;
    }
  }
  for (const std::string& weights : std::vector<std::string>{dir, JoinPath(dir, "speech_tokenizer")}) {
    auto ckpt = Checkpoint::Open(weights);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    EXPECT_GT(ckpt->Names().size(), 0u);
    for (const std::string& name : ckpt->Names()) {
      auto t = ckpt->Load(name);
      ASSERT_TRUE(t.ok()) << t.status();
      EXPECT_EQ(t->sizes().vec(), ckpt->Find(name)->shape) << name;
    }
    std::cout << "  " << weights << ": " << ckpt->Names().size() << " tensors, "
              << ckpt->StoredBytes() << " bytes\n";
  }
  // The talker's hidden size in config.json matches its weights.
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok());
  const TensorEntry* codec_embedding = ckpt->Find("talker.model.codec_embedding.weight");
  ASSERT_NE(codec_embedding, nullptr);
  EXPECT_EQ(codec_embedding->shape,
            (std::vector<int64_t>{info->config.talker.vocab_size, info->config.talker.hidden_size}));
}

INSTANTIATE_TEST_SUITE_P(Manifest, GoldenModelTest, ::testing::ValuesIn(ModelDirs()),
                         QWEN3TTS_GOLDEN_CASE_NAMER);

}  // namespace
}  // namespace qwen3tts
