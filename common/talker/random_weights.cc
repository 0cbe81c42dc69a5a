#include "common/talker/random_weights.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace qwen3tts {
namespace {

void FillQwenBlock(TransformerConfig* c, int64_t hidden, int64_t layers, int64_t heads, int64_t kv_heads,
                   int64_t head_dim, int64_t intermediate, int64_t vocab) {
  c->hidden_size = hidden;
  c->num_hidden_layers = layers;
  c->num_attention_heads = heads;
  c->num_key_value_heads = kv_heads;
  c->head_dim = head_dim;
  c->intermediate_size = intermediate;
  c->vocab_size = vocab;
  c->rms_norm_eps = 1e-6;
  c->rope_theta = 1000000.0;
  c->hidden_act = "silu";
}

}  // namespace

absl::StatusOr<ModelConfig> PresetModelConfig(const std::string& shape, ModelVariant variant) {
  ModelConfig c;
  c.variant = variant;
  c.tts_model_type = ModelVariantName(variant);
  c.tokenizer_type = "qwen3_tts_tokenizer_12hz";
  TalkerConfig& t = c.talker;
  t.text_vocab_size = 151936;
  t.num_code_groups = 16;
  t.codec_eos_token_id = 2150;
  t.codec_think_id = 2154;
  t.codec_nothink_id = 2155;
  t.codec_think_bos_id = 2156;
  t.codec_think_eos_id = 2157;
  t.codec_pad_id = 2148;
  t.codec_bos_id = 2149;
  t.codec_language_id = {{"chinese", 2055}, {"english", 2050}, {"german", 2053}, {"italian", 2070},
                         {"portuguese", 2071}, {"spanish", 2054}, {"japanese", 2058}, {"korean", 2064},
                         {"french", 2061}, {"russian", 2069}, {"beijing_dialect", 2074}, {"sichuan_dialect", 2062}};
  if (variant == ModelVariant::kCustomVoice) {
    t.spk_id = {{"serena", 3066}, {"vivian", 3065}, {"uncle_fu", 3010}, {"ryan", 3061}, {"aiden", 2861},
                {"ono_anna", 2873}, {"sohee", 2864}, {"eric", 2875}, {"dylan", 2878}};
    t.spk_is_dialect = {{"eric", "sichuan_dialect"}, {"dylan", "beijing_dialect"}};
  }
  t.mrope_interleaved = true;
  SpeakerEncoderConfig se;
  if (shape == "tiny") {
    c.tts_model_size = "1b7";
    FillQwenBlock(&t, 48, 2, 4, 2, 32, 128, 3072);
    t.text_hidden_size = 12;
    t.mrope_section = {6, 5, 5};
    FillQwenBlock(&t.code_predictor, 32, 2, 4, 2, 16, 64, 2048);
    se.enc_dim = 48;
    se.enc_channels = {32, 32, 32, 32, 96};
    se.enc_attention_channels = 16;
    se.enc_se_channels = 16;
  } else if (shape == "0.6b") {
    c.tts_model_size = "0b6";
    FillQwenBlock(&t, 1024, 28, 16, 8, 128, 3072, 3072);
    t.text_hidden_size = 2048;
    t.mrope_section = {24, 20, 20};
    FillQwenBlock(&t.code_predictor, 1024, 5, 16, 8, 128, 3072, 2048);
    se.enc_dim = 1024;
  } else if (shape == "1.7b") {
    c.tts_model_size = "1b7";
    FillQwenBlock(&t, 2048, 28, 16, 8, 128, 6144, 3072);
    t.text_hidden_size = 2048;
    t.mrope_section = {24, 20, 20};
    FillQwenBlock(&t.code_predictor, 1024, 5, 16, 8, 128, 3072, 2048);
    se.enc_dim = 2048;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown model shape '", shape, "' (allowed: tiny, 0.6b, 1.7b)"));
  }
  t.code_predictor.num_code_groups = 16;
  t.code_predictor.max_position_embeddings = 65536;
  if (variant == ModelVariant::kBase) c.speaker_encoder = se;
  return c;
}

nlohmann::json ModelConfigToJson(const ModelConfig& c) {
  auto block = [](const TransformerConfig& b) {
    nlohmann::json j = {{"vocab_size", b.vocab_size},
                        {"hidden_size", b.hidden_size},
                        {"intermediate_size", b.intermediate_size},
                        {"num_hidden_layers", b.num_hidden_layers},
                        {"num_attention_heads", b.num_attention_heads},
                        {"num_key_value_heads", b.num_key_value_heads},
                        {"head_dim", b.head_dim},
                        {"hidden_act", b.hidden_act},
                        {"max_position_embeddings", b.max_position_embeddings},
                        {"rms_norm_eps", b.rms_norm_eps},
                        {"rope_theta", b.rope_theta},
                        {"attention_bias", b.attention_bias},
                        {"use_sliding_window", b.sliding_window.has_value()},
                        {"sliding_window", b.sliding_window.has_value() ? nlohmann::json(*b.sliding_window) : nlohmann::json()}};
    if (!b.mrope_section.empty()) {
      j["rope_scaling"] = {{"interleaved", b.mrope_interleaved}, {"mrope_section", b.mrope_section},
                           {"rope_type", "default"}, {"type", "default"}};
    } else {
      j["rope_scaling"] = nullptr;
    }
    return j;
  };
  const TalkerConfig& t = c.talker;
  nlohmann::json talker = block(t);
  talker["model_type"] = "qwen3_tts_talker";
  talker["text_vocab_size"] = t.text_vocab_size;
  talker["text_hidden_size"] = t.text_hidden_size;
  talker["num_code_groups"] = t.num_code_groups;
  talker["codec_eos_token_id"] = t.codec_eos_token_id;
  talker["codec_think_id"] = t.codec_think_id;
  talker["codec_nothink_id"] = t.codec_nothink_id;
  talker["codec_think_bos_id"] = t.codec_think_bos_id;
  talker["codec_think_eos_id"] = t.codec_think_eos_id;
  talker["codec_pad_id"] = t.codec_pad_id;
  talker["codec_bos_id"] = t.codec_bos_id;
  talker["codec_language_id"] = t.codec_language_id;
  talker["spk_id"] = t.spk_id;
  nlohmann::json dialects = nlohmann::json::object();
  for (const auto& [name, id] : t.spk_id) {
    auto d = t.spk_is_dialect.find(name);
    dialects[name] = d == t.spk_is_dialect.end() ? nlohmann::json(false) : nlohmann::json(d->second);
  }
  talker["spk_is_dialect"] = dialects;
  nlohmann::json cp = block(t.code_predictor);
  cp["model_type"] = "qwen3_tts_talker_code_predictor";
  cp["num_code_groups"] = t.code_predictor.num_code_groups;
  talker["code_predictor_config"] = cp;
  nlohmann::json j = {{"architectures", {"Qwen3TTSForConditionalGeneration"}},
                      {"model_type", "qwen3_tts"},
                      {"tokenizer_type", c.tokenizer_type},
                      {"tts_model_size", c.tts_model_size},
                      {"tts_model_type", c.tts_model_type},
                      {"im_start_token_id", c.im_start_token_id},
                      {"im_end_token_id", c.im_end_token_id},
                      {"tts_pad_token_id", c.tts_pad_token_id},
                      {"tts_bos_token_id", c.tts_bos_token_id},
                      {"tts_eos_token_id", c.tts_eos_token_id},
                      {"assistant_token_id", c.assistant_token_id},
                      {"talker_config", talker}};
  if (c.speaker_encoder.has_value()) {
    const SpeakerEncoderConfig& s = *c.speaker_encoder;
    j["speaker_encoder_config"] = {{"mel_dim", s.mel_dim}, {"enc_dim", s.enc_dim}, {"enc_channels", s.enc_channels},
                                   {"enc_kernel_sizes", s.enc_kernel_sizes}, {"enc_dilations", s.enc_dilations},
                                   {"enc_attention_channels", s.enc_attention_channels},
                                   {"enc_res2net_scale", s.enc_res2net_scale}, {"enc_se_channels", s.enc_se_channels},
                                   {"sample_rate", s.sample_rate}};
  }
  return j;
}

std::vector<std::pair<std::string, at::Tensor>> RandomTalkerWeights(const ModelConfig& c, uint64_t seed,
                                                                    c10::ScalarType dtype) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<std::pair<std::string, at::Tensor>> out;
  auto randn = [&](const std::string& name, std::vector<int64_t> shape) {
    out.emplace_back(name, (at::randn(shape, gen) * 0.02).to(dtype));
  };
  auto ones = [&](const std::string& name, int64_t n) { out.emplace_back(name, at::ones({n}).to(dtype)); };
  auto block = [&](const std::string& prefix, const TransformerConfig& b) {
    for (int64_t i = 0; i < b.num_hidden_layers; ++i) {
      const std::string p = absl::StrCat(prefix, "layers.", i, ".");
      ones(p + "input_layernorm.weight", b.hidden_size);
      ones(p + "post_attention_layernorm.weight", b.hidden_size);
      randn(p + "self_attn.q_proj.weight", {b.num_attention_heads * b.head_dim, b.hidden_size});
      randn(p + "self_attn.k_proj.weight", {b.num_key_value_heads * b.head_dim, b.hidden_size});
      randn(p + "self_attn.v_proj.weight", {b.num_key_value_heads * b.head_dim, b.hidden_size});
      randn(p + "self_attn.o_proj.weight", {b.hidden_size, b.num_attention_heads * b.head_dim});
      ones(p + "self_attn.q_norm.weight", b.head_dim);
      ones(p + "self_attn.k_norm.weight", b.head_dim);
      randn(p + "mlp.gate_proj.weight", {b.intermediate_size, b.hidden_size});
      randn(p + "mlp.up_proj.weight", {b.intermediate_size, b.hidden_size});
      randn(p + "mlp.down_proj.weight", {b.hidden_size, b.intermediate_size});
    }
  };
  const TalkerConfig& t = c.talker;
  const CodePredictorConfig& cp = t.code_predictor;
  randn("talker.model.text_embedding.weight", {t.text_vocab_size, t.text_hidden_size});
  randn("talker.text_projection.linear_fc1.weight", {t.text_hidden_size, t.text_hidden_size});
  randn("talker.text_projection.linear_fc1.bias", {t.text_hidden_size});
  randn("talker.text_projection.linear_fc2.weight", {t.hidden_size, t.text_hidden_size});
  randn("talker.text_projection.linear_fc2.bias", {t.hidden_size});
  randn("talker.model.codec_embedding.weight", {t.vocab_size, t.hidden_size});
  block("talker.model.", t);
  ones("talker.model.norm.weight", t.hidden_size);
  randn("talker.codec_head.weight", {t.vocab_size, t.hidden_size});
  for (int64_t g = 0; g < t.num_code_groups - 1; ++g) {
    randn(absl::StrCat("talker.code_predictor.model.codec_embedding.", g, ".weight"), {cp.vocab_size, t.hidden_size});
    randn(absl::StrCat("talker.code_predictor.lm_head.", g, ".weight"), {cp.vocab_size, cp.hidden_size});
  }
  if (cp.hidden_size != t.hidden_size) {
    randn("talker.code_predictor.small_to_mtp_projection.weight", {cp.hidden_size, t.hidden_size});
    randn("talker.code_predictor.small_to_mtp_projection.bias", {cp.hidden_size});
  }
  block("talker.code_predictor.model.", cp);
  ones("talker.code_predictor.model.norm.weight", cp.hidden_size);
  return out;
}

}  // namespace qwen3tts
