// Speech-tokenizer encoder (audio -> codes) against the reference for every
// speech_tokenizer_encode case, and the reference codes of every ICL clone case.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/codec/speech_encoder.h"
#include "common/util/file_util.h"
#include "tests/support/golden.h"

namespace qwen3tts {
namespace {

class SpeechEncoderGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SpeechEncoderGoldenTest, CodesMatchReference) {
  auto golden = testing::FindCase(GetParam());
  ASSERT_TRUE(golden.ok()) << golden.status();
  const bool clone = golden->mode() == "voice_clone";
  const std::string wav_name = clone ? "ref_wav" : "wav", codes_name = clone ? "ref_codes" : "codes";
  if (!golden->HasTensor(codes_name)) GTEST_SKIP() << "case lists no " << codes_name << " (x-vector only)";
  auto wav = golden->TensorChecked(wav_name);
  auto expected = golden->TensorChecked(codes_name);
  ASSERT_TRUE(wav.ok()) << wav.status();
  ASSERT_TRUE(expected.ok()) << expected.status();
  const std::string st_dir = JoinPath(golden->ModelDir(), "speech_tokenizer");
  auto config = ParseSpeechTokenizerConfig(JoinPath(st_dir, "config.json"));
  ASSERT_TRUE(config.ok()) << config.status();
  auto ckpt = Checkpoint::Open(st_dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto encoder = SpeechEncoder::Load(*ckpt, *config);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  auto codes = (*encoder)->Encode(*wav);
  ASSERT_TRUE(codes.ok()) << codes.status();
  EXPECT_TRUE(testing::TensorsMatch(*codes, *expected, golden->ToleranceOf(codes_name), codes_name));
}

INSTANTIATE_TEST_SUITE_P(Manifest, SpeechEncoderGoldenTest,
                         ::testing::ValuesIn(testing::CaseIdsWithModes({"speech_tokenizer_encode", "voice_clone"})),
                         QWEN3TTS_GOLDEN_CASE_NAMER);

}  // namespace
}  // namespace qwen3tts
