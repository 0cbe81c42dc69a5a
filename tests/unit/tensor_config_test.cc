// config.json / generation_config.json / speech_tokenizer config parsing: defaults, variant
// detection and errors that name the file and the field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/tensor/model_config.h"
#include "nlohmann/json.hpp"

namespace qwen3tts {
namespace {

namespace fs = std::filesystem;

nlohmann::json MinimalConfig() {
  return nlohmann::json::parse(R"({
    "tts_model_type": "custom_voice", "tts_model_size": "0b6",
    "im_start_token_id": 151644, "im_end_token_id": 151645, "tts_pad_token_id": 151671,
    "tts_bos_token_id": 151672, "tts_eos_token_id": 151673,
    "talker_config": {
      "vocab_size": 3072, "text_vocab_size": 151936, "text_hidden_size": 64, "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
      "num_key_value_heads": 2, "head_dim": 32, "num_code_groups": 16,
      "rope_scaling": {"interleaved": true, "mrope_section": [6, 5, 5]},
      "codec_eos_token_id": 2150, "codec_think_id": 2154, "codec_nothink_id": 2155,
      "codec_think_bos_id": 2156, "codec_think_eos_id": 2157, "codec_pad_id": 2148, "codec_bos_id": 2149,
      "codec_language_id": {"English": 2050, "sichuan_dialect": 2062},
      "spk_id": {"Ryan": 3061, "eric": 2875},
      "spk_is_dialect": {"Ryan": false, "eric": "sichuan_dialect"},
      "code_predictor_config": {"vocab_size": 2048, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16}
    }})");
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qwen3tts_cfg_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  fs::path dir_;
};

TEST_F(ConfigTest, ParsesMinimalConfigWithDefaults) {
  auto config = ParseModelConfig(Write("config.json", MinimalConfig().dump()));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->variant, ModelVariant::kCustomVoice);
  EXPECT_EQ(config->SizeLabel(), "0.6B");
  EXPECT_EQ(config->talker.head_dim, 32);
  EXPECT_EQ(config->talker.mrope_section, (std::vector<int64_t>{6, 5, 5}));
  EXPECT_TRUE(config->talker.mrope_interleaved);
  // Names are case-folded: lookups are case-insensitive.
  EXPECT_EQ(config->talker.spk_id.at("ryan"), 3061);
  EXPECT_EQ(config->talker.codec_language_id.at("english"), 2050);
  EXPECT_EQ(config->talker.spk_is_dialect.count("ryan"), 0u);
  EXPECT_EQ(config->talker.spk_is_dialect.at("eric"), "sichuan_dialect");
  // Defaults of the reference where the file is silent.
  EXPECT_EQ(config->talker.rms_norm_eps, 1e-6);
  EXPECT_FALSE(config->talker.sliding_window.has_value());
  EXPECT_EQ(config->talker.code_predictor.num_code_groups, 16);
  EXPECT_FALSE(config->speaker_encoder.has_value());
}

TEST_F(ConfigTest, DetectsEveryVariant) {
  for (const auto& [name, variant] :
       {std::pair<const char*, ModelVariant>{"base", ModelVariant::kBase},
        {"custom_voice", ModelVariant::kCustomVoice},
        {"voice_design", ModelVariant::kVoiceDesign}}) {
    nlohmann::json j = MinimalConfig();
    j["tts_model_type"] = name;
    auto config = ParseModelConfig(Write("config.json", j.dump()));
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->variant, variant);
    EXPECT_STREQ(ModelVariantName(config->variant), name);
  }
}

TEST_F(ConfigTest, MissingOrIllTypedFieldsNameFileAndField) {
  struct Case {
    std::function<void(nlohmann::json&)> mutate;
    const char* field;
  } cases[] = {
      {[](nlohmann::json& j) { j.erase("tts_model_type"); }, "'tts_model_type'"},
      {[](nlohmann::json& j) { j["tts_model_type"] = "opera"; }, "'tts_model_type'"},
      {[](nlohmann::json& j) { j["talker_config"]["hidden_size"] = "big"; }, "'talker_config.hidden_size'"},
      {[](nlohmann::json& j) { j["talker_config"].erase("codec_bos_id"); }, "'talker_config.codec_bos_id'"},
      {[](nlohmann::json& j) { j["talker_config"]["num_key_value_heads"] = 3; },
       "'talker_config.num_key_value_heads'"},
      {[](nlohmann::json& j) { j["talker_config"]["rope_scaling"]["mrope_section"] = {1, 1}; },
       "'talker_config.rope_scaling.mrope_section'"},
      {[](nlohmann::json& j) { j["talker_config"]["code_predictor_config"]["hidden_size"] = 0; },
       "'talker_config.code_predictor_config.hidden_size'"},
      {[](nlohmann::json& j) { j["talker_config"]["spk_id"]["ryan"] = "x"; }, "'talker_config.spk_id'"},
      {[](nlohmann::json& j) { j["talker_config"]["spk_is_dialect"]["eric"] = "klingon"; },
       "'talker_config.spk_is_dialect'"},
      {[](nlohmann::json& j) { j["talker_config"]["codec_eos_token_id"] = 99999; },
       "'talker_config.codec_eos_token_id'"},
      {[](nlohmann::json& j) { j.erase("talker_config"); }, "'talker_config'"},
  };
  for (const Case& c : cases) {
    nlohmann::json j = MinimalConfig();
    c.mutate(j);
    std::string path = Write("config.json", j.dump());
    auto config = ParseModelConfig(path);
    ASSERT_FALSE(config.ok()) << c.field;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
    EXPECT_NE(config.status().message().find(path), std::string::npos) << config.status();
    EXPECT_NE(config.status().message().find(c.field), std::string::npos) << config.status();
  }
}

TEST_F(ConfigTest, BadJsonAndMissingFileAreClearErrors) {
  auto bad = ParseModelConfig(Write("config.json", "{\"tts_model_type\": "));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("invalid JSON"), std::string::npos);
  // A number too large for a double is an error too (found by fuzz_model_config: it used to throw).
  auto overflow = ParseModelConfig(Write("config.json", "{\"tts_model_type\": 1e306333}"));
  EXPECT_EQ(overflow.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(overflow.status().message().find("number overflow"), std::string::npos) << overflow.status();
  auto missing = ParseModelConfig((dir_ / "absent.json").string());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  auto no_dir = LoadModelInfo((dir_ / "no_such_model").string());
  EXPECT_EQ(no_dir.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ConfigTest, GenerationConfigDefaultsWhenAbsentAndValidatesTypes) {
  auto absent = ParseGenerationConfig((dir_ / "generation_config.json").string());
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(absent->top_k, 50);
  auto parsed = ParseGenerationConfig(Write("generation_config.json",
                                            R"({"do_sample": false, "top_k": 10, "subtalker_dosample": false})"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->do_sample);
  EXPECT_FALSE(parsed->subtalker_do_sample);
  EXPECT_EQ(parsed->top_k, 10);
  auto wrong = ParseGenerationConfig(Write("generation_config.json", R"({"top_k": 1.5})"));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("'top_k'"), std::string::npos);
}

TEST_F(ConfigTest, SpeechTokenizerUpsampleRateMustMatchDecoderShape) {
  auto ok = ParseSpeechTokenizerConfig(Write("st.json", R"({
    "encoder_config": {}, "decoder_config": {"upsample_rates": [8,5,4,3], "upsampling_ratios": [2,2]}})"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->decode_upsample_rate, 1920);
  auto bad = ParseSpeechTokenizerConfig(Write("st.json", R"({
    "encoder_config": {}, "decoder_config": {"upsample_rates": [8,5,4], "upsampling_ratios": [2,2]}})"));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("decode_upsample_rate"), std::string::npos);
}

}  // namespace
}  // namespace qwen3tts
