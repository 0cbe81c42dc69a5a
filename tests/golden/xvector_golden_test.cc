// Log-mel spectrogram and speaker embedding (x-vector) against the reference, for every
// speaker_encoder and voice_clone case of the manifest.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/audio/audio_file.h"
#include "common/codec/xvector_encoder.h"
#include "common/tensor/checkpoint.h"
#include "tests/support/golden.h"

namespace qwen3tts {
namespace {

class XVectorGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(XVectorGoldenTest, MelAndEmbeddingMatchReference) {
  auto golden = testing::FindCase(GetParam());
  ASSERT_TRUE(golden.ok()) << golden.status();
  // Speaker-encoder cases name their tensors wav/mel; clone cases ref_wav/ref_mel.
  const bool clone = golden->HasTensor("ref_wav");
  const std::string wav_name = clone ? "ref_wav" : "wav", mel_name = clone ? "ref_mel" : "mel";
  ASSERT_TRUE(golden->HasTensor(wav_name)) << "case lists no " << wav_name;
  auto wav = golden->TensorChecked(wav_name);
  ASSERT_TRUE(wav.ok()) << wav.status();

  // The reference audio file decodes to exactly the samples the reference used.
  if (golden->json().contains("ref_audio")) {
    auto audio = ReadAudioFile(testing::GoldenPath(golden->json()["ref_audio"].get<std::string>()), 24000);
    ASSERT_TRUE(audio.ok()) << audio.status();
    at::Tensor decoded = at::from_blob(audio->samples.data(), {static_cast<int64_t>(audio->samples.size())}, at::kFloat).clone();
    EXPECT_TRUE(testing::TensorsMatch(decoded.reshape(wav->sizes()), *wav, {false, 1e-6, 0.0}, "decoded ref_audio"));
  }
  auto info = LoadModelInfo(golden->ModelDir());
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_TRUE(info->config.speaker_encoder.has_value()) << "model has no speaker_encoder_config";
  MelOptions options;
  options.sample_rate = info->config.speaker_encoder->sample_rate;
  options.num_mels = info->config.speaker_encoder->mel_dim;
  auto mel = LogMelSpectrogram(*wav, options);
  ASSERT_TRUE(mel.ok()) << mel.status();
  if (golden->HasTensor(mel_name)) {
    auto expected = golden->TensorChecked(mel_name);
    ASSERT_TRUE(expected.ok()) << expected.status();
    EXPECT_TRUE(testing::TensorsMatch(mel->reshape(expected->sizes()), *expected, golden->ToleranceOf(mel_name), mel_name));
  }
  auto ckpt = Checkpoint::Open(golden->ModelDir());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto encoder = XVectorEncoder::Load(*ckpt, *info->config.speaker_encoder);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  auto embedding = (*encoder)->EmbedAudio(*wav);
  ASSERT_TRUE(embedding.ok()) << embedding.status();
  auto expected = golden->TensorChecked("spk_embedding");
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_TRUE(testing::TensorsMatch(embedding->reshape(expected->sizes()), *expected,
                                    golden->ToleranceOf("spk_embedding"), "spk_embedding"));
}

INSTANTIATE_TEST_SUITE_P(Manifest, XVectorGoldenTest,
                         ::testing::ValuesIn(testing::CaseIdsWithModes({"speaker_encoder", "voice_clone"})),
                         QWEN3TTS_GOLDEN_CASE_NAMER);

TEST(XVectorTest, RejectsAudioTooShortOrNotFinite) {
  MelOptions options;
  EXPECT_EQ(LogMelSpectrogram(at::zeros({100}), options).status().code(), absl::StatusCode::kInvalidArgument);
  at::Tensor wav = at::zeros({24000});
  wav[5] = NAN;
  EXPECT_EQ(LogMelSpectrogram(wav, options).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(LogMelSpectrogram(at::zeros({24000}), options).ok());
}

}  // namespace
}  // namespace qwen3tts
