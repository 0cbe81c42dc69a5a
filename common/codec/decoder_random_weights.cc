#include "common/codec/decoder_random_weights.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "absl/strings/str_cat.h"

namespace qwen3tts {
namespace {

class WeightMaker {
 public:
  explicit WeightMaker(uint64_t seed) : gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}

  // Normal(0, gain/sqrt(fan_in)).
  void Normal(const std::string& name, at::IntArrayRef shape, int64_t fan_in, double gain = 1.0) {
    Add(name, at::normal(0.0, gain / std::sqrt(static_cast<double>(fan_in)), shape, gen_));
  }
  void NormalStd(const std::string& name, at::IntArrayRef shape, double stddev) {
    Add(name, at::normal(0.0, stddev, shape, gen_));
  }
  void Uniform(const std::string& name, at::IntArrayRef shape, double low, double high) {
    Add(name, at::empty(shape, at::kFloat).uniform_(low, high, gen_));
  }
  void Fill(const std::string& name, at::IntArrayRef shape, double value) {
    Add(name, at::full(shape, value, at::kFloat));
  }
  std::vector<std::pair<std::string, at::Tensor>> Take() { return std::move(tensors_); }

 private:
  void Add(const std::string& name, at::Tensor t) {
    tensors_.emplace_back(name, t.to(at::kFloat).contiguous());
  }
  at::Generator gen_;
  std::vector<std::pair<std::string, at::Tensor>> tensors_;
};

// `gain` < 1 keeps the residual stacks from growing the signal layer after layer: a decoder whose
// activations explode clips everything and amplifies float32 rounding, unlike a trained one.
void CausalConv(WeightMaker& w, const std::string& prefix, int64_t in, int64_t out, int64_t kernel,
                int64_t groups = 1, double gain = 1.0) {
  w.Normal(prefix + ".conv.weight", {out, in / groups, kernel}, in / groups * kernel, gain);
  w.NormalStd(prefix + ".conv.bias", {out}, 0.01);
}

void Snake(WeightMaker& w, const std::string& prefix, int64_t channels) {
  w.NormalStd(prefix + ".alpha", {channels}, 0.1);
  w.NormalStd(prefix + ".beta", {channels}, 0.1);
}

constexpr double kBlockGain = 0.7;
constexpr double kResidualGain = 0.3;
constexpr double kOutputGain = 0.3;

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> RandomDecoderWeights(
    const CodecDecoderConfig& c, uint64_t seed) {
  WeightMaker w(seed);
  const int64_t dim = c.codebook_dim / 2;

  // Quantizer: the reference always uses one semantic quantizer (rvq_first).
  for (const char* group : {"rvq_first", "rvq_rest"}) {
    const std::string prefix = absl::StrCat("decoder.quantizer.", group);
    const int64_t layers = std::string(group) == "rvq_first" ? 1 : c.num_quantizers - 1;
    for (int64_t i = 0; i < layers; ++i) {
      const std::string cb = absl::StrCat(prefix, ".vq.layers.", i, "._codebook");
      w.Uniform(cb + ".cluster_usage", {c.codebook_size}, 0.5, 2.0);
      w.NormalStd(cb + ".embedding_sum", {c.codebook_size, dim}, 1.0);
    }
    w.Normal(prefix + ".input_proj.weight", {dim, c.codebook_dim, 1}, c.codebook_dim);
    w.Normal(prefix + ".output_proj.weight", {c.codebook_dim, dim, 1}, dim);
  }

  CausalConv(w, "decoder.pre_conv", c.codebook_dim, c.latent_dim, 3);

  const std::string tf = "decoder.pre_transformer.";
  w.Normal(tf + "input_proj.weight", {c.hidden_size, c.latent_dim}, c.latent_dim);
  w.NormalStd(tf + "input_proj.bias", {c.hidden_size}, 0.01);
  const int64_t q_dim = c.num_attention_heads * c.head_dim;
  const int64_t kv_dim = c.num_key_value_heads * c.head_dim;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string l = absl::StrCat(tf, "layers.", i, ".");
    w.Uniform(l + "input_layernorm.weight", {c.hidden_size}, 0.8, 1.2);
    w.Uniform(l + "post_attention_layernorm.weight", {c.hidden_size}, 0.8, 1.2);
    w.Normal(l + "self_attn.q_proj.weight", {q_dim, c.hidden_size}, c.hidden_size);
    w.Normal(l + "self_attn.k_proj.weight", {kv_dim, c.hidden_size}, c.hidden_size);
    w.Normal(l + "self_attn.v_proj.weight", {kv_dim, c.hidden_size}, c.hidden_size);
    w.Normal(l + "self_attn.o_proj.weight", {c.hidden_size, q_dim}, q_dim);
    if (c.attention_bias) {
      w.NormalStd(l + "self_attn.q_proj.bias", {q_dim}, 0.01);
      w.NormalStd(l + "self_attn.k_proj.bias", {kv_dim}, 0.01);
      w.NormalStd(l + "self_attn.v_proj.bias", {kv_dim}, 0.01);
      w.NormalStd(l + "self_attn.o_proj.bias", {c.hidden_size}, 0.01);
    }
    w.Normal(l + "mlp.gate_proj.weight", {c.intermediate_size, c.hidden_size}, c.hidden_size);
    w.Normal(l + "mlp.up_proj.weight", {c.intermediate_size, c.hidden_size}, c.hidden_size);
    w.Normal(l + "mlp.down_proj.weight", {c.hidden_size, c.intermediate_size}, c.intermediate_size);
    w.Uniform(l + "self_attn_layer_scale.scale", {c.hidden_size}, 0.05, 0.2);
    w.Uniform(l + "mlp_layer_scale.scale", {c.hidden_size}, 0.05, 0.2);
  }
  w.Uniform(tf + "norm.weight", {c.hidden_size}, 0.8, 1.2);
  w.Normal(tf + "output_proj.weight", {c.latent_dim, c.hidden_size}, c.hidden_size);
  w.NormalStd(tf + "output_proj.bias", {c.latent_dim}, 0.01);

  for (size_t i = 0; i < c.upsampling_ratios.size(); ++i) {
    const std::string p = absl::StrCat("decoder.upsample.", i);
    const int64_t factor = c.upsampling_ratios[i];
    w.Normal(p + ".0.conv.weight", {c.latent_dim, c.latent_dim, factor}, c.latent_dim);
    w.NormalStd(p + ".0.conv.bias", {c.latent_dim}, 0.01);
    CausalConv(w, p + ".1.dwconv", c.latent_dim, c.latent_dim, 7, c.latent_dim);
    w.Uniform(p + ".1.norm.weight", {c.latent_dim}, 0.8, 1.2);
    w.NormalStd(p + ".1.norm.bias", {c.latent_dim}, 0.01);
    w.Normal(p + ".1.pwconv1.weight", {4 * c.latent_dim, c.latent_dim}, c.latent_dim);
    w.NormalStd(p + ".1.pwconv1.bias", {4 * c.latent_dim}, 0.01);
    w.Normal(p + ".1.pwconv2.weight", {c.latent_dim, 4 * c.latent_dim}, 4 * c.latent_dim);
    w.NormalStd(p + ".1.pwconv2.bias", {c.latent_dim}, 0.01);
    w.Uniform(p + ".1.gamma", {c.latent_dim}, 0.05, 0.2);
  }

  CausalConv(w, "decoder.decoder.0", c.latent_dim, c.decoder_dim, 7);
  const size_t stages = c.upsample_rates.size();
  for (size_t i = 0; i < stages; ++i) {
    const std::string p = absl::StrCat("decoder.decoder.", i + 1, ".block.");
    const int64_t in = c.decoder_dim >> i, out = c.decoder_dim >> (i + 1);
    const int64_t rate = c.upsample_rates[i];
    Snake(w, p + "0", in);
    w.Normal(p + "1.conv.weight", {in, out, 2 * rate}, in * 2, kBlockGain);
    w.NormalStd(p + "1.conv.bias", {out}, 0.01);
    for (int u = 0; u < 3; ++u) {
      const std::string r = absl::StrCat(p, u + 2);
      Snake(w, r + ".act1", out);
      CausalConv(w, r + ".conv1", out, out, 7, 1, kResidualGain);
      Snake(w, r + ".act2", out);
      CausalConv(w, r + ".conv2", out, out, 1, 1, kResidualGain);
    }
  }
  const int64_t output_dim = c.decoder_dim >> stages;
  Snake(w, absl::StrCat("decoder.decoder.", stages + 1), output_dim);
  CausalConv(w, absl::StrCat("decoder.decoder.", stages + 2), output_dim, 1, 7, 1, kOutputGain);
  return w.Take();
}

}  // namespace qwen3tts
