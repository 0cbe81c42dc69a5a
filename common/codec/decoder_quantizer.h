// Dequantization side of the decoder's split residual VQ: one semantic quantizer (`rvq_first`)
// and num_quantizers-1 acoustic quantizers (`rvq_rest`), each group summed and projected by its
// own 1x1 output convolution, the two projections added.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/codec/decoder_layers.h"
#include "common/tensor/model_config.h"

namespace qwen3tts {

class SplitRvqDequantizer {
 public:
  static absl::StatusOr<SplitRvqDequantizer> Load(const DecoderWeights& weights,
                                                  const CodecDecoderConfig& config);
  // codes: [T, num_quantizers] int64, already validated. Returns [1, codebook_dim, T].
  at::Tensor Dequantize(const at::Tensor& codes) const;
  // One frame's codes (num_quantizers values, validated) -> codebook_dim floats, the streaming
  // form: the same sums, and the projections as row products, into caller-owned memory.
  void DequantizeFrame(const int64_t* codes, float* out) const;

  int64_t num_quantizers() const { return static_cast<int64_t>(codebooks_.size()); }
  int64_t codebook_size() const { return codebook_size_; }

 private:
  // codebook = embedding_sum / cluster_usage.clamp(min=1e-5), [codebook_size, dim] per quantizer.
  std::vector<at::Tensor> codebooks_;
  int64_t num_semantic_ = 1;
  int64_t codebook_size_ = 0;
  at::Tensor first_output_proj_, rest_output_proj_;  // [codebook_dim, dim, 1]
  int64_t dim_ = 0, codebook_dim_ = 0;
};

// Checks a code tensor for the decoder: rank 2 [frames, num_quantizers], integer dtype, every
// code in [0, codebook_size). INVALID_ARGUMENT names the offending frame (counted from
// `first_frame`, so a streaming session reports absolute frame numbers), codebook and range.
// Returns the codes as contiguous int64.
absl::StatusOr<at::Tensor> ValidateDecoderCodes(const at::Tensor& codes, int64_t num_quantizers,
                                                int64_t codebook_size, int64_t first_frame = 0);

}  // namespace qwen3tts
