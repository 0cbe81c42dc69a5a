#include "common/codec/speech_encoder_random.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "absl/strings/str_cat.h"

namespace qwen3tts {
namespace {

class Filler {
 public:
  explicit Filler(uint64_t seed) : gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}
  // Weight [out, in, k] or [out, in] scaled by 1/sqrt(fan_in).
  void Weight(const std::string& name, std::vector<int64_t> shape) {
    int64_t fan_in = 1;
    for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
    out.emplace_back(name, at::randn(shape, gen_) / std::sqrt(static_cast<double>(std::max<int64_t>(1, fan_in))));
  }
  void Small(const std::string& name, int64_t n) { out.emplace_back(name, at::randn({n}, gen_) * 0.01); }
  void Fill(const std::string& name, std::vector<int64_t> shape, double value) {
    out.emplace_back(name, at::full(shape, value));
  }
  std::vector<std::pair<std::string, at::Tensor>> out;

 private:
  at::Generator gen_;
};

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> RandomSpeechEncoderWeights(const SpeechTokenizerConfig& config,
                                                                           uint64_t seed) {
  const CodecEncoderConfig& c = config.encoder;
  Filler f(seed);
  auto conv = [&](const std::string& p, int64_t in, int64_t out, int64_t k, bool bias) {
    f.Weight(p + ".weight", {out, in, k});
    if (bias) f.Small(p + ".bias", out);
  };
  int64_t index = 0;
  conv(absl::StrCat("encoder.encoder.layers.", index++, ".conv"), 1, c.num_filters, c.kernel_size, true);
  int64_t scale = 1;
  for (auto it = c.upsampling_ratios.rbegin(); it != c.upsampling_ratios.rend(); ++it) {
    const int64_t dim = scale * c.num_filters;
    for (int64_t j = 0; j < c.num_residual_layers; ++j) {
      const std::string p = absl::StrCat("encoder.encoder.layers.", index++, ".block.");
      conv(p + "1.conv", dim, dim / c.compress, c.residual_kernel_size, true);
      conv(p + "3.conv", dim / c.compress, dim, 1, true);
    }
    ++index;
    conv(absl::StrCat("encoder.encoder.layers.", index++, ".conv"), dim, dim * 2, *it * 2, true);
    scale *= 2;
  }
  ++index;
  conv(absl::StrCat("encoder.encoder.layers.", index, ".conv"), scale * c.num_filters, c.hidden_size, c.last_kernel_size, true);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat("encoder.encoder_transformer.layers.", i, ".");
    for (const char* norm : {"input_layernorm", "post_attention_layernorm"}) {
      f.Fill(p + norm + ".weight", {c.hidden_size}, 1.0);
      f.Fill(p + norm + ".bias", {c.hidden_size}, 0.0);
    }
    f.Weight(p + "self_attn.q_proj.weight", {c.num_attention_heads * c.head_dim, c.hidden_size});
    f.Weight(p + "self_attn.k_proj.weight", {c.num_key_value_heads * c.head_dim, c.hidden_size});
    f.Weight(p + "self_attn.v_proj.weight", {c.num_key_value_heads * c.head_dim, c.hidden_size});
    f.Weight(p + "self_attn.o_proj.weight", {c.hidden_size, c.num_attention_heads * c.head_dim});
    f.Weight(p + "mlp.fc1.weight", {c.intermediate_size, c.hidden_size});
    f.Weight(p + "mlp.fc2.weight", {c.hidden_size, c.intermediate_size});
    f.Fill(p + "self_attn_layer_scale.scale", {c.hidden_size}, c.layer_scale_initial_scale);
    f.Fill(p + "mlp_layer_scale.scale", {c.hidden_size}, c.layer_scale_initial_scale);
  }
  int64_t hop = 1;
  for (int64_t r : c.upsampling_ratios) hop *= r;
  const int64_t kernel = 2 * static_cast<int64_t>((static_cast<double>(c.sampling_rate) / hop) / c.frame_rate);
  f.Weight("encoder.downsample.conv.weight", {c.hidden_size, c.hidden_size, kernel});
  auto rvq = [&](const std::string& p, int64_t count) {
    f.Weight(p + ".input_proj.weight", {c.vector_quantization_hidden_dimension, c.hidden_size, 1});
    f.Weight(p + ".output_proj.weight", {c.hidden_size, c.vector_quantization_hidden_dimension, 1});
    for (int64_t i = 0; i < count; ++i) {
      const std::string q = absl::StrCat(p, ".layers.", i, ".codebook.");
      f.Weight(q + "embed_sum", {c.codebook_size, c.codebook_dim});
      f.Fill(q + "cluster_usage", {c.codebook_size}, 1.0);
      f.Fill(q + "initialized", {1}, 1.0);
    }
  };
  rvq("encoder.quantizer.semantic_residual_vector_quantizer", c.num_semantic_quantizers);
  rvq("encoder.quantizer.acoustic_residual_vector_quantizer", c.num_quantizers - c.num_semantic_quantizers);
  return std::move(f.out);
}

std::vector<std::pair<std::string, at::Tensor>> RandomSpeakerEncoderWeights(const SpeakerEncoderConfig& c,
                                                                            uint64_t seed) {
  Filler f(seed);
  auto conv = [&](const std::string& p, int64_t in, int64_t out, int64_t k) {
    f.Weight(p + ".weight", {out, in, k});
    f.Small(p + ".bias", out);
  };
  const std::vector<int64_t>& ch = c.enc_channels;
  const size_t n = ch.size();
  conv("speaker_encoder.blocks.0.conv", c.mel_dim, ch[0], c.enc_kernel_sizes[0]);
  int64_t mfa_in = 0;
  for (size_t i = 1; i + 1 < n; ++i) {
    const std::string p = absl::StrCat("speaker_encoder.blocks.", i, ".");
    conv(p + "tdnn1.conv", ch[i - 1], ch[i], 1);
    for (int64_t s = 0; s + 1 < c.enc_res2net_scale; ++s) {
      conv(absl::StrCat(p, "res2net_block.blocks.", s, ".conv"), ch[i] / c.enc_res2net_scale,
           ch[i] / c.enc_res2net_scale, c.enc_kernel_sizes[i]);
    }
    conv(p + "tdnn2.conv", ch[i], ch[i], 1);
    conv(p + "se_block.conv1", ch[i], c.enc_se_channels, 1);
    conv(p + "se_block.conv2", c.enc_se_channels, ch[i], 1);
    mfa_in += ch[i];
  }
  conv("speaker_encoder.mfa.conv", mfa_in, ch[n - 1], c.enc_kernel_sizes[n - 1]);
  conv("speaker_encoder.asp.tdnn.conv", ch[n - 1] * 3, c.enc_attention_channels, 1);
  conv("speaker_encoder.asp.conv", c.enc_attention_channels, ch[n - 1], 1);
  conv("speaker_encoder.fc", ch[n - 1] * 2, c.enc_dim, 1);
  return std::move(f.out);
}

}  // namespace qwen3tts
