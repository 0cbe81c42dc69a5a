#include "common/codec/xvector_encoder.h"

#include <ATen/ATen.h>

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

// Slaney's mel scale (librosa htk=False): linear below 1 kHz, logarithmic above.
double HzToMel(double hz) {
  const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  return hz >= min_log_hz ? min_log_mel + std::log(hz / min_log_hz) / logstep : hz / f_sp;
}
double MelToHz(double mel) {
  const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  return mel >= min_log_mel ? min_log_hz * std::exp(logstep * (mel - min_log_mel)) : f_sp * mel;
}

}  // namespace

at::Tensor SlaneyMelFilterbank(const MelOptions& o) {
  const int64_t bins = o.n_fft / 2 + 1;
  std::vector<double> fft_freqs(bins);
  for (int64_t k = 0; k < bins; ++k) fft_freqs[k] = static_cast<double>(k) * (o.sample_rate / 2.0) / (bins - 1);
  const double mel_min = HzToMel(o.fmin), mel_max = HzToMel(o.fmax);
  std::vector<double> mel_f(o.num_mels + 2);
  for (int64_t i = 0; i < o.num_mels + 2; ++i) {
    mel_f[i] = MelToHz(mel_min + (mel_max - mel_min) * static_cast<double>(i) / (o.num_mels + 1));
  }
  at::Tensor weights = at::zeros({o.num_mels, bins}, at::kFloat);
  float* w = weights.data_ptr<float>();
  for (int64_t i = 0; i < o.num_mels; ++i) {
    const double lower_width = mel_f[i + 1] - mel_f[i], upper_width = mel_f[i + 2] - mel_f[i + 1];
    const double enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
    for (int64_t k = 0; k < bins; ++k) {
      double lower = (fft_freqs[k] - mel_f[i]) / lower_width;
      double upper = (mel_f[i + 2] - fft_freqs[k]) / upper_width;
      // librosa stores the triangle in float32, then scales by the Slaney norm.
      float tri = static_cast<float>(std::max(0.0, std::min(lower, upper)));
      w[i * bins + k] = static_cast<float>(tri * static_cast<float>(enorm));
    }
  }
  return weights;
}

absl::StatusOr<at::Tensor> LogMelSpectrogram(const at::Tensor& wav_in, const MelOptions& o) {
  at::Tensor wav = wav_in.to(at::kFloat).reshape({-1});
  const int64_t padding = (o.n_fft - o.hop_size) / 2;
  if (wav.numel() <= padding || wav.numel() + 2 * padding < o.n_fft) {
    return absl::InvalidArgumentError(absl::StrCat("audio too short for a mel frame: ", wav.numel(),
                                                   " samples (need at least ", std::max(padding + 1, o.n_fft - 2 * padding), ")"));
  }
  if (!at::isfinite(wav).all().item<bool>()) return absl::InvalidArgumentError("audio contains NaN or Inf samples");
  static thread_local at::Tensor basis;
  static thread_local MelOptions basis_options;
  if (!basis.defined() || basis_options.num_mels != o.num_mels || basis_options.n_fft != o.n_fft ||
      basis_options.sample_rate != o.sample_rate || basis_options.fmin != o.fmin || basis_options.fmax != o.fmax) {
    basis = SlaneyMelFilterbank(o);
    basis_options = o;
  }
  at::Tensor padded = at::reflection_pad1d(wav.view({1, 1, -1}), {padding, padding}).view({-1});
  at::Tensor window = at::hann_window(o.win_size, at::kFloat);
  at::Tensor spec = at::stft(padded, o.n_fft, o.hop_size, o.win_size, window, /*normalized=*/false,
                             /*onesided=*/true, /*return_complex=*/true);
  at::Tensor magnitude = at::sqrt(at::view_as_real(spec).pow(2).sum(-1) + 1e-9);  // [bins, frames]
  at::Tensor mel = at::matmul(basis, magnitude);
  return at::log(at::clamp_min(mel, 1e-5)).transpose(0, 1).contiguous();  // [frames, mels]
}

absl::StatusOr<std::shared_ptr<const XVectorEncoder>> XVectorEncoder::Load(const Checkpoint& ckpt,
                                                                           const SpeakerEncoderConfig& c) {
  std::shared_ptr<XVectorEncoder> e(new XVectorEncoder());
  e->config_ = c;
  auto conv = [&](const std::string& prefix, int64_t in, int64_t out, int64_t k, int64_t dilation) -> absl::StatusOr<Conv> {
    Conv cv;
    cv.dilation = dilation;
    ASSIGN_OR_RETURN(cv.weight, ckpt.LoadShaped(prefix + ".weight", {out, in, k}));
    ASSIGN_OR_RETURN(cv.bias, ckpt.LoadShaped(prefix + ".bias", {out}));
    return cv;
  };
  const std::vector<int64_t>& ch = c.enc_channels;
  const size_t n = ch.size();
  ASSIGN_OR_RETURN(e->first_, conv("speaker_encoder.blocks.0.conv", c.mel_dim, ch[0], c.enc_kernel_sizes[0], c.enc_dilations[0]));
  const int64_t scale = c.enc_res2net_scale;
  for (size_t i = 1; i + 1 < n; ++i) {
    if (ch[i] % scale != 0) {
      return absl::InvalidArgumentError(absl::StrCat("speaker_encoder_config.enc_channels[", i, "] = ", ch[i],
                                                     " is not divisible by enc_res2net_scale ", scale));
    }
    const std::string p = absl::StrCat("speaker_encoder.blocks.", i, ".");
    SeRes2NetBlock b;
    ASSIGN_OR_RETURN(b.tdnn1, conv(p + "tdnn1.conv", ch[i - 1], ch[i], 1, 1));
    for (int64_t s = 0; s + 1 < scale; ++s) {
      ASSIGN_OR_RETURN(Conv r, conv(absl::StrCat(p, "res2net_block.blocks.", s, ".conv"), ch[i] / scale, ch[i] / scale,
                                    c.enc_kernel_sizes[i], c.enc_dilations[i]));
      b.res2net.push_back(r);
    }
    ASSIGN_OR_RETURN(b.tdnn2, conv(p + "tdnn2.conv", ch[i], ch[i], 1, 1));
    ASSIGN_OR_RETURN(b.se1, conv(p + "se_block.conv1", ch[i], c.enc_se_channels, 1, 1));
    ASSIGN_OR_RETURN(b.se2, conv(p + "se_block.conv2", c.enc_se_channels, ch[i], 1, 1));
    e->blocks_.push_back(std::move(b));
  }
  int64_t mfa_in = 0;
  for (size_t i = 1; i + 1 < n; ++i) mfa_in += ch[i];
  ASSIGN_OR_RETURN(e->mfa_, conv("speaker_encoder.mfa.conv", mfa_in, ch[n - 1], c.enc_kernel_sizes[n - 1], c.enc_dilations[n - 1]));
  ASSIGN_OR_RETURN(e->asp_tdnn_, conv("speaker_encoder.asp.tdnn.conv", ch[n - 1] * 3, c.enc_attention_channels, 1, 1));
  ASSIGN_OR_RETURN(e->asp_conv_, conv("speaker_encoder.asp.conv", c.enc_attention_channels, ch[n - 1], 1, 1));
  ASSIGN_OR_RETURN(e->fc_, conv("speaker_encoder.fc", ch[n - 1] * 2, c.enc_dim, 1, 1));
  return std::shared_ptr<const XVectorEncoder>(std::move(e));
}

// Conv1d with padding="same", padding_mode="reflect": total dilation*(k-1), left half rounded down.
at::Tensor XVectorEncoder::SameConv(const Conv& conv, const at::Tensor& x) {
  const int64_t k = conv.weight.size(2), total = conv.dilation * (k - 1);
  at::Tensor in = total > 0 ? at::reflection_pad1d(x, {total / 2, total - total / 2}) : x;
  return at::conv1d(in, conv.weight, conv.bias, at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{conv.dilation});
}

at::Tensor XVectorEncoder::Block(const SeRes2NetBlock& b, const at::Tensor& x) const {
  at::Tensor h = at::relu(SameConv(b.tdnn1, x));
  // Res2Net: chunk 0 passes through, chunk i (i >= 1) gets conv(chunk_i + previous output).
  std::vector<at::Tensor> chunks = h.chunk(config_.enc_res2net_scale, 1);
  std::vector<at::Tensor> outs = {chunks[0]};
  at::Tensor prev;
  for (size_t i = 1; i < chunks.size(); ++i) {
    at::Tensor in = i == 1 ? chunks[i] : chunks[i] + prev;
    prev = at::relu(SameConv(b.res2net[i - 1], in));
    outs.push_back(prev);
  }
  h = at::relu(SameConv(b.tdnn2, at::cat(outs, 1)));
  // Squeeze-excitation over the time mean.
  at::Tensor s = at::relu(SameConv(b.se1, h.mean(2, /*keepdim=*/true)));
  s = at::sigmoid(SameConv(b.se2, s));
  return h * s + x;
}

absl::StatusOr<at::Tensor> XVectorEncoder::EmbedMel(const at::Tensor& mel_in) const {
  if (mel_in.dim() != 2 || mel_in.size(1) != config_.mel_dim || mel_in.size(0) < 1) {
    return absl::InvalidArgumentError(absl::StrCat("mel must be [frames >= 1, ", config_.mel_dim, "]"));
  }
  at::Tensor x = mel_in.to(at::kFloat).transpose(0, 1).unsqueeze(0).contiguous();  // [1, mel, T]
  const int64_t T = x.size(2);
  // Reflect padding needs more frames than the widest kernel's half-span.
  for (size_t i = 0; i < config_.enc_kernel_sizes.size(); ++i) {
    int64_t span = config_.enc_dilations[i] * (config_.enc_kernel_sizes[i] - 1);
    if (span - span / 2 >= T) {
      return absl::InvalidArgumentError(absl::StrCat("reference audio too short: ", T, " mel frames"));
    }
  }
  std::vector<at::Tensor> hidden;
  at::Tensor h = at::relu(SameConv(first_, x));
  for (const SeRes2NetBlock& b : blocks_) {
    h = Block(b, h);
    hidden.push_back(h);
  }
  h = at::relu(SameConv(mfa_, at::cat(hidden, 1)));
  // Attentive statistics pooling: global mean/std as context, attention over time, weighted stats.
  const double eps = 1e-12;
  auto stats = [&](const at::Tensor& v, const at::Tensor& w) {
    at::Tensor mean = (w * v).sum(2);
    at::Tensor std = at::sqrt((w * (v - mean.unsqueeze(2)).pow(2)).sum(2).clamp_min(eps));
    return std::make_pair(mean, std);
  };
  at::Tensor uniform = at::full({1, 1, T}, 1.0 / static_cast<double>(T), h.options());
  auto [mean, std] = stats(h, uniform);
  at::Tensor context = at::cat({h, mean.unsqueeze(2).expand({-1, -1, T}), std.unsqueeze(2).expand({-1, -1, T})}, 1);
  at::Tensor attention = SameConv(asp_conv_, at::tanh(at::relu(SameConv(asp_tdnn_, context))));
  attention = at::softmax(attention, 2);
  auto [wmean, wstd] = stats(h, attention);
  at::Tensor pooled = at::cat({wmean, wstd}, 1).unsqueeze(2);
  return SameConv(fc_, pooled).view({-1});
}

absl::StatusOr<at::Tensor> XVectorEncoder::EmbedAudio(const at::Tensor& wav) const {
  MelOptions o;
  o.sample_rate = config_.sample_rate;
  o.num_mels = config_.mel_dim;
  ASSIGN_OR_RETURN(at::Tensor mel, LogMelSpectrogram(wav, o));
  return EmbedMel(mel);
}

}  // namespace qwen3tts
