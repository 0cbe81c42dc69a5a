#include "common/tts/random_model.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/codec/decoder_random_weights.h"
#include "common/codec/speech_encoder_random.h"
#include "common/talker/random_weights.h"
#include "common/text/tokenizer.h"
#include "common/tensor/safetensors.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

namespace fs = std::filesystem;

absl::Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat(path.string(), ": write failed"));
  return absl::OkStatus();
}

// A byte-level BPE tokenizer: the 256 byte tokens, merges that make "assistant" one token (so the
// chat template has the official 3-token role prefix) and the special tokens at their official ids.
nlohmann::json ByteLevelTokenizerJson(const ModelConfig& c) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteLevelChar(static_cast<uint8_t>(b))] = b;
  nlohmann::json merges = nlohmann::json::array();
  const std::string word = "assistant";
  std::string prefix(1, word[0]);
  int64_t next = 256;
  for (size_t i = 1; i < word.size(); ++i) {
    merges.push_back(prefix + " " + std::string(1, word[i]));
    prefix += word[i];
    vocab[prefix] = next++;
  }
  nlohmann::json added = nlohmann::json::array();
  auto add = [&](int64_t id, const std::string& content) {
    added.push_back({{"id", id}, {"content", content}, {"special", true}, {"normalized", false},
                     {"lstrip", false}, {"rstrip", false}, {"single_word", false}});
  };
  add(151643, "<|endoftext|>");
  add(c.im_start_token_id, "<|im_start|>");
  add(c.im_end_token_id, "<|im_end|>");
  add(c.tts_pad_token_id, "<|tts_pad|>");
  add(c.tts_bos_token_id, "<|tts_text_bos|>");
  add(c.tts_eos_token_id, "<|tts_text_eod|>");
  return {{"version", "1.0"},
          {"normalizer", {{"type", "NFC"}}},
          {"added_tokens", added},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
}

void ToBf16(std::vector<std::pair<std::string, at::Tensor>>* tensors) {
  for (auto& [name, t] : *tensors) {
    if (at::isFloatingType(t.scalar_type())) t = t.to(at::kBFloat16);
  }
}

}  // namespace

absl::StatusOr<SpeechTokenizerConfig> PresetSpeechTokenizerConfig(const std::string& shape) {
  SpeechTokenizerConfig c;  // field defaults are the released codec's
  if (shape == "tiny") {
    CodecEncoderConfig& e = c.encoder;
    e.num_filters = 4;
    e.hidden_size = 32;
    e.num_hidden_layers = 2;
    e.num_attention_heads = 4;
    e.num_key_value_heads = 4;
    e.head_dim = 8;
    e.intermediate_size = 64;
    e.num_quantizers = 20;
    e.codebook_dim = 16;
    e.vector_quantization_hidden_dimension = 16;
    e.upsample_groups = 32;
    CodecDecoderConfig& d = c.decoder;
    d.codebook_dim = 32;
    d.hidden_size = 32;
    d.latent_dim = 48;
    d.num_attention_heads = 2;
    d.num_key_value_heads = 2;
    d.head_dim = 24;
    d.sliding_window = 8;
    d.intermediate_size = 64;
    d.num_hidden_layers = 2;
    d.semantic_codebook_size = 2048;
    d.vector_quantization_hidden_dimension = 32;
    d.decoder_dim = 64;
  } else if (shape != "0.6b" && shape != "1.7b") {
    return absl::InvalidArgumentError(absl::StrCat("unknown model shape '", shape, "' (allowed: tiny, 0.6b, 1.7b)"));
  }
  return c;
}

nlohmann::json SpeechTokenizerConfigToJson(const SpeechTokenizerConfig& c) {
  const CodecEncoderConfig& e = c.encoder;
  const CodecDecoderConfig& d = c.decoder;
  nlohmann::json encoder = {
      {"model_type", "mimi"}, {"_frame_rate", e.frame_rate}, {"sampling_rate", e.sampling_rate},
      {"audio_channels", e.audio_channels}, {"num_filters", e.num_filters}, {"kernel_size", e.kernel_size},
      {"residual_kernel_size", e.residual_kernel_size}, {"last_kernel_size", e.last_kernel_size},
      {"num_residual_layers", e.num_residual_layers}, {"dilation_growth_rate", e.dilation_growth_rate},
      {"compress", e.compress}, {"upsampling_ratios", e.upsampling_ratios}, {"hidden_size", e.hidden_size},
      {"num_hidden_layers", e.num_hidden_layers}, {"num_attention_heads", e.num_attention_heads},
      {"num_key_value_heads", e.num_key_value_heads}, {"head_dim", e.head_dim},
      {"intermediate_size", e.intermediate_size}, {"hidden_act", e.hidden_act}, {"norm_eps", e.norm_eps},
      {"layer_scale_initial_scale", e.layer_scale_initial_scale}, {"rope_theta", e.rope_theta},
      {"max_position_embeddings", e.max_position_embeddings}, {"sliding_window", e.sliding_window},
      {"num_quantizers", e.num_quantizers}, {"num_semantic_quantizers", e.num_semantic_quantizers},
      {"codebook_size", e.codebook_size}, {"codebook_dim", e.codebook_dim},
      {"vector_quantization_hidden_dimension", e.vector_quantization_hidden_dimension},
      {"upsample_groups", e.upsample_groups}, {"use_causal_conv", e.use_causal_conv}, {"pad_mode", e.pad_mode},
      {"use_conv_shortcut", e.use_conv_shortcut}, {"trim_right_ratio", e.trim_right_ratio}};
  nlohmann::json decoder = {
      {"codebook_size", d.codebook_size}, {"codebook_dim", d.codebook_dim}, {"hidden_size", d.hidden_size},
      {"latent_dim", d.latent_dim}, {"max_position_embeddings", d.max_position_embeddings},
      {"rope_theta", d.rope_theta}, {"num_attention_heads", d.num_attention_heads},
      {"num_key_value_heads", d.num_key_value_heads}, {"head_dim", d.head_dim},
      {"attention_bias", d.attention_bias}, {"sliding_window", d.sliding_window},
      {"intermediate_size", d.intermediate_size}, {"hidden_act", d.hidden_act},
      {"layer_scale_initial_scale", d.layer_scale_initial_scale}, {"rms_norm_eps", d.rms_norm_eps},
      {"num_hidden_layers", d.num_hidden_layers}, {"num_quantizers", d.num_quantizers},
      {"num_semantic_quantizers", d.num_semantic_quantizers}, {"semantic_codebook_size", d.semantic_codebook_size},
      {"vector_quantization_hidden_dimension", d.vector_quantization_hidden_dimension},
      {"upsample_rates", d.upsample_rates}, {"upsampling_ratios", d.upsampling_ratios}, {"decoder_dim", d.decoder_dim}};
  return {{"architectures", {"Qwen3TTSTokenizerV2Model"}},
          {"model_type", "qwen3_tts_tokenizer_12hz"},
          {"encoder_valid_num_quantizers", c.encoder_valid_num_quantizers},
          {"input_sample_rate", c.input_sample_rate},
          {"output_sample_rate", c.output_sample_rate},
          {"decode_upsample_rate", c.decode_upsample_rate},
          {"encode_downsample_rate", c.encode_downsample_rate},
          {"encoder_config", encoder},
          {"decoder_config", decoder}};
}

absl::Status WriteRandomModel(const std::string& out_dir, const RandomModelOptions& o) {
  ASSIGN_OR_RETURN(ModelConfig config, PresetModelConfig(o.shape, o.variant));
  ASSIGN_OR_RETURN(SpeechTokenizerConfig st, PresetSpeechTokenizerConfig(o.shape));
  const fs::path dir(out_dir);
  std::error_code ec;
  fs::create_directories(dir / "speech_tokenizer", ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(out_dir, ": cannot create: ", ec.message()));
  RETURN_IF_ERROR(WriteText(dir / "config.json", ModelConfigToJson(config).dump(2)));
  GenerationConfig g;
  nlohmann::json gen = {{"do_sample", g.do_sample}, {"repetition_penalty", g.repetition_penalty},
                        {"temperature", g.temperature}, {"top_p", g.top_p}, {"top_k", g.top_k},
                        {"subtalker_dosample", g.subtalker_do_sample}, {"subtalker_top_k", g.subtalker_top_k},
                        {"subtalker_top_p", g.subtalker_top_p}, {"subtalker_temperature", g.subtalker_temperature},
                        {"max_new_tokens", g.max_new_tokens}};
  RETURN_IF_ERROR(WriteText(dir / "generation_config.json", gen.dump(2)));
  if (!o.tokenizer_from.empty()) {
    for (const char* name : {"vocab.json", "merges.txt", "tokenizer_config.json"}) {
      fs::copy_file(fs::path(o.tokenizer_from) / name, dir / name, fs::copy_options::overwrite_existing, ec);
      if (ec) return absl::NotFoundError(absl::StrCat(o.tokenizer_from, "/", name, ": cannot copy: ", ec.message()));
    }
  } else {
    RETURN_IF_ERROR(WriteText(dir / "tokenizer.json", ByteLevelTokenizerJson(config).dump()));
  }
  std::vector<std::pair<std::string, at::Tensor>> weights = RandomTalkerWeights(config, o.seed, at::kBFloat16);
  if (config.speaker_encoder.has_value()) {
    auto spk = RandomSpeakerEncoderWeights(*config.speaker_encoder, o.seed + 1);
    ToBf16(&spk);
    weights.insert(weights.end(), spk.begin(), spk.end());
  }
  RETURN_IF_ERROR(WriteSafetensors((dir / "model.safetensors").string(), weights, {{"format", "pt"}}));
  weights.clear();
  RETURN_IF_ERROR(WriteText(dir / "speech_tokenizer" / "config.json", SpeechTokenizerConfigToJson(st).dump(2)));
  auto codec = RandomDecoderWeights(st.decoder, o.seed + 2);
  auto encoder = RandomSpeechEncoderWeights(st, o.seed + 3);
  codec.insert(codec.end(), encoder.begin(), encoder.end());
  ToBf16(&codec);
  return WriteSafetensors((dir / "speech_tokenizer" / "model.safetensors").string(), codec, {{"format", "pt"}});
}

}  // namespace qwen3tts
