// End to end in process: text (and reference audio) in, streamed audio out, equal to the
// reference's returned waveform for every generation case of the manifest.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/tts/tts_engine.h"
#include "tests/support/golden.h"

namespace qwen3tts {
namespace {

class TtsEngineGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TtsEngineGoldenTest, StreamedAudioMatchesReferenceWaveform) {
  auto golden = testing::FindCase(GetParam());
  ASSERT_TRUE(golden.ok()) << golden.status();
  const nlohmann::json& e = golden->json();
  auto engine = TtsEngine::Load(golden->ModelDir());
  ASSERT_TRUE(engine.ok()) << engine.status();

  SynthesisRequest r;
  r.text = e.value("text", "");
  r.language = e.value("language", "auto");
  r.speaker = e.value("speaker", "");
  r.instruct = e.value("instruct", "");
  r.non_streaming_mode = e.value("non_streaming_mode", false);
  if (golden->HasTensor("ref_wav")) {
    auto wav = golden->TensorChecked("ref_wav");
    ASSERT_TRUE(wav.ok()) << wav.status();
    at::Tensor w = wav->contiguous();
    r.ref_audio.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
    r.ref_text = e.value("ref_text", "");
    r.x_vector_only = e.value("x_vector_only", false);
  }
  r.options = (*engine)->DefaultOptions();
  r.options.talker.do_sample = !e.value("greedy", true);
  r.options.code_predictor.do_sample = !e.value("subtalker_greedy", true);
  r.options.repetition_penalty = e.value("repetition_penalty", 1.05);
  r.options.min_new_tokens = e.value("min_new_tokens", 2);
  r.options.max_new_tokens = e.value("max_new_tokens", 4096);

  std::vector<float> audio;
  int chunks = 0;
  auto summary = (*engine)->Synthesize(r, [&](const std::vector<float>& chunk) {
    audio.insert(audio.end(), chunk.begin(), chunk.end());
    ++chunks;
    return true;
  });
  ASSERT_TRUE(summary.ok()) << summary.status();
  if (e.contains("n_frames")) {
    EXPECT_EQ(summary->frames, e["n_frames"].get<int64_t>());
    EXPECT_EQ(chunks, e["n_frames"].get<int>());  // one chunk per frame: streamed, not batched at the end
  }
  auto expected = golden->TensorChecked("waveform");
  ASSERT_TRUE(expected.ok()) << expected.status();
  at::Tensor actual = at::from_blob(audio.data(), {static_cast<int64_t>(audio.size())}, at::kFloat).clone();
  EXPECT_TRUE(testing::TensorsMatch(actual, *expected, golden->ToleranceOf("waveform"), "waveform"));
}

INSTANTIATE_TEST_SUITE_P(Manifest, TtsEngineGoldenTest,
                         ::testing::ValuesIn(testing::CaseIdsWithModes({"custom_voice", "voice_design", "voice_clone"})),
                         QWEN3TTS_GOLDEN_CASE_NAMER);

}  // namespace
}  // namespace qwen3tts
