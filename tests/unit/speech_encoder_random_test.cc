// Random encoder / speaker-encoder weights follow the official layout: they load through the real
// loaders and produce codes / embeddings of the documented shapes; bad audio is rejected.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/codec/speech_encoder.h"
#include "common/codec/speech_encoder_random.h"
#include "common/codec/xvector_encoder.h"
#include "common/tensor/safetensors.h"

namespace qwen3tts {
namespace {

namespace fs = std::filesystem;

TEST(SpeechEncoderRandomTest, RandomWeightsLoadAndEncode) {
  SpeechTokenizerConfig st;
  st.encoder.num_filters = 4;
  st.encoder.hidden_size = 32;
  st.encoder.num_hidden_layers = 1;
  st.encoder.num_attention_heads = 4;
  st.encoder.num_key_value_heads = 4;
  st.encoder.head_dim = 8;
  st.encoder.intermediate_size = 64;
  st.encoder.codebook_dim = 16;
  st.encoder.vector_quantization_hidden_dimension = 16;
  st.encoder.num_quantizers = 20;
  SpeakerEncoderConfig spk;
  spk.enc_dim = 48;
  spk.enc_channels = {32, 32, 32, 32, 96};
  spk.enc_attention_channels = 16;
  spk.enc_se_channels = 16;
  fs::path dir = fs::temp_directory_path() / ("qwen3tts_enc_rand_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ASSERT_TRUE(WriteSafetensors((dir / "st.safetensors").string(), RandomSpeechEncoderWeights(st, 3)).ok());
  ASSERT_TRUE(WriteSafetensors((dir / "spk.safetensors").string(), RandomSpeakerEncoderWeights(spk, 4)).ok());
  auto st_ckpt = Checkpoint::Open((dir / "st.safetensors").string());
  auto spk_ckpt = Checkpoint::Open((dir / "spk.safetensors").string());
  ASSERT_TRUE(st_ckpt.ok() && spk_ckpt.ok());
  auto encoder = SpeechEncoder::Load(*st_ckpt, st);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  auto xvector = XVectorEncoder::Load(*spk_ckpt, spk);
  ASSERT_TRUE(xvector.ok()) << xvector.status();
  for (int64_t samples : {1, 1919, 1920, 1921, 24000}) {
    auto codes = (*encoder)->Encode(at::randn({samples}) * 0.1);
    ASSERT_TRUE(codes.ok()) << codes.status();
    EXPECT_EQ(codes->size(0), (samples + 1919) / 1920) << samples;
    EXPECT_EQ(codes->size(1), 16);
    EXPECT_GE(codes->min().item<int64_t>(), 0);
    EXPECT_LT(codes->max().item<int64_t>(), st.encoder.codebook_size);
  }
  auto embedding = (*xvector)->EmbedAudio(at::randn({24000}) * 0.1);
  ASSERT_TRUE(embedding.ok()) << embedding.status();
  EXPECT_EQ(embedding->numel(), 48);
  EXPECT_TRUE(at::isfinite(*embedding).all().item<bool>());
  // Bad input: empty or non-finite audio.
  EXPECT_EQ((*encoder)->Encode(at::zeros({0})).status().code(), absl::StatusCode::kInvalidArgument);
  at::Tensor nan = at::zeros({4000});
  nan[7] = INFINITY;
  EXPECT_EQ((*encoder)->Encode(nan).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*xvector)->EmbedMel(at::zeros({10, 7})).status().code(), absl::StatusCode::kInvalidArgument);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qwen3tts
