// Speaker embedding (x-vector) of Base models: the reference's 128-bin log-mel spectrogram and
// its ECAPA-TDNN speaker encoder (TDNN, SE-Res2Net blocks, multi-layer feature aggregation,
// attentive statistics pooling, final 1x1 conv). Weights: speaker_encoder.* in model.safetensors.
#pragma once

#include <ATen/Tensor.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor/checkpoint.h"
#include "common/tensor/model_config.h"

namespace qwen3tts {

struct MelOptions {
  int64_t sample_rate = 24000;
  int64_t n_fft = 1024;
  int64_t num_mels = 128;
  int64_t hop_size = 256;
  int64_t win_size = 1024;
  double fmin = 0.0;
  double fmax = 12000.0;
};

// librosa.filters.mel (Slaney mel scale, Slaney area normalisation): [num_mels, n_fft/2 + 1].
at::Tensor SlaneyMelFilterbank(const MelOptions& options);

// log(clamp(mel @ |STFT|, 1e-5)) with reflect padding (n_fft - hop)/2 and no centring, as the
// reference's mel_spectrogram: wav [samples] float -> [frames, num_mels].
// INVALID_ARGUMENT when the audio is shorter than one window or not finite.
absl::StatusOr<at::Tensor> LogMelSpectrogram(const at::Tensor& wav, const MelOptions& options);

class XVectorEncoder {
 public:
  static absl::StatusOr<std::shared_ptr<const XVectorEncoder>> Load(const Checkpoint& ckpt,
                                                                     const SpeakerEncoderConfig& config);
  // mel [frames, mel_dim] -> embedding [enc_dim].
  absl::StatusOr<at::Tensor> EmbedMel(const at::Tensor& mel) const;
  // 24 kHz mono float audio -> embedding [enc_dim] (mel with the reference's parameters).
  absl::StatusOr<at::Tensor> EmbedAudio(const at::Tensor& wav) const;
  const SpeakerEncoderConfig& config() const { return config_; }

 private:
  struct Conv {
    at::Tensor weight, bias;
    int64_t dilation = 1;
  };
  struct SeRes2NetBlock {
    Conv tdnn1, tdnn2, se1, se2;
    std::vector<Conv> res2net;
  };
  XVectorEncoder() = default;
  static at::Tensor SameConv(const Conv& conv, const at::Tensor& x);
  at::Tensor Block(const SeRes2NetBlock& b, const at::Tensor& x) const;

  SpeakerEncoderConfig config_;
  Conv first_;
  std::vector<SeRes2NetBlock> blocks_;
  Conv mfa_, asp_tdnn_, asp_conv_, fc_;
};

}  // namespace qwen3tts
