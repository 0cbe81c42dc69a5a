// Typed views of the Qwen3-TTS configuration files:
//   <model>/config.json, <model>/generation_config.json, <model>/speech_tokenizer/config.json.
// Every missing or ill-typed required field is an INVALID_ARGUMENT naming the file and field.
// Optional fields take the reference implementation's defaults.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace qwen3tts {

// Shared by the talker, the code predictor and the codec transformers.
struct TransformerConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // may differ from hidden_size / num_attention_heads
  std::string hidden_act = "silu";
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int64_t max_position_embeddings = 32768;
  bool attention_bias = false;
  std::optional<int64_t> sliding_window;  // set only when sliding-window attention is in use
  // Multimodal RoPE (talker): sections of head_dim/2 rotary frequencies for the 3 position
  // streams (temporal, height, width); empty = plain RoPE. `mrope_interleaved` selects the
  // interleaved frequency layout.
  std::vector<int64_t> mrope_section;
  bool mrope_interleaved = false;
};

struct CodePredictorConfig : TransformerConfig {
  int64_t num_code_groups = 16;
};

struct TalkerConfig : TransformerConfig {
  int64_t text_vocab_size = 0;
  int64_t text_hidden_size = 0;
  int64_t num_code_groups = 16;
  int64_t codec_eos_token_id = 0;
  int64_t codec_think_id = 0;
  int64_t codec_nothink_id = 0;
  int64_t codec_think_bos_id = 0;
  int64_t codec_think_eos_id = 0;
  int64_t codec_pad_id = 0;
  int64_t codec_bos_id = 0;
  std::map<std::string, int64_t> codec_language_id;  // lower-case language name -> codec id
  std::map<std::string, int64_t> spk_id;             // lower-case speaker name -> codec id
  // speaker -> dialect language name (a key of codec_language_id); absent = not a dialect speaker
  std::map<std::string, std::string> spk_is_dialect;
  CodePredictorConfig code_predictor;
};

struct SpeakerEncoderConfig {
  int64_t mel_dim = 128;
  int64_t enc_dim = 1024;
  std::vector<int64_t> enc_channels = {512, 512, 512, 512, 1536};
  std::vector<int64_t> enc_kernel_sizes = {5, 3, 3, 3, 1};
  std::vector<int64_t> enc_dilations = {1, 2, 3, 4, 1};
  int64_t enc_attention_channels = 128;
  int64_t enc_res2net_scale = 8;
  int64_t enc_se_channels = 128;
  int64_t sample_rate = 24000;
};

enum class ModelVariant { kBase, kCustomVoice, kVoiceDesign };
// "base", "custom_voice", "voice_design"
const char* ModelVariantName(ModelVariant variant);
absl::StatusOr<ModelVariant> ParseModelVariant(const std::string& name);

struct ModelConfig {
  std::string file;            // path of config.json, for messages
  ModelVariant variant = ModelVariant::kBase;
  std::string tts_model_type;  // as written: "base" | "custom_voice" | "voice_design"
  std::string tts_model_size;  // e.g. "0b6", "1b7"
  std::string tokenizer_type;  // "qwen3_tts_tokenizer_12hz"
  int64_t im_start_token_id = 151644;
  int64_t im_end_token_id = 151645;
  int64_t tts_pad_token_id = 151671;
  int64_t tts_bos_token_id = 151672;
  int64_t tts_eos_token_id = 151673;
  int64_t assistant_token_id = 77091;
  TalkerConfig talker;
  std::optional<SpeakerEncoderConfig> speaker_encoder;  // Base models use it for x-vectors

  // Human-readable size label ("0.6B", "1.7B", or the raw tts_model_size).
  std::string SizeLabel() const;
};

struct GenerationConfig {
  bool do_sample = true;
  double repetition_penalty = 1.05;
  double temperature = 0.9;
  double top_p = 1.0;
  int64_t top_k = 50;
  bool subtalker_do_sample = true;
  int64_t subtalker_top_k = 50;
  double subtalker_top_p = 1.0;
  double subtalker_temperature = 0.9;
  int64_t max_new_tokens = 8192;
};

// speech_tokenizer/config.json, encoder_config (Mimi-style).
struct CodecEncoderConfig {
  int64_t sampling_rate = 24000;
  int64_t audio_channels = 1;
  int64_t num_filters = 64;
  int64_t kernel_size = 7;
  int64_t residual_kernel_size = 3;
  int64_t last_kernel_size = 3;
  int64_t num_residual_layers = 1;
  int64_t dilation_growth_rate = 2;
  int64_t compress = 2;
  std::vector<int64_t> upsampling_ratios = {8, 6, 5, 4};
  int64_t hidden_size = 512;
  int64_t num_hidden_layers = 8;
  int64_t num_attention_heads = 8;
  int64_t num_key_value_heads = 8;
  int64_t head_dim = 64;
  int64_t intermediate_size = 2048;
  std::string hidden_act = "gelu";
  double norm_eps = 1e-5;
  double layer_scale_initial_scale = 0.01;
  double rope_theta = 10000.0;
  int64_t max_position_embeddings = 8000;
  int64_t sliding_window = 250;
  int64_t num_quantizers = 32;
  int64_t num_semantic_quantizers = 1;
  int64_t codebook_size = 2048;
  int64_t codebook_dim = 256;
  int64_t vector_quantization_hidden_dimension = 256;
  int64_t upsample_groups = 512;
  bool use_causal_conv = true;
  std::string pad_mode = "constant";
  bool use_conv_shortcut = false;
  double trim_right_ratio = 1.0;
  double frame_rate = 12.5;
};

// speech_tokenizer/config.json, decoder_config.
struct CodecDecoderConfig {
  int64_t codebook_size = 2048;
  int64_t codebook_dim = 512;
  int64_t hidden_size = 1024;
  int64_t latent_dim = 1024;
  int64_t max_position_embeddings = 8000;
  double rope_theta = 10000.0;
  int64_t num_attention_heads = 16;
  int64_t num_key_value_heads = 16;
  int64_t head_dim = 64;
  bool attention_bias = false;
  int64_t sliding_window = 72;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "silu";
  double layer_scale_initial_scale = 0.01;
  double rms_norm_eps = 1e-5;
  int64_t num_hidden_layers = 8;
  int64_t num_quantizers = 16;
  int64_t num_semantic_quantizers = 1;
  int64_t semantic_codebook_size = 4096;
  int64_t vector_quantization_hidden_dimension = 512;
  std::vector<int64_t> upsample_rates = {8, 5, 4, 3};
  std::vector<int64_t> upsampling_ratios = {2, 2};
  int64_t decoder_dim = 1536;
};

struct SpeechTokenizerConfig {
  std::string file;
  int64_t encoder_valid_num_quantizers = 16;
  int64_t input_sample_rate = 24000;
  int64_t output_sample_rate = 24000;
  int64_t decode_upsample_rate = 1920;
  int64_t encode_downsample_rate = 1920;
  CodecEncoderConfig encoder;
  CodecDecoderConfig decoder;
};

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& config_json_path);
// Missing file -> defaults (the reference falls back to them too).
absl::StatusOr<GenerationConfig> ParseGenerationConfig(const std::string& generation_config_path);
absl::StatusOr<SpeechTokenizerConfig> ParseSpeechTokenizerConfig(const std::string& config_json_path);

// Everything about one model directory (config + generation config + speech tokenizer config).
struct ModelInfo {
  std::string dir;
  ModelConfig config;
  GenerationConfig generation;
  std::optional<SpeechTokenizerConfig> speech_tokenizer;  // absent when no speech_tokenizer/ dir
};
absl::StatusOr<ModelInfo> LoadModelInfo(const std::string& model_dir);

}  // namespace qwen3tts

namespace qwen3tts {
// One paragraph describing a model for logs and `qwen3-tts info`: variant, size, layer shapes,
// speakers (with dialects) and languages.
std::string DescribeModel(const ModelInfo& info);
}  // namespace qwen3tts
