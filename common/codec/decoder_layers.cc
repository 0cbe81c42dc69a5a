#include "common/codec/decoder_layers.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/nn/float_gemv.h"
#include "common/nn/snake_beta.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

// Concatenates the carried history (may be zero-length) and the new input along time.
at::Tensor WithHistory(const at::Tensor& history, const at::Tensor& x) {
  if (history.size(2) == 0) return x;
  return at::cat({history, x}, 2);
}

// The last `length` time steps of `x` as a fresh tensor (so that the history does not keep
// the whole chunk alive).
at::Tensor LastSteps(const at::Tensor& x, int64_t length) {
  return x.narrow(2, x.size(2) - length, length).clone();
}

// Input channels rounded up to whole blocks of the int8 activation quantization: each input step is
// quantized on its own, so a tap's channels start a block.
int64_t PaddedChannels(int64_t channels) {
  return (channels + nn::kInt8ActivationBlock - 1) / nn::kInt8ActivationBlock * nn::kInt8ActivationBlock;
}

// A weight whose columns are `taps` groups of `channels` inputs ([rows, taps * channels]), each
// group zero-padded to PaddedChannels and quantized to int8 per row.
nn::Int8Weight QuantizeTapMajor(const at::Tensor& weight, int64_t taps, int64_t channels) {
  const int64_t rows = weight.size(0), padded = PaddedChannels(channels);
  at::Tensor w = at::zeros({rows, taps, padded});
  w.narrow(2, 0, channels).copy_(weight.view({rows, taps, channels}));
  return nn::QuantizeInt8(w.view({rows, taps * padded}));
}

// The int8 product of an unfolded input whose time steps are already quantized (`per_step`, one row
// per input step): row t (< steps) holds, for k < taps, input step t + j * dilation with j = k
// (oldest first) or taps - 1 - k (newest first). Returns [steps, w.out] float32 (no bias).
at::Tensor UnfoldedInt8Product(const nn::Int8Weight& w, const nn::Int8Rows& per_step, int64_t steps, int64_t taps,
                               int64_t dilation, bool newest_first) {
  const int64_t width = per_step.blocks * nn::kInt8ActivationBlock, blocks = per_step.blocks;
  thread_local nn::Int8Rows unfolded;  // reused: a streaming step allocates nothing here
  at::Tensor y = at::empty({steps, w.out}, at::kFloat);
  // In chunks of output steps, so that a whole utterance's unfolded input (tens of MB) never
  // exists at once: each chunk's rows are still in cache when the product reads them.
  constexpr int64_t kChunkSteps = 256;
  for (int64_t first = 0; first < steps; first += kChunkSteps) {
    const int64_t n = std::min(kChunkSteps, steps - first);
    unfolded.rows = n;
    unfolded.blocks = taps * blocks;
    unfolded.q.resize(static_cast<size_t>(n * taps * width));
    unfolded.scale.resize(static_cast<size_t>(n * taps * blocks));
    unfolded.correction.resize(static_cast<size_t>(n * taps * blocks));
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t k = 0; k < taps; ++k) {
        const int64_t source = first + t + (newest_first ? taps - 1 - k : k) * dilation;
        const int64_t row = t * taps + k;
        std::memcpy(&unfolded.q[row * width], &per_step.q[source * width], width);
        std::memcpy(&unfolded.scale[row * blocks], &per_step.scale[source * blocks], blocks * sizeof(float));
        std::memcpy(&unfolded.correction[row * blocks], &per_step.correction[source * blocks],
                    blocks * sizeof(int32_t));
      }
    }
    nn::Int8GemvRowsInto(w, unfolded, y.data_ptr<float>() + first * w.out);
  }
  return y;
}

// Each time step of x ([1, channels, length] float32) quantized once, as the products' rows see it.
const nn::Int8Rows& QuantizeSteps(const at::Tensor& x) {
  thread_local nn::Int8Rows per_step;
  at::Tensor frames = x[0].t().contiguous();  // [length, channels]
  nn::QuantizeInt8Rows(frames.data_ptr<float>(), frames.size(0), frames.size(1), &per_step);
  return per_step;
}

// An int8 convolution's carried history is kept quantized: its steps were quantized when they
// arrived, and the float32 form made every call concatenate them with the new input and quantize
// them again (up to 54 steps for the dilation-9 residual units, more than a frame's new steps in
// the first decoder block). One uint8 row per step: its q (blocks * 32 bytes), then its block
// scales and corrections. All zeros is exactly the quantization of a zero step, what the offline
// form pads with, so streaming stays bit-identical to it.
int64_t QuantizedStepBytes(int64_t channels) {
  const int64_t blocks = (channels + nn::kInt8ActivationBlock - 1) / nn::kInt8ActivationBlock;
  return blocks * (nn::kInt8ActivationBlock + static_cast<int64_t>(sizeof(float) + sizeof(int32_t)));
}

// The quantized steps [history, x's steps] for the product; `history` becomes the last of them.
const nn::Int8Rows& QuantizeStepsAfterHistory(const at::Tensor& x, at::Tensor& history) {
  const nn::Int8Rows& fresh = QuantizeSteps(x);
  thread_local nn::Int8Rows per_step;
  const int64_t h = history.size(0), n = fresh.rows, rows = h + n, blocks = fresh.blocks;
  const int64_t width = blocks * nn::kInt8ActivationBlock, row_bytes = history.size(1);
  const int64_t scale_bytes = blocks * static_cast<int64_t>(sizeof(float));
  const int64_t correction_bytes = blocks * static_cast<int64_t>(sizeof(int32_t));
  per_step.rows = rows;
  per_step.blocks = blocks;
  per_step.q.resize(static_cast<size_t>(rows * width));
  per_step.scale.resize(static_cast<size_t>(rows * blocks));
  per_step.correction.resize(static_cast<size_t>(rows * blocks));
  uint8_t* stored = history.data_ptr<uint8_t>();  // h == 0 (a 1x1 convolution): nothing carried
  for (int64_t t = 0; t < h; ++t) {
    const uint8_t* row = stored + t * row_bytes;
    std::memcpy(&per_step.q[t * width], row, width);
    std::memcpy(&per_step.scale[t * blocks], row + width, scale_bytes);
    std::memcpy(&per_step.correction[t * blocks], row + width + scale_bytes, correction_bytes);
  }
  std::copy(fresh.q.begin(), fresh.q.begin() + n * width, per_step.q.begin() + h * width);
  std::copy(fresh.scale.begin(), fresh.scale.begin() + n * blocks, per_step.scale.begin() + h * blocks);
  std::copy(fresh.correction.begin(), fresh.correction.begin() + n * blocks, per_step.correction.begin() + h * blocks);
  for (int64_t t = 0; t < h; ++t) {
    const int64_t source = rows - h + t;
    uint8_t* row = stored + t * row_bytes;
    std::memcpy(row, &per_step.q[source * width], width);
    std::memcpy(row + width, &per_step.scale[source * blocks], scale_bytes);
    std::memcpy(row + width + scale_bytes, &per_step.correction[source * blocks], correction_bytes);
  }
  return per_step;
}

}  // namespace

bool CpuHasBfloat16Arithmetic() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

absl::StatusOr<at::Tensor> TakeDecoderWeight(const DecoderWeights& weights, const std::string& name,
                                             const std::vector<int64_t>& shape) {
  ASSIGN_OR_RETURN(at::Tensor tensor, weights.LoadShaped(name, shape, at::kFloat));
  return tensor.contiguous();
}

// ---------------------------------------------------------------------------------------------
absl::StatusOr<CausalConv1d> CausalConv1d::Load(const DecoderWeights& weights,
                                                const std::string& prefix, int64_t in_channels,
                                                int64_t out_channels, int64_t kernel,
                                                int64_t dilation, int64_t groups) {
  CausalConv1d conv;
  ASSIGN_OR_RETURN(conv.weight_, TakeDecoderWeight(weights, prefix + ".conv.weight",
                                                   {out_channels, in_channels / groups, kernel}));
  ASSIGN_OR_RETURN(conv.bias_, TakeDecoderWeight(weights, prefix + ".conv.bias", {out_channels}));
  conv.in_channels_ = in_channels;
  conv.kernel_ = kernel;
  conv.dilation_ = dilation;
  conv.groups_ = groups;
  return conv;
}

at::Tensor CausalConv1d::Forward(const at::Tensor& x) const {
  // The reference pads (kernel-1)*dilation on the left plus an "extra" right padding that is
  // always zero at stride 1.
  return Convolve(at::constant_pad_nd(x, {history_length(), 0}, 0.0));
}

at::Tensor CausalConv1d::Convolve(const at::Tensor& padded) const {
  switch (precision_) {
    case WeightPrecision::kInt8:
      return Int8Convolve(QuantizeSteps(padded), padded.size(2) - history_length());
    case WeightPrecision::kBFloat16:
      return at::conv1d(padded.to(at::kBFloat16), weight_, bias_, at::IntArrayRef{1}, at::IntArrayRef{0},
                        at::IntArrayRef{dilation_}, groups_)
          .to(at::kFloat);
    default:
      return at::conv1d(padded, weight_, bias_, /*stride=*/at::IntArrayRef{1}, /*padding=*/at::IntArrayRef{0},
                        at::IntArrayRef{dilation_}, groups_);
  }
}

at::Tensor CausalConv1d::Int8Convolve(const nn::Int8Rows& per_step, int64_t steps) const {
  at::Tensor y = UnfoldedInt8Product(int8_weight_, per_step, steps, kernel_, dilation_, /*newest_first=*/false);
  return (y.t() + bias_.view({-1, 1})).unsqueeze(0);  // [1, out, steps]
}

void CausalConv1d::AppendInitialStates(StreamStates* states) const {
  if (precision_ == WeightPrecision::kInt8) {
    states->push_back(at::zeros({history_length(), QuantizedStepBytes(in_channels_)}, at::kByte));
  } else {
    states->push_back(at::zeros({1, in_channels_, history_length()}, at::kFloat));
  }
}

at::Tensor CausalConv1d::Step(const at::Tensor& x, StreamStates& states, size_t& slot) const {
  at::Tensor& history = states[slot++];
  if (precision_ == WeightPrecision::kInt8) return Int8Convolve(QuantizeStepsAfterHistory(x, history), x.size(2));
  at::Tensor full = WithHistory(history, x);
  const int64_t steps = x.size(2);
  at::Tensor y;
  if (precision_ == WeightPrecision::kFloat32 && groups_ == 1 && steps <= nn::kFloatGemvMaxRows) {
    // A streaming step has a few time steps against a large weight: one row per output step
    // (its receptive field, laid out as the weight's [in, kernel]) through the few-rows kernel,
    // which reads the weight once instead of having GEMM repack it on every call.
    at::Tensor windows = full[0].unfold(/*dimension=*/1, /*size=*/history_length() + 1, /*step=*/1)
                             .slice(/*dim=*/2, 0, history_length() + 1, dilation_);  // [in, T, kernel]
    at::Tensor rows = windows.permute({1, 0, 2}).reshape({steps, in_channels_ * kernel_});
    y = nn::FloatGemv(weight_.view({weight_.size(0), in_channels_ * kernel_}), rows);
    y.add_(bias_);
    y = y.t().unsqueeze(0);
  } else {
    y = Convolve(full);
  }
  if (history_length() > 0) history = LastSteps(full, history_length());
  return y;
}

void CausalConv1d::SetPrecision(WeightPrecision precision) {
  if (precision == precision_ || precision_ != WeightPrecision::kFloat32) return;  // chosen once, at load
  if (precision == WeightPrecision::kBFloat16) {
    weight_ = weight_.to(at::kBFloat16).contiguous();
    bias_ = bias_.to(at::kBFloat16);
  } else if (precision == WeightPrecision::kInt8 && groups_ == 1) {
    // Rows of the unfolded input are taps-major ([kernel, in]): the weight [out, in, kernel] too.
    int8_weight_ = QuantizeTapMajor(weight_.permute({0, 2, 1}).contiguous(), kernel_, in_channels_);
    weight_ = at::Tensor();
  } else {
    return;  // float32: grouped convolutions in int8 mode, and precisions convolutions do not have
  }
  precision_ = precision;
}

// ---------------------------------------------------------------------------------------------
absl::StatusOr<CausalConvTranspose1d> CausalConvTranspose1d::Load(const DecoderWeights& weights,
                                                                  const std::string& prefix,
                                                                  int64_t in_channels,
                                                                  int64_t out_channels,
                                                                  int64_t kernel, int64_t stride) {
  if (stride <= 0 || kernel < stride) {
    return absl::InvalidArgumentError(absl::StrCat("transposed conv '", prefix, "': kernel ",
                                                   kernel, " must be >= stride ", stride,
                                                   " and stride > 0"));
  }
  CausalConvTranspose1d conv;
  ASSIGN_OR_RETURN(at::Tensor weight, TakeDecoderWeight(weights, prefix + ".conv.weight",
                                                        {in_channels, out_channels, kernel}));
  ASSIGN_OR_RETURN(conv.bias_, TakeDecoderWeight(weights, prefix + ".conv.bias", {out_channels}));
  conv.in_channels_ = in_channels;
  conv.out_channels_ = out_channels;
  conv.kernel_ = kernel;
  conv.stride_ = stride;
  // Output block j (stride samples per channel) = sum over q < taps of W[:, :, p + q*stride]^T
  // x[j - q]: one matrix [out * stride, taps * in] times the input frames j, j-1, ... stacked.
  // Stored only in this layout (Forward rebuilds the checkpoint layout when it needs it).
  const int64_t taps = conv.taps();
  at::Tensor padded = at::zeros({in_channels, out_channels, taps * stride});
  padded.narrow(2, 0, kernel).copy_(weight);
  conv.block_matrix_ = padded.view({in_channels, out_channels, taps, stride})
                           .permute({1, 3, 2, 0})  // [out, p, q, in]
                           .reshape({out_channels * stride, taps * in_channels})
                           .contiguous();
  return conv;
}

at::Tensor CausalConvTranspose1d::CheckpointWeight() const {
  const int64_t taps = this->taps();
  return block_matrix_.view({out_channels_, stride_, taps, in_channels_})
      .permute({3, 0, 2, 1})  // [in, out, q, p]
      .reshape({in_channels_, out_channels_, taps * stride_})
      .narrow(2, 0, kernel_)
      .contiguous();
}

void CausalConvTranspose1d::SetPrecision(WeightPrecision precision) {
  if (precision == precision_ || precision_ != WeightPrecision::kFloat32) return;  // chosen once, at load
  // The block-matrix form for every call: oneDNN's bfloat16 transposed convolution refuses an
  // input shorter than the kernel (a one-frame step of the ConvNeXt upsampler), and the product
  // form computes exactly the new output blocks anyway.
  at::Tensor block_bias = bias_.repeat_interleave(stride_);  // per output column o * stride + p
  if (precision == WeightPrecision::kBFloat16) {
    block_matrix_ = block_matrix_.to(at::kBFloat16).contiguous();
    block_bias_ = block_bias.to(at::kBFloat16);
  } else if (precision == WeightPrecision::kInt8) {
    int8_block_matrix_ = QuantizeTapMajor(block_matrix_, taps(), in_channels_);
    block_matrix_ = at::Tensor();
    block_bias_ = block_bias.contiguous();
  } else {
    return;
  }
  precision_ = precision;
}

at::Tensor CausalConvTranspose1d::BlockProduct(const at::Tensor& full, int64_t n) const {
  // Row j: input frames j, j-1, ..., j-h (the newest first, as block_matrix_'s columns), so the
  // output blocks of exactly the last n frames come out, each complete: nothing is recomputed.
  if (precision_ == WeightPrecision::kInt8) return Int8BlockProduct(QuantizeSteps(full), n);
  const int64_t h = history_frames();
  at::Tensor frames = full[0].t();                                         // [h + n, in]
  at::Tensor rows = frames.unfold(0, h + 1, 1).flip(2).permute({0, 2, 1})  // [n, taps, in]
                        .reshape({n, (h + 1) * in_channels_});
  at::Tensor blocks = precision_ == WeightPrecision::kBFloat16  // [n, out * stride]
                          ? at::linear(rows.to(at::kBFloat16), block_matrix_, block_bias_).to(at::kFloat)
                          : nn::FloatGemv(block_matrix_, rows);
  at::Tensor out = BlocksToSamples(blocks, n);
  if (precision_ == WeightPrecision::kFloat32) out.add_(bias_.view({1, out_channels_, 1}));
  return out;
}

at::Tensor CausalConvTranspose1d::Int8BlockProduct(const nn::Int8Rows& per_step, int64_t n) const {
  at::Tensor blocks = UnfoldedInt8Product(int8_block_matrix_, per_step, n, taps(), /*dilation=*/1, /*newest_first=*/true);
  blocks.add_(block_bias_);
  return BlocksToSamples(blocks, n);
}

at::Tensor CausalConvTranspose1d::BlocksToSamples(const at::Tensor& blocks, int64_t n) const {
  return blocks.view({n, out_channels_, stride_}).permute({1, 0, 2}).reshape({1, out_channels_, n * stride_});
}

at::Tensor CausalConvTranspose1d::Forward(const at::Tensor& x) const {
  if (precision_ != WeightPrecision::kFloat32) {
    // Causal: the whole sequence is one step from a zero history.
    return BlockProduct(at::constant_pad_nd(x, {history_frames(), 0}, 0.0), x.size(2));
  }
  at::Tensor y = at::conv_transpose1d(x, CheckpointWeight(), bias_, at::IntArrayRef{stride_});
  const int64_t right_trim = kernel_ - stride_;
  if (right_trim > 0) y = y.narrow(2, 0, y.size(2) - right_trim);
  return y;
}

void CausalConvTranspose1d::AppendInitialStates(StreamStates* states) const {
  if (precision_ == WeightPrecision::kInt8) {
    states->push_back(at::zeros({history_frames(), QuantizedStepBytes(in_channels_)}, at::kByte));
  } else {
    states->push_back(at::zeros({1, in_channels_, history_frames()}, at::kFloat));
  }
}

at::Tensor CausalConvTranspose1d::Step(const at::Tensor& x, StreamStates& states,
                                       size_t& slot) const {
  at::Tensor& history = states[slot++];
  const int64_t h = history_frames();
  const int64_t n = x.size(2);
  if (precision_ == WeightPrecision::kInt8) return Int8BlockProduct(QuantizeStepsAfterHistory(x, history), n);
  at::Tensor full = WithHistory(history, x);  // [1, in, h + n]
  at::Tensor out;
  if (precision_ != WeightPrecision::kFloat32 || n <= nn::kFloatGemvMaxRows) {
    out = BlockProduct(full, n);
  } else {
    at::Tensor y = at::conv_transpose1d(full, CheckpointWeight(), bias_, at::IntArrayRef{stride_});
    // Output blocks of the history frames were emitted by earlier calls; the blocks of the new
    // frames are complete (every input that reaches them is in `full`); the rest is the overlap
    // into frames that have not arrived yet and is recomputed from the history next time.
    out = y.narrow(2, h * stride_, n * stride_);
  }
  if (h > 0) history = LastSteps(full, h);
  return out;
}

// ---------------------------------------------------------------------------------------------
absl::StatusOr<SnakeBeta> SnakeBeta::Load(const DecoderWeights& weights, const std::string& prefix,
                                          int64_t channels) {
  SnakeBeta snake;
  ASSIGN_OR_RETURN(at::Tensor alpha, TakeDecoderWeight(weights, prefix + ".alpha", {channels}));
  ASSIGN_OR_RETURN(at::Tensor beta, TakeDecoderWeight(weights, prefix + ".beta", {channels}));
  // Same float32 operations as the reference, hoisted out of the per-call path.
  snake.alpha_exp_ = at::exp(alpha).view({1, channels, 1});
  snake.inv_beta_ = at::reciprocal(at::exp(beta) + 1e-9).view({1, channels, 1});
  return snake;
}

at::Tensor SnakeBeta::Forward(const at::Tensor& x) const {
  if (x.scalar_type() == at::kFloat && x.dim() == 3 && nn::SnakeBetaAvailable()) {
    const float* alpha = alpha_exp_.data_ptr<float>();
    const float* inv_beta = inv_beta_.data_ptr<float>();
    const int64_t channels = x.size(1), steps = x.size(2);
    // A streaming step's activations are mostly time-major views ([steps, channels] in memory, the
    // convolutions' layout): the output keeps the input's layout, as the tensor ops' did.
    if (x.transpose(1, 2).is_contiguous()) {
      at::Tensor out = at::empty_strided(x.sizes(), x.strides(), x.options());
      nn::SnakeBetaChannelsLast(x.data_ptr<float>(), out.data_ptr<float>(), x.size(0) * steps, channels, alpha,
                                inv_beta);
      return out;
    }
    const at::Tensor in = x.contiguous();
    at::Tensor out = at::empty_like(in);
    nn::SnakeBetaChannelsFirst(in.data_ptr<float>(), out.data_ptr<float>(), in.size(0) * channels, steps, alpha,
                               inv_beta, channels);
    return out;
  }
  at::Tensor s = at::sin(x * alpha_exp_);
  return x + inv_beta_ * (s * s);
}

// ---------------------------------------------------------------------------------------------
absl::StatusOr<ConvNeXtBlock> ConvNeXtBlock::Load(const DecoderWeights& weights,
                                                  const std::string& prefix, int64_t channels) {
  ConvNeXtBlock block;
  block.channels_ = channels;
  ASSIGN_OR_RETURN(block.dwconv_, CausalConv1d::Load(weights, prefix + ".dwconv", channels,
                                                     channels, 7, 1, channels));
  ASSIGN_OR_RETURN(block.norm_weight_, TakeDecoderWeight(weights, prefix + ".norm.weight", {channels}));
  ASSIGN_OR_RETURN(block.norm_bias_, TakeDecoderWeight(weights, prefix + ".norm.bias", {channels}));
  ASSIGN_OR_RETURN(block.pw1_, nn::LoadLinear(weights, prefix + ".pwconv1", channels, 4 * channels,
                                               /*bias=*/true, at::kFloat));
  ASSIGN_OR_RETURN(block.pw2_, nn::LoadLinear(weights, prefix + ".pwconv2", 4 * channels, channels,
                                               /*bias=*/true, at::kFloat));
  ASSIGN_OR_RETURN(block.gamma_, TakeDecoderWeight(weights, prefix + ".gamma", {channels}));
  return block;
}

at::Tensor ConvNeXtBlock::Pointwise(const at::Tensor& x, const at::Tensor& dw) const {
  at::Tensor h = dw.permute({0, 2, 1});
  h = at::layer_norm(h, {channels_}, norm_weight_, norm_bias_, 1e-6);
  // A streaming step's few time steps take nn::Linear's few-rows kernel, whole utterances GEMM.
  h = pw1_(h);
  h = at::gelu(h);
  h = pw2_(h);
  h = gamma_ * h;
  return x + h.permute({0, 2, 1});
}

void ConvNeXtBlock::QuantizeLinearsInt8() {
  pw1_.QuantizeInt8();
  pw2_.QuantizeInt8();
}

at::Tensor ConvNeXtBlock::Forward(const at::Tensor& x) const {
  return Pointwise(x, dwconv_.Forward(x));
}

void ConvNeXtBlock::AppendInitialStates(StreamStates* states) const {
  dwconv_.AppendInitialStates(states);
}

at::Tensor ConvNeXtBlock::Step(const at::Tensor& x, StreamStates& states, size_t& slot) const {
  return Pointwise(x, dwconv_.Step(x, states, slot));
}

// ---------------------------------------------------------------------------------------------
absl::StatusOr<SnakeResidualUnit> SnakeResidualUnit::Load(const DecoderWeights& weights,
                                                          const std::string& prefix,
                                                          int64_t channels, int64_t dilation) {
  SnakeResidualUnit unit;
  ASSIGN_OR_RETURN(unit.act1_, SnakeBeta::Load(weights, prefix + ".act1", channels));
  ASSIGN_OR_RETURN(unit.conv1_,
                   CausalConv1d::Load(weights, prefix + ".conv1", channels, channels, 7, dilation));
  ASSIGN_OR_RETURN(unit.act2_, SnakeBeta::Load(weights, prefix + ".act2", channels));
  ASSIGN_OR_RETURN(unit.conv2_, CausalConv1d::Load(weights, prefix + ".conv2", channels, channels, 1));
  return unit;
}

at::Tensor SnakeResidualUnit::Forward(const at::Tensor& x) const {
  at::Tensor h = conv1_.Forward(act1_.Forward(x));
  h = conv2_.Forward(act2_.Forward(h));
  return h + x;
}

void SnakeResidualUnit::SetConvolutionPrecision(WeightPrecision precision) {
  conv1_.SetPrecision(precision);
  conv2_.SetPrecision(precision);
}

void SnakeResidualUnit::AppendInitialStates(StreamStates* states) const {
  conv1_.AppendInitialStates(states);
  conv2_.AppendInitialStates(states);
}

at::Tensor SnakeResidualUnit::Step(const at::Tensor& x, StreamStates& states, size_t& slot) const {
  at::Tensor h = conv1_.Step(act1_.Forward(x), states, slot);
  h = conv2_.Step(act2_.Forward(h), states, slot);
  return h + x;
}

// ---------------------------------------------------------------------------------------------
absl::StatusOr<SnakeDecoderBlock> SnakeDecoderBlock::Load(const DecoderWeights& weights,
                                                          const std::string& prefix,
                                                          int64_t in_channels,
                                                          int64_t out_channels,
                                                          int64_t upsample_rate) {
  SnakeDecoderBlock block;
  ASSIGN_OR_RETURN(block.act_, SnakeBeta::Load(weights, prefix + ".block.0", in_channels));
  ASSIGN_OR_RETURN(block.upsample_,
                   CausalConvTranspose1d::Load(weights, prefix + ".block.1", in_channels,
                                               out_channels, 2 * upsample_rate, upsample_rate));
  const int64_t dilations[] = {1, 3, 9};
  for (int i = 0; i < 3; ++i) {
    ASSIGN_OR_RETURN(SnakeResidualUnit unit,
                     SnakeResidualUnit::Load(weights, absl::StrCat(prefix, ".block.", i + 2),
                                             out_channels, dilations[i]));
    block.units_.push_back(std::move(unit));
  }
  return block;
}

at::Tensor SnakeDecoderBlock::Forward(const at::Tensor& x) const {
  at::Tensor h = upsample_.Forward(act_.Forward(x));
  for (const auto& unit : units_) h = unit.Forward(h);
  return h;
}

void SnakeDecoderBlock::SetConvolutionPrecision(WeightPrecision precision) {
  upsample_.SetPrecision(precision);
  for (auto& unit : units_) unit.SetConvolutionPrecision(precision);
}

void SnakeDecoderBlock::AppendInitialStates(StreamStates* states) const {
  upsample_.AppendInitialStates(states);
  for (const auto& unit : units_) unit.AppendInitialStates(states);
}

at::Tensor SnakeDecoderBlock::Step(const at::Tensor& x, StreamStates& states, size_t& slot) const {
  at::Tensor h = upsample_.Step(act_.Forward(x), states, slot);
  for (const auto& unit : units_) h = unit.Step(h, states, slot);
  return h;
}

}  // namespace qwen3tts
