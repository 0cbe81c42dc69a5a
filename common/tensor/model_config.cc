#include "common/tensor/model_config.h"

#include <algorithm>
#include <cctype>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/json_fields.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

absl::Status PositiveOrError(const JsonFields& f, const std::string& key, int64_t value) {
  if (value <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(f.Where(key), ": must be > 0, got ", value));
  }
  return absl::OkStatus();
}

// Fields shared by the talker and code-predictor configs (Qwen3-style decoders).
absl::Status ParseTransformer(const JsonFields& f, TransformerConfig* c) {
  RETURN_IF_ERROR(f.CheckIsObject());
  ASSIGN_OR_RETURN(c->vocab_size, f.Int("vocab_size"));
  ASSIGN_OR_RETURN(c->hidden_size, f.Int("hidden_size"));
  ASSIGN_OR_RETURN(c->intermediate_size, f.Int("intermediate_size"));
  ASSIGN_OR_RETURN(c->num_hidden_layers, f.Int("num_hidden_layers"));
  ASSIGN_OR_RETURN(c->num_attention_heads, f.Int("num_attention_heads"));
  ASSIGN_OR_RETURN(c->num_key_value_heads, f.Int("num_key_value_heads", c->num_attention_heads));
  ASSIGN_OR_RETURN(c->head_dim,
                   f.Int("head_dim", c->num_attention_heads > 0
                                         ? c->hidden_size / c->num_attention_heads
                                         : 0));
  for (const auto& [key, value] :
       {std::pair<const char*, int64_t>{"vocab_size", c->vocab_size},
        {"hidden_size", c->hidden_size},
        {"intermediate_size", c->intermediate_size},
        {"num_hidden_layers", c->num_hidden_layers},
        {"num_attention_heads", c->num_attention_heads},
        {"num_key_value_heads", c->num_key_value_heads},
        {"head_dim", c->head_dim}}) {
    RETURN_IF_ERROR(PositiveOrError(f, key, value));
  }
  if (c->num_attention_heads % c->num_key_value_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        f.Where("num_key_value_heads"), ": must divide num_attention_heads (",
        c->num_attention_heads, "), got ", c->num_key_value_heads));
  }
  ASSIGN_OR_RETURN(c->hidden_act, f.String("hidden_act", "silu"));
  ASSIGN_OR_RETURN(c->rms_norm_eps, f.Double("rms_norm_eps", 1e-6));
  ASSIGN_OR_RETURN(c->rope_theta, f.Double("rope_theta", 10000.0));
  ASSIGN_OR_RETURN(c->max_position_embeddings, f.Int("max_position_embeddings", 32768));
  ASSIGN_OR_RETURN(c->attention_bias, f.Bool("attention_bias", false));
  ASSIGN_OR_RETURN(bool use_sliding_window, f.Bool("use_sliding_window", false));
  if (use_sliding_window) {
    ASSIGN_OR_RETURN(int64_t window, f.Int("sliding_window", 4096));
    c->sliding_window = window;
  }
  ASSIGN_OR_RETURN(std::optional<JsonFields> rope, f.OptionalObject("rope_scaling"));
  if (rope.has_value()) {
    ASSIGN_OR_RETURN(c->mrope_section, rope->IntList("mrope_section", {}));
    ASSIGN_OR_RETURN(c->mrope_interleaved, rope->Bool("interleaved", false));
    int64_t sum = 0;
    for (int64_t s : c->mrope_section) sum += s;
    if (!c->mrope_section.empty() && sum * 2 != c->head_dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          rope->Where("mrope_section"), ": sections must add up to head_dim/2 = ", c->head_dim / 2,
          ", got ", sum));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseTalker(const JsonFields& f, TalkerConfig* c) {
  RETURN_IF_ERROR(ParseTransformer(f, c));
  ASSIGN_OR_RETURN(c->text_vocab_size, f.Int("text_vocab_size"));
  ASSIGN_OR_RETURN(c->text_hidden_size, f.Int("text_hidden_size"));
  ASSIGN_OR_RETURN(c->num_code_groups, f.Int("num_code_groups"));
  RETURN_IF_ERROR(PositiveOrError(f, "text_vocab_size", c->text_vocab_size));
  RETURN_IF_ERROR(PositiveOrError(f, "text_hidden_size", c->text_hidden_size));
  RETURN_IF_ERROR(PositiveOrError(f, "num_code_groups", c->num_code_groups));
  ASSIGN_OR_RETURN(c->codec_eos_token_id, f.Int("codec_eos_token_id"));
  ASSIGN_OR_RETURN(c->codec_think_id, f.Int("codec_think_id"));
  ASSIGN_OR_RETURN(c->codec_nothink_id, f.Int("codec_nothink_id"));
  ASSIGN_OR_RETURN(c->codec_think_bos_id, f.Int("codec_think_bos_id"));
  ASSIGN_OR_RETURN(c->codec_think_eos_id, f.Int("codec_think_eos_id"));
  ASSIGN_OR_RETURN(c->codec_pad_id, f.Int("codec_pad_id"));
  ASSIGN_OR_RETURN(c->codec_bos_id, f.Int("codec_bos_id"));
  for (const auto& [key, id] : {std::pair<const char*, int64_t>{"codec_eos_token_id", c->codec_eos_token_id},
                                {"codec_think_id", c->codec_think_id},
                                {"codec_nothink_id", c->codec_nothink_id},
                                {"codec_think_bos_id", c->codec_think_bos_id},
                                {"codec_think_eos_id", c->codec_think_eos_id},
                                {"codec_pad_id", c->codec_pad_id},
                                {"codec_bos_id", c->codec_bos_id}}) {
    if (id < 0 || id >= c->vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(f.Where(key), ": ", id,
                                                     " outside the codec vocabulary [0, ",
                                                     c->vocab_size, ")"));
    }
  }
  ASSIGN_OR_RETURN(auto languages, f.IntMap("codec_language_id"));
  for (const auto& [name, id] : languages) c->codec_language_id[absl::AsciiStrToLower(name)] = id;
  ASSIGN_OR_RETURN(auto speakers, f.IntMap("spk_id"));
  for (const auto& [name, id] : speakers) c->spk_id[absl::AsciiStrToLower(name)] = id;
  if (f.Has("spk_is_dialect")) {
    const nlohmann::json& dialects = f.json()["spk_is_dialect"];
    if (!dialects.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(f.Where("spk_is_dialect"), ": expected object, got ", dialects.type_name()));
    }
    for (auto it = dialects.begin(); it != dialects.end(); ++it) {
      const std::string speaker = absl::AsciiStrToLower(it.key());
      if (it.value().is_boolean() && !it.value().get<bool>()) continue;
      if (!it.value().is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(f.Where("spk_is_dialect"), ".", it.key(),
                                                       ": expected false or a dialect name, got ",
                                                       it.value().type_name()));
      }
      const std::string dialect = absl::AsciiStrToLower(it.value().get<std::string>());
      if (c->codec_language_id.count(dialect) == 0) {
        return absl::InvalidArgumentError(absl::StrCat(f.Where("spk_is_dialect"), ".", it.key(),
                                                       ": dialect '", dialect,
                                                       "' is not a key of codec_language_id"));
      }
      c->spk_is_dialect[speaker] = dialect;
    }
  }
  ASSIGN_OR_RETURN(JsonFields cp, f.Object("code_predictor_config"));
  RETURN_IF_ERROR(ParseTransformer(cp, &c->code_predictor));
  ASSIGN_OR_RETURN(c->code_predictor.num_code_groups, cp.Int("num_code_groups", c->num_code_groups));
  return absl::OkStatus();
}

absl::Status ParseSpeakerEncoder(const JsonFields& f, SpeakerEncoderConfig* c) {
  ASSIGN_OR_RETURN(c->mel_dim, f.Int("mel_dim", c->mel_dim));
  ASSIGN_OR_RETURN(c->enc_dim, f.Int("enc_dim", c->enc_dim));
  ASSIGN_OR_RETURN(c->enc_channels, f.IntList("enc_channels", c->enc_channels));
  ASSIGN_OR_RETURN(c->enc_kernel_sizes, f.IntList("enc_kernel_sizes", c->enc_kernel_sizes));
  ASSIGN_OR_RETURN(c->enc_dilations, f.IntList("enc_dilations", c->enc_dilations));
  ASSIGN_OR_RETURN(c->enc_attention_channels, f.Int("enc_attention_channels", c->enc_attention_channels));
  ASSIGN_OR_RETURN(c->enc_res2net_scale, f.Int("enc_res2net_scale", c->enc_res2net_scale));
  ASSIGN_OR_RETURN(c->enc_se_channels, f.Int("enc_se_channels", c->enc_se_channels));
  ASSIGN_OR_RETURN(c->sample_rate, f.Int("sample_rate", c->sample_rate));
  if (c->enc_channels.size() != c->enc_kernel_sizes.size() ||
      c->enc_channels.size() != c->enc_dilations.size() || c->enc_channels.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        f.Where("enc_channels"), ": enc_channels, enc_kernel_sizes and enc_dilations must have the "
                                 "same length (>= 2)"));
  }
  return absl::OkStatus();
}

absl::Status ParseCodecEncoder(const JsonFields& f, CodecEncoderConfig* c) {
  ASSIGN_OR_RETURN(c->sampling_rate, f.Int("sampling_rate", c->sampling_rate));
  ASSIGN_OR_RETURN(c->audio_channels, f.Int("audio_channels", c->audio_channels));
  ASSIGN_OR_RETURN(c->num_filters, f.Int("num_filters", c->num_filters));
  ASSIGN_OR_RETURN(c->kernel_size, f.Int("kernel_size", c->kernel_size));
  ASSIGN_OR_RETURN(c->residual_kernel_size, f.Int("residual_kernel_size", c->residual_kernel_size));
  ASSIGN_OR_RETURN(c->last_kernel_size, f.Int("last_kernel_size", c->last_kernel_size));
  ASSIGN_OR_RETURN(c->num_residual_layers, f.Int("num_residual_layers", c->num_residual_layers));
  ASSIGN_OR_RETURN(c->dilation_growth_rate, f.Int("dilation_growth_rate", c->dilation_growth_rate));
  ASSIGN_OR_RETURN(c->compress, f.Int("compress", c->compress));
  ASSIGN_OR_RETURN(c->upsampling_ratios, f.IntList("upsampling_ratios", c->upsampling_ratios));
  ASSIGN_OR_RETURN(c->hidden_size, f.Int("hidden_size", c->hidden_size));
  ASSIGN_OR_RETURN(c->num_hidden_layers, f.Int("num_hidden_layers", c->num_hidden_layers));
  ASSIGN_OR_RETURN(c->num_attention_heads, f.Int("num_attention_heads", c->num_attention_heads));
  ASSIGN_OR_RETURN(c->num_key_value_heads, f.Int("num_key_value_heads", c->num_attention_heads));
  ASSIGN_OR_RETURN(c->head_dim, f.Int("head_dim", c->hidden_size / std::max<int64_t>(1, c->num_attention_heads)));
  ASSIGN_OR_RETURN(c->intermediate_size, f.Int("intermediate_size", c->intermediate_size));
  ASSIGN_OR_RETURN(c->hidden_act, f.String("hidden_act", c->hidden_act));
  ASSIGN_OR_RETURN(c->norm_eps, f.Double("norm_eps", c->norm_eps));
  ASSIGN_OR_RETURN(c->layer_scale_initial_scale, f.Double("layer_scale_initial_scale", c->layer_scale_initial_scale));
  ASSIGN_OR_RETURN(c->rope_theta, f.Double("rope_theta", c->rope_theta));
  ASSIGN_OR_RETURN(c->max_position_embeddings, f.Int("max_position_embeddings", c->max_position_embeddings));
  ASSIGN_OR_RETURN(c->sliding_window, f.Int("sliding_window", c->sliding_window));
  ASSIGN_OR_RETURN(c->num_quantizers, f.Int("num_quantizers", c->num_quantizers));
  ASSIGN_OR_RETURN(c->num_semantic_quantizers, f.Int("num_semantic_quantizers", c->num_semantic_quantizers));
  ASSIGN_OR_RETURN(c->codebook_size, f.Int("codebook_size", c->codebook_size));
  ASSIGN_OR_RETURN(c->codebook_dim, f.Int("codebook_dim", c->codebook_dim));
  ASSIGN_OR_RETURN(c->vector_quantization_hidden_dimension,
                   f.Int("vector_quantization_hidden_dimension", c->vector_quantization_hidden_dimension));
  ASSIGN_OR_RETURN(c->upsample_groups, f.Int("upsample_groups", c->upsample_groups));
  ASSIGN_OR_RETURN(c->use_causal_conv, f.Bool("use_causal_conv", c->use_causal_conv));
  ASSIGN_OR_RETURN(c->pad_mode, f.String("pad_mode", c->pad_mode));
  ASSIGN_OR_RETURN(c->use_conv_shortcut, f.Bool("use_conv_shortcut", c->use_conv_shortcut));
  ASSIGN_OR_RETURN(c->trim_right_ratio, f.Double("trim_right_ratio", c->trim_right_ratio));
  ASSIGN_OR_RETURN(c->frame_rate, f.Double("_frame_rate", c->frame_rate));
  return absl::OkStatus();
}

absl::Status ParseCodecDecoder(const JsonFields& f, CodecDecoderConfig* c) {
  ASSIGN_OR_RETURN(c->codebook_size, f.Int("codebook_size", c->codebook_size));
  ASSIGN_OR_RETURN(c->codebook_dim, f.Int("codebook_dim", c->codebook_dim));
  ASSIGN_OR_RETURN(c->hidden_size, f.Int("hidden_size", c->hidden_size));
  ASSIGN_OR_RETURN(c->latent_dim, f.Int("latent_dim", c->latent_dim));
  ASSIGN_OR_RETURN(c->max_position_embeddings, f.Int("max_position_embeddings", c->max_position_embeddings));
  ASSIGN_OR_RETURN(c->rope_theta, f.Double("rope_theta", c->rope_theta));
  ASSIGN_OR_RETURN(c->num_attention_heads, f.Int("num_attention_heads", c->num_attention_heads));
  ASSIGN_OR_RETURN(c->num_key_value_heads, f.Int("num_key_value_heads", c->num_attention_heads));
  ASSIGN_OR_RETURN(c->head_dim, f.Int("head_dim", c->head_dim));
  ASSIGN_OR_RETURN(c->attention_bias, f.Bool("attention_bias", c->attention_bias));
  ASSIGN_OR_RETURN(c->sliding_window, f.Int("sliding_window", c->sliding_window));
  ASSIGN_OR_RETURN(c->intermediate_size, f.Int("intermediate_size", c->intermediate_size));
  ASSIGN_OR_RETURN(c->hidden_act, f.String("hidden_act", c->hidden_act));
  ASSIGN_OR_RETURN(c->layer_scale_initial_scale, f.Double("layer_scale_initial_scale", c->layer_scale_initial_scale));
  ASSIGN_OR_RETURN(c->rms_norm_eps, f.Double("rms_norm_eps", c->rms_norm_eps));
  ASSIGN_OR_RETURN(c->num_hidden_layers, f.Int("num_hidden_layers", c->num_hidden_layers));
  ASSIGN_OR_RETURN(c->num_quantizers, f.Int("num_quantizers", c->num_quantizers));
  ASSIGN_OR_RETURN(c->num_semantic_quantizers, f.Int("num_semantic_quantizers", c->num_semantic_quantizers));
  ASSIGN_OR_RETURN(c->semantic_codebook_size, f.Int("semantic_codebook_size", c->semantic_codebook_size));
  ASSIGN_OR_RETURN(c->vector_quantization_hidden_dimension,
                   f.Int("vector_quantization_hidden_dimension", c->vector_quantization_hidden_dimension));
  ASSIGN_OR_RETURN(c->upsample_rates, f.IntList("upsample_rates", c->upsample_rates));
  ASSIGN_OR_RETURN(c->upsampling_ratios, f.IntList("upsampling_ratios", c->upsampling_ratios));
  ASSIGN_OR_RETURN(c->decoder_dim, f.Int("decoder_dim", c->decoder_dim));
  for (int64_t r : c->upsample_rates) RETURN_IF_ERROR(PositiveOrError(f, "upsample_rates", r));
  for (int64_t r : c->upsampling_ratios) RETURN_IF_ERROR(PositiveOrError(f, "upsampling_ratios", r));
  return absl::OkStatus();
}

}  // namespace

const char* ModelVariantName(ModelVariant variant) {
  switch (variant) {
    case ModelVariant::kBase: return "base";
    case ModelVariant::kCustomVoice: return "custom_voice";
    case ModelVariant::kVoiceDesign: return "voice_design";
  }
  return "unknown";
}

absl::StatusOr<ModelVariant> ParseModelVariant(const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "base") return ModelVariant::kBase;
  if (lower == "custom_voice") return ModelVariant::kCustomVoice;
  if (lower == "voice_design") return ModelVariant::kVoiceDesign;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown model variant '", name, "' (allowed: base, custom_voice, voice_design)"));
}

std::string ModelConfig::SizeLabel() const {
  if (tts_model_size == "0b6") return "0.6B";
  if (tts_model_size == "1b7") return "1.7B";
  return tts_model_size;
}

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& path) {
  ASSIGN_OR_RETURN(nlohmann::json json, ReadJsonFile(path));
  JsonFields f(&json, path);
  RETURN_IF_ERROR(f.CheckIsObject());
  ModelConfig c;
  c.file = path;
  ASSIGN_OR_RETURN(c.tts_model_type, f.String("tts_model_type"));
  absl::StatusOr<ModelVariant> variant = ParseModelVariant(c.tts_model_type);
  if (!variant.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.Where("tts_model_type"), ": ", variant.status().message()));
  }
  c.variant = *variant;
  ASSIGN_OR_RETURN(c.tts_model_size, f.String("tts_model_size"));
  ASSIGN_OR_RETURN(c.tokenizer_type, f.String("tokenizer_type", "qwen3_tts_tokenizer_12hz"));
  if (c.tokenizer_type != "qwen3_tts_tokenizer_12hz") {
    return absl::UnimplementedError(absl::StrCat(f.Where("tokenizer_type"), ": '", c.tokenizer_type,
                                                 "' is not supported (supported: qwen3_tts_tokenizer_12hz)"));
  }
  ASSIGN_OR_RETURN(c.im_start_token_id, f.Int("im_start_token_id"));
  ASSIGN_OR_RETURN(c.im_end_token_id, f.Int("im_end_token_id"));
  ASSIGN_OR_RETURN(c.tts_pad_token_id, f.Int("tts_pad_token_id"));
  ASSIGN_OR_RETURN(c.tts_bos_token_id, f.Int("tts_bos_token_id"));
  ASSIGN_OR_RETURN(c.tts_eos_token_id, f.Int("tts_eos_token_id"));
  ASSIGN_OR_RETURN(c.assistant_token_id, f.Int("assistant_token_id", c.assistant_token_id));
  ASSIGN_OR_RETURN(JsonFields talker, f.Object("talker_config"));
  RETURN_IF_ERROR(ParseTalker(talker, &c.talker));
  ASSIGN_OR_RETURN(std::optional<JsonFields> spk, f.OptionalObject("speaker_encoder_config"));
  if (spk.has_value()) {
    SpeakerEncoderConfig se;
    RETURN_IF_ERROR(ParseSpeakerEncoder(*spk, &se));
    c.speaker_encoder = se;
  }
  if (c.variant == ModelVariant::kCustomVoice && c.talker.spk_id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(talker.Where("spk_id"), ": a custom_voice model must list its speakers"));
  }
  return c;
}

absl::StatusOr<GenerationConfig> ParseGenerationConfig(const std::string& path) {
  GenerationConfig g;
  if (!PathExists(path)) return g;
  ASSIGN_OR_RETURN(nlohmann::json json, ReadJsonFile(path));
  JsonFields f(&json, path);
  RETURN_IF_ERROR(f.CheckIsObject());
  ASSIGN_OR_RETURN(g.do_sample, f.Bool("do_sample", g.do_sample));
  ASSIGN_OR_RETURN(g.repetition_penalty, f.Double("repetition_penalty", g.repetition_penalty));
  ASSIGN_OR_RETURN(g.temperature, f.Double("temperature", g.temperature));
  ASSIGN_OR_RETURN(g.top_p, f.Double("top_p", g.top_p));
  ASSIGN_OR_RETURN(g.top_k, f.Int("top_k", g.top_k));
  ASSIGN_OR_RETURN(g.subtalker_do_sample, f.Bool("subtalker_dosample", g.subtalker_do_sample));
  ASSIGN_OR_RETURN(g.subtalker_top_k, f.Int("subtalker_top_k", g.subtalker_top_k));
  ASSIGN_OR_RETURN(g.subtalker_top_p, f.Double("subtalker_top_p", g.subtalker_top_p));
  ASSIGN_OR_RETURN(g.subtalker_temperature, f.Double("subtalker_temperature", g.subtalker_temperature));
  ASSIGN_OR_RETURN(g.max_new_tokens, f.Int("max_new_tokens", g.max_new_tokens));
  return g;
}

absl::StatusOr<SpeechTokenizerConfig> ParseSpeechTokenizerConfig(const std::string& path) {
  ASSIGN_OR_RETURN(nlohmann::json json, ReadJsonFile(path));
  JsonFields f(&json, path);
  RETURN_IF_ERROR(f.CheckIsObject());
  SpeechTokenizerConfig c;
  c.file = path;
  ASSIGN_OR_RETURN(std::string model_type, f.String("model_type", "qwen3_tts_tokenizer_12hz"));
  if (model_type != "qwen3_tts_tokenizer_12hz") {
    return absl::UnimplementedError(absl::StrCat(f.Where("model_type"), ": '", model_type,
                                                 "' is not supported (supported: qwen3_tts_tokenizer_12hz)"));
  }
  ASSIGN_OR_RETURN(c.encoder_valid_num_quantizers, f.Int("encoder_valid_num_quantizers", 16));
  ASSIGN_OR_RETURN(c.input_sample_rate, f.Int("input_sample_rate", 24000));
  ASSIGN_OR_RETURN(c.output_sample_rate, f.Int("output_sample_rate", 24000));
  ASSIGN_OR_RETURN(c.decode_upsample_rate, f.Int("decode_upsample_rate", 1920));
  ASSIGN_OR_RETURN(c.encode_downsample_rate, f.Int("encode_downsample_rate", 1920));
  ASSIGN_OR_RETURN(JsonFields enc, f.Object("encoder_config"));
  RETURN_IF_ERROR(ParseCodecEncoder(enc, &c.encoder));
  ASSIGN_OR_RETURN(JsonFields dec, f.Object("decoder_config"));
  RETURN_IF_ERROR(ParseCodecDecoder(dec, &c.decoder));
  int64_t upsample = 1;
  for (int64_t r : c.decoder.upsample_rates) upsample *= r;
  for (int64_t r : c.decoder.upsampling_ratios) upsample *= r;
  if (upsample != c.decode_upsample_rate) {
    return absl::InvalidArgumentError(absl::StrCat(
        f.Where("decode_upsample_rate"), ": ", c.decode_upsample_rate,
        " does not equal the product of decoder upsample_rates and upsampling_ratios (", upsample, ")"));
  }
  return c;
}

absl::StatusOr<ModelInfo> LoadModelInfo(const std::string& model_dir) {
  if (!IsDirectory(model_dir)) {
    return absl::NotFoundError(absl::StrCat(model_dir, ": model directory not found"));
  }
  ModelInfo info;
  info.dir = model_dir;
  ASSIGN_OR_RETURN(info.config, ParseModelConfig(JoinPath(model_dir, "config.json")));
  ASSIGN_OR_RETURN(info.generation, ParseGenerationConfig(JoinPath(model_dir, "generation_config.json")));
  const std::string st_config = JoinPath(model_dir, "speech_tokenizer/config.json");
  if (PathExists(st_config)) {
    ASSIGN_OR_RETURN(SpeechTokenizerConfig st, ParseSpeechTokenizerConfig(st_config));
    info.speech_tokenizer = st;
  }
  return info;
}

}  // namespace qwen3tts

namespace qwen3tts {
std::string DescribeModel(const ModelInfo& info) {
  const ModelConfig& c = info.config;
  std::string speakers;
  for (const auto& [name, id] : c.talker.spk_id) {
    absl::StrAppend(&speakers, speakers.empty() ? "" : ", ", name);
    auto dialect = c.talker.spk_is_dialect.find(name);
    if (dialect != c.talker.spk_is_dialect.end()) absl::StrAppend(&speakers, " (", dialect->second, ")");
  }
  std::string languages;
  for (const auto& [name, id] : c.talker.codec_language_id) {
    absl::StrAppend(&languages, languages.empty() ? "" : ", ", name);
  }
  std::string out = absl::StrCat(
      info.dir, ": Qwen3-TTS ", c.SizeLabel(), " ", ModelVariantName(c.variant), "\n",
      "  talker: hidden ", c.talker.hidden_size, ", ", c.talker.num_hidden_layers, " layers, ",
      c.talker.num_attention_heads, " heads / ", c.talker.num_key_value_heads, " KV heads, head_dim ",
      c.talker.head_dim, ", codec vocab ", c.talker.vocab_size, ", text hidden ", c.talker.text_hidden_size, "\n",
      "  code predictor: hidden ", c.talker.code_predictor.hidden_size, ", ",
      c.talker.code_predictor.num_hidden_layers, " layers, ", c.talker.num_code_groups, " code groups\n",
      "  speakers: ", speakers.empty() ? "(none)" : speakers, "\n",
      "  languages: ", languages.empty() ? "(none)" : languages, "\n");
  if (c.speaker_encoder.has_value()) {
    absl::StrAppend(&out, "  speaker encoder: enc_dim ", c.speaker_encoder->enc_dim, ", mel ",
                    c.speaker_encoder->mel_dim, "\n");
  }
  if (info.speech_tokenizer.has_value()) {
    absl::StrAppend(&out, "  speech tokenizer: ", info.speech_tokenizer->decoder.num_quantizers,
                    " codebooks, ", info.speech_tokenizer->decode_upsample_rate, " samples/frame at ",
                    info.speech_tokenizer->output_sample_rate, " Hz\n");
  }
  return out;
}
}  // namespace qwen3tts
