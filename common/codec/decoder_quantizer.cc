#include "common/codec/decoder_quantizer.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/nn/float_gemv.h"
#include "common/nn/row_ops.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

// The reference's EuclideanCodebook epsilon.
constexpr double kCodebookEpsilon = 1e-5;

absl::StatusOr<at::Tensor> LoadCodebook(const DecoderWeights& weights, const std::string& prefix,
                                        int64_t codebook_size, int64_t dim) {
  ASSIGN_OR_RETURN(at::Tensor usage,
                   TakeDecoderWeight(weights, prefix + "._codebook.cluster_usage", {codebook_size}));
  ASSIGN_OR_RETURN(at::Tensor sum, TakeDecoderWeight(weights, prefix + "._codebook.embedding_sum",
                                                     {codebook_size, dim}));
  return (sum / usage.clamp_min(kCodebookEpsilon).unsqueeze(1)).contiguous();
}

}  // namespace

absl::StatusOr<SplitRvqDequantizer> SplitRvqDequantizer::Load(const DecoderWeights& weights,
                                                              const CodecDecoderConfig& config) {
  // The reference builds both groups with dimension codebook_dim / 2 and codebook_size bins,
  // forcing the output projection codebook_dim / 2 -> codebook_dim, and always uses exactly
  // one semantic quantizer.
  const int64_t dim = config.codebook_dim / 2;
  const int64_t semantic = 1;
  if (config.num_quantizers <= semantic) {
    return absl::InvalidArgumentError(absl::StrCat(
        "decoder_config.num_quantizers must be > 1 (one semantic + acoustic), got ",
        config.num_quantizers));
  }
  SplitRvqDequantizer q;
  q.dim_ = dim;
  q.codebook_dim_ = config.codebook_dim;
  q.num_semantic_ = semantic;
  q.codebook_size_ = config.codebook_size;
  for (int64_t i = 0; i < config.num_quantizers; ++i) {
    const std::string prefix =
        i < semantic ? absl::StrCat("decoder.quantizer.rvq_first.vq.layers.", i)
                     : absl::StrCat("decoder.quantizer.rvq_rest.vq.layers.", i - semantic);
    ASSIGN_OR_RETURN(at::Tensor codebook, LoadCodebook(weights, prefix, config.codebook_size, dim));
    q.codebooks_.push_back(codebook);
  }
  ASSIGN_OR_RETURN(q.first_output_proj_,
                   TakeDecoderWeight(weights, "decoder.quantizer.rvq_first.output_proj.weight",
                                     {config.codebook_dim, dim, 1}));
  ASSIGN_OR_RETURN(q.rest_output_proj_,
                   TakeDecoderWeight(weights, "decoder.quantizer.rvq_rest.output_proj.weight",
                                     {config.codebook_dim, dim, 1}));
  return q;
}

at::Tensor SplitRvqDequantizer::Dequantize(const at::Tensor& codes) const {
  // Same summation order as the reference: within a group, quantizer by quantizer.
  auto group_sum = [&](int64_t begin, int64_t end) {
    at::Tensor sum = at::embedding(codebooks_[begin], codes.select(1, begin));
    for (int64_t i = begin + 1; i < end; ++i) {
      sum = sum + at::embedding(codebooks_[i], codes.select(1, i));
    }
    return sum.t().unsqueeze(0);  // [1, dim, T]
  };
  at::Tensor first = at::conv1d(group_sum(0, num_semantic_), first_output_proj_);
  at::Tensor rest = at::conv1d(group_sum(num_semantic_, num_quantizers()), rest_output_proj_);
  return first + rest;
}

void SplitRvqDequantizer::DequantizeFrame(const int64_t* codes, float* out) const {
  thread_local std::vector<float> buffer;
  float* group_sum = nn::GrowTo(&buffer, dim_ + codebook_dim_);
  float* projected = group_sum + dim_;
  // Group by group as Dequantize: the sum quantizer by quantizer, then its projection.
  auto project_group = [&](int64_t begin, int64_t end, const at::Tensor& projection, float* y) {
    const float* first_row = codebooks_[begin].data_ptr<float>() + codes[begin] * dim_;
    std::copy(first_row, first_row + dim_, group_sum);
    for (int64_t i = begin + 1; i < end; ++i) {
      const float* row = codebooks_[i].data_ptr<float>() + codes[i] * dim_;
      for (int64_t d = 0; d < dim_; ++d) group_sum[d] += row[d];
    }
    nn::FloatGemvInto(projection.data_ptr<float>(), codebook_dim_, dim_, group_sum, 1, y);
  };
  project_group(0, num_semantic_, first_output_proj_, out);
  project_group(num_semantic_, num_quantizers(), rest_output_proj_, projected);
  for (int64_t c = 0; c < codebook_dim_; ++c) out[c] += projected[c];
}

absl::StatusOr<at::Tensor> ValidateDecoderCodes(const at::Tensor& codes, int64_t num_quantizers,
                                                int64_t codebook_size, int64_t first_frame) {
  if (!codes.defined()) {
    return absl::InvalidArgumentError("decoder codes: tensor is undefined");
  }
  const auto type = codes.scalar_type();
  if (type != at::kLong && type != at::kInt && type != at::kShort) {
    return absl::InvalidArgumentError(absl::StrCat("decoder codes: dtype ", c10::toString(type),
                                                   " is not an integer type (int64/int32/int16)"));
  }
  if (codes.dim() != 2) {
    return absl::InvalidArgumentError(absl::StrCat("decoder codes: rank ", codes.dim(),
                                                   ", expected 2 ([frames, ", num_quantizers,
                                                   " codebooks])"));
  }
  if (codes.size(1) != num_quantizers) {
    return absl::InvalidArgumentError(absl::StrCat("decoder codes: ", codes.size(1),
                                                   " codebooks per frame, expected ",
                                                   num_quantizers));
  }
  at::Tensor as_long = codes.to(at::kLong).contiguous();
  if (as_long.numel() == 0) return as_long;
  at::Tensor bad = (as_long < 0).logical_or(as_long >= codebook_size);
  if (bad.any().item<bool>()) {
    at::Tensor where = at::nonzero(bad);  // first offending entry in row-major order
    const int64_t frame = where[0][0].item<int64_t>();
    const int64_t book = where[0][1].item<int64_t>();
    return absl::InvalidArgumentError(absl::StrCat(
        "decoder codes: frame ", first_frame + frame, ", codebook ", book, " has code ",
        as_long[frame][book].item<int64_t>(), ", allowed range [0, ", codebook_size, ")"));
  }
  return as_long;
}

}  // namespace qwen3tts
