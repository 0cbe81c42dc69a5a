// The 12 Hz speech-tokenizer encoder (audio -> codec codes), used to turn a reference clip into
// the codes of in-context voice cloning. It is the Mimi encoder the reference wraps: SEANet
// convolutional encoder (causal convs, ELU residual units, strided downsampling), a transformer
// (LayerNorm, GELU MLP, layer scale, RoPE; the shared common/nn block), a stride-2 downsampling
// conv to 12.5 Hz, and split residual vector quantization (1 semantic + acoustic codebooks,
// nearest code by Euclidean distance). Weights: encoder.* in speech_tokenizer/model.safetensors.
#pragma once

#include <ATen/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/nn/transformer.h"
#include "common/tensor/checkpoint.h"
#include "common/tensor/model_config.h"

namespace qwen3tts {

class SpeechEncoder {
 public:
  static absl::StatusOr<std::shared_ptr<const SpeechEncoder>> Load(const Checkpoint& ckpt,
                                                                   const SpeechTokenizerConfig& config);
  // wav: mono float at the tokenizer's input rate (24 kHz). Returns codes [frames, num_codebooks]
  // (int64) with frames = ceil(samples / encode_downsample_rate).
  absl::StatusOr<at::Tensor> Encode(const at::Tensor& wav) const;
  int64_t num_codebooks() const { return num_codebooks_; }

 private:
  // A causal Conv1d as Mimi pads it: k_eff - stride on the left, and on the right whatever makes
  // the last window complete ("extra padding"), zeros or edge replication.
  struct CausalConv {
    at::Tensor weight, bias;
    int64_t stride = 1, dilation = 1;
    bool replicate = false;
    at::Tensor operator()(const at::Tensor& x) const;
  };
  struct ResidualUnit {
    CausalConv conv1, conv2;
  };
  struct Stage {
    std::vector<ResidualUnit> units;
    CausalConv down;
  };
  struct Rvq {
    at::Tensor input_proj;              // [dim, hidden, 1]
    std::vector<at::Tensor> codebooks;  // [size, dim]
  };
  SpeechEncoder() = default;
  static at::Tensor Quantize(const Rvq& rvq, const at::Tensor& embeddings, int64_t count, std::vector<at::Tensor>* out);

  SpeechTokenizerConfig config_;
  CausalConv first_, last_, downsample_;
  std::vector<Stage> stages_;
  nn::TransformerStack transformer_;
  Rvq semantic_, acoustic_;
  int64_t num_codebooks_ = 16;
};

}  // namespace qwen3tts
