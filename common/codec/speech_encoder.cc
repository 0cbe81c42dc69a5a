#include "common/codec/speech_encoder.h"

#include <ATen/ATen.h>

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace qwen3tts {

at::Tensor SpeechEncoder::CausalConv::operator()(const at::Tensor& x) const {
  const int64_t k = weight.size(2);
  const int64_t k_eff = (k - 1) * dilation + 1;
  const int64_t padding_total = k_eff - stride;
  const int64_t length = x.size(-1);
  // Extra right padding so that the last (partial) window is computed, as Mimi/EnCodec do.
  const double frames = static_cast<double>(length - k_eff + padding_total) / static_cast<double>(stride) + 1.0;
  const int64_t n_frames = static_cast<int64_t>(std::ceil(frames)) - 1;
  const int64_t ideal = n_frames * stride + k_eff - padding_total;
  const int64_t extra = ideal - length;
  at::Tensor padded;
  if (replicate) {
    padded = at::replication_pad1d(x, {padding_total, extra});
  } else {
    padded = at::constant_pad_nd(x, {padding_total, extra}, 0.0);
  }
  return at::conv1d(padded, weight, bias, at::IntArrayRef{stride}, at::IntArrayRef{0}, at::IntArrayRef{dilation});
}

absl::StatusOr<std::shared_ptr<const SpeechEncoder>> SpeechEncoder::Load(const Checkpoint& ckpt,
                                                                         const SpeechTokenizerConfig& config) {
  const CodecEncoderConfig& c = config.encoder;
  if (c.audio_channels != 1) {
    return absl::UnimplementedError(absl::StrCat(config.file, ": encoder_config.audio_channels must be 1, got ", c.audio_channels));
  }
  if (c.hidden_act != "gelu") {
    return absl::UnimplementedError(absl::StrCat(config.file, ": encoder_config.hidden_act '", c.hidden_act, "' is not supported (supported: gelu)"));
  }
  std::shared_ptr<SpeechEncoder> e(new SpeechEncoder());
  e->config_ = config;
  e->num_codebooks_ = config.encoder_valid_num_quantizers;
  if (e->num_codebooks_ < c.num_semantic_quantizers + 1 || e->num_codebooks_ > c.num_quantizers) {
    return absl::InvalidArgumentError(absl::StrCat(config.file, ": encoder_valid_num_quantizers must be in [",
                                                   c.num_semantic_quantizers + 1, ", ", c.num_quantizers, "]"));
  }
  auto conv = [&](const std::string& prefix, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t dilation,
                  bool bias) -> absl::StatusOr<CausalConv> {
    CausalConv cv;
    cv.stride = stride;
    cv.dilation = dilation;
    ASSIGN_OR_RETURN(cv.weight, ckpt.LoadShaped(prefix + ".weight", {out, in, k}));
    if (bias) {
      ASSIGN_OR_RETURN(cv.bias, ckpt.LoadShaped(prefix + ".bias", {out}));
    }
    return cv;
  };
  // encoder.encoder.layers: conv, then per ratio (reversed): residual units, ELU, strided conv; ELU, conv.
  int64_t index = 0;
  ASSIGN_OR_RETURN(e->first_, conv(absl::StrCat("encoder.encoder.layers.", index++, ".conv"), 1, c.num_filters,
                                   c.kernel_size, 1, 1, true));
  int64_t scale = 1;
  for (auto it = c.upsampling_ratios.rbegin(); it != c.upsampling_ratios.rend(); ++it) {
    const int64_t ratio = *it, dim = scale * c.num_filters, hidden = dim / c.compress;
    Stage stage;
    for (int64_t j = 0; j < c.num_residual_layers; ++j) {
      const std::string p = absl::StrCat("encoder.encoder.layers.", index++, ".block.");
      ResidualUnit u;
      int64_t dilation = static_cast<int64_t>(std::pow(c.dilation_growth_rate, j));
      ASSIGN_OR_RETURN(u.conv1, conv(p + "1.conv", dim, hidden, c.residual_kernel_size, 1, dilation, true));
      ASSIGN_OR_RETURN(u.conv2, conv(p + "3.conv", hidden, dim, 1, 1, 1, true));
      stage.units.push_back(std::move(u));
    }
    ++index;  // ELU
    ASSIGN_OR_RETURN(stage.down, conv(absl::StrCat("encoder.encoder.layers.", index++, ".conv"), dim, dim * 2,
                                      ratio * 2, ratio, 1, true));
    e->stages_.push_back(std::move(stage));
    scale *= 2;
  }
  ++index;  // ELU
  ASSIGN_OR_RETURN(e->last_, conv(absl::StrCat("encoder.encoder.layers.", index, ".conv"), scale * c.num_filters,
                                  c.hidden_size, c.last_kernel_size, 1, 1, true));

  nn::BlockConfig block;
  block.hidden_size = c.hidden_size;
  block.num_heads = c.num_attention_heads;
  block.num_kv_heads = c.num_key_value_heads;
  block.head_dim = c.head_dim;
  block.intermediate_size = c.intermediate_size;
  block.norm_eps = c.norm_eps;
  block.norm = nn::NormKind::kLayerNorm;
  block.mlp = nn::MlpKind::kGeluFc;
  block.layer_scale = true;
  // transformers' Mimi (the reference's version) builds a plain causal mask for the encoder, so the
  // configured sliding_window does not apply; clips longer than it would differ otherwise.
  ASSIGN_OR_RETURN(e->transformer_, nn::TransformerStack::Load(ckpt, "encoder.encoder_transformer.", c.num_hidden_layers,
                                                                "", block, c.rope_theta, at::kFloat));
  // Downsample from the SEANet rate to the frame rate: kernel 2 * (rate ratio), stride 2, replicate padding.
  int64_t hop = 1;
  for (int64_t r : c.upsampling_ratios) hop *= r;
  const double encodec_rate = static_cast<double>(c.sampling_rate) / static_cast<double>(hop);
  const int64_t kernel = 2 * static_cast<int64_t>(encodec_rate / c.frame_rate);
  ASSIGN_OR_RETURN(e->downsample_, conv("encoder.downsample.conv", c.hidden_size, c.hidden_size, kernel, 2, 1, false));
  e->downsample_.replicate = true;

  auto rvq = [&](const std::string& prefix, int64_t count) -> absl::StatusOr<Rvq> {
    Rvq q;
    ASSIGN_OR_RETURN(q.input_proj, ckpt.LoadShaped(prefix + ".input_proj.weight",
                                                   {c.vector_quantization_hidden_dimension, c.hidden_size, 1}));
    for (int64_t i = 0; i < count; ++i) {
      const std::string p = absl::StrCat(prefix, ".layers.", i, ".codebook.");
      ASSIGN_OR_RETURN(at::Tensor sum, ckpt.LoadShaped(p + "embed_sum", {c.codebook_size, c.codebook_dim}));
      ASSIGN_OR_RETURN(at::Tensor usage, ckpt.LoadShaped(p + "cluster_usage", {c.codebook_size}));
      q.codebooks.push_back(sum / usage.clamp_min(1e-5).unsqueeze(1));
    }
    return q;
  };
  ASSIGN_OR_RETURN(e->semantic_, rvq("encoder.quantizer.semantic_residual_vector_quantizer", c.num_semantic_quantizers));
  ASSIGN_OR_RETURN(e->acoustic_, rvq("encoder.quantizer.acoustic_residual_vector_quantizer",
                                     e->num_codebooks_ - c.num_semantic_quantizers));
  return std::shared_ptr<const SpeechEncoder>(std::move(e));
}

at::Tensor SpeechEncoder::Quantize(const Rvq& rvq, const at::Tensor& embeddings, int64_t count,
                                   std::vector<at::Tensor>* out) {
  // embeddings [1, hidden, T] -> projected [T, dim]; residual nearest-code search.
  at::Tensor residual = at::conv1d(embeddings, rvq.input_proj).squeeze(0).transpose(0, 1).contiguous();
  for (int64_t i = 0; i < count; ++i) {
    const at::Tensor& codebook = rvq.codebooks[i];
    at::Tensor distances = at::cdist(residual.unsqueeze(0), codebook.unsqueeze(0), 2.0).squeeze(0);
    at::Tensor indices = distances.argmin(-1);
    out->push_back(indices);
    residual = residual - at::embedding(codebook, indices);
  }
  return residual;
}

absl::StatusOr<at::Tensor> SpeechEncoder::Encode(const at::Tensor& wav_in) const {
  at::Tensor wav = wav_in.to(at::kFloat).reshape({-1});
  const int64_t samples = wav.numel();
  if (samples < 1) return absl::InvalidArgumentError("audio is empty");
  if (!at::isfinite(wav).all().item<bool>()) return absl::InvalidArgumentError("audio contains NaN or Inf samples");
  at::Tensor h = first_(wav.view({1, 1, -1}));
  for (const Stage& stage : stages_) {
    for (const ResidualUnit& u : stage.units) h = h + u.conv2(at::elu(u.conv1(at::elu(h))));
    h = stage.down(at::elu(h));
  }
  h = last_(at::elu(h));  // [1, hidden, T25]
  std::vector<nn::KvCache> cache = transformer_.NewCache(h.size(2));
  at::Tensor t = transformer_.Forward(h.squeeze(0).transpose(0, 1).contiguous(), &cache);  // [T25, hidden]
  at::Tensor emb = downsample_(t.transpose(0, 1).unsqueeze(0));  // [1, hidden, T12]
  std::vector<at::Tensor> codes;
  Quantize(semantic_, emb, static_cast<int64_t>(semantic_.codebooks.size()), &codes);
  Quantize(acoustic_, emb, static_cast<int64_t>(acoustic_.codebooks.size()), &codes);
  at::Tensor all = at::stack(codes, 1);  // [T12, num_codebooks]
  const int64_t frames = (samples + config_.encode_downsample_rate - 1) / config_.encode_downsample_rate;
  return all.narrow(0, 0, std::min<int64_t>(frames, all.size(0))).contiguous();
}

}  // namespace qwen3tts
