// make-random-model writes a directory every loader accepts, for every variant, and the
// in-process engine synthesizes from it (streamed audio of frames * 1920 finite samples).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "common/tts/random_model.h"
#include "common/tts/tts_engine.h"

namespace qwen3tts {
namespace {

namespace fs = std::filesystem;

class RandomModelTest : public ::testing::TestWithParam<ModelVariant> {};

TEST_P(RandomModelTest, LoadsAndSynthesizes) {
  fs::path dir = fs::temp_directory_path() /
                 ("qwen3tts_random_model_" + std::to_string(::getpid()) + ModelVariantName(GetParam()));
  RandomModelOptions options;
  options.variant = GetParam();
  ASSERT_TRUE(WriteRandomModel(dir.string(), options).ok());
  auto engine = TtsEngine::Load(dir.string());
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->info().config.variant, GetParam());
  SynthesisRequest r;
  r.text = "Hello from a random model.";
  if (GetParam() == ModelVariant::kCustomVoice) r.speaker = "vivian";
  if (GetParam() == ModelVariant::kVoiceDesign) r.instruct = "A calm voice.";
  if (GetParam() == ModelVariant::kBase) {
    for (int i = 0; i < 24000; ++i) r.ref_audio.push_back(0.3f * std::sin(i * 0.05f));
    r.ref_text = "A reference clip.";
  }
  r.options = (*engine)->DefaultOptions();
  r.options.max_new_tokens = 6;
  r.options.seed = 3;
  int64_t samples = 0;
  bool finite = true;
  auto summary = (*engine)->Synthesize(r, [&](const std::vector<float>& chunk) {
    samples += static_cast<int64_t>(chunk.size());
    for (float v : chunk) finite = finite && std::isfinite(v);
    return true;
  });
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_GT(summary->frames, 0);
  EXPECT_EQ(samples, summary->frames * 1920);
  EXPECT_TRUE(finite);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Variants, RandomModelTest,
                         ::testing::Values(ModelVariant::kCustomVoice, ModelVariant::kVoiceDesign, ModelVariant::kBase),
                         [](const ::testing::TestParamInfo<ModelVariant>& info) {
                           return std::string(ModelVariantName(info.param));
                         });

TEST(RandomModelOptionsTest, RejectsUnknownShape) {
  RandomModelOptions options;
  options.shape = "7b";
  auto status = WriteRandomModel((fs::temp_directory_path() / "qwen3tts_never").string(), options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("tiny, 0.6b, 1.7b"), std::string::npos);
}

}  // namespace
}  // namespace qwen3tts
