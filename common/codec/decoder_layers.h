// Convolutional building blocks of the 12 Hz speech-tokenizer decoder, each with two forms:
//   Forward(x)            whole-utterance form on tensors [1, channels, time], padding exactly as
//                         the reference does it;
//   Step(x, steps, ...)   streaming form on raw time-major rows (below): the input history that a
//                         causal kernel needs is carried in `states` between calls, so feeding a
//                         sequence in pieces gives the same output as feeding it whole.
// Every block here is causal: output sample t needs inputs up to t only, so Step returns exactly
// as many (upsampled) samples as it was given.
//
// Streaming rows: a step's activations are float32 [steps, channels], time-major and contiguous:
// the layout the convolutions' row products read (a receptive field is a window of consecutive
// rows) and write, so no step transposes anything. The caller owns the buffers; in int8 mode a Step
// allocates nothing once its per-thread scratch buffers have grown to the largest step. Tensor ops
// remain only where oneDNN's convolutions earn their output allocation: bfloat16 convolutions, and
// float32 ones over more than 32 steps (CausalConv1d::ConvolveRows says why). With tensors
// throughout, ~15 % of an int8 frame went to ATen's allocations, dispatch and strided copies (perf,
// one thread, real shape), and with two threads its OpenMP regions and our thread pool took turns
// spinning on the two cores: a frame took nearly twice as long as on one thread.
//
// Streaming state layout: composite blocks walk their children in a fixed order; each child
// with history owns one slot of `states` (AppendInitialStates appends them in the same order
// Step consumes them, advancing `slot`).
#pragma once

#include <ATen/ATen.h>

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/nn/bf16_tiles.h"
#include "common/nn/int8_gemv.h"
#include "common/nn/snake_beta.h"
#include "common/nn/transformer.h"
#include "common/nn/weight_precision.h"
#include "common/tensor/checkpoint.h"

namespace qwen3tts {

// Weights come from a checkpoint with the official names ("decoder.pre_conv.conv.weight", ...).
using DecoderWeights = Checkpoint;

// The tensor `name` with the given shape as contiguous float32: NOT_FOUND when absent,
// INVALID_ARGUMENT naming the tensor and both shapes when the shape differs.
absl::StatusOr<at::Tensor> TakeDecoderWeight(const DecoderWeights& weights, const std::string& name,
                                             const std::vector<int64_t>& shape);

// One tensor per stateful layer: a float32 history is [history steps, channels] (streaming rows),
// an int8 one its quantized rows (decoder_layers.cc).
using StreamStates = std::vector<at::Tensor>;

// One stream's part of a step that several streams take together through the same layers
// (DecoderSession::PushTogether): its own rows, output and carried state. Convolutions on AMX tiles
// then read each weight once for all the streams (nn::Bf16ConvPartsInto); the other layers and
// modes take the streams one after another, as alone. Either way a stream's output is what its
// own Step gives. Every part's states are at the same slot (the streams share one decoder).
struct StreamPart {
  float* x;  // input rows [steps, in]; the output too for the layers that work in place
  int64_t steps;
  float* y;  // output rows, for the layers with a separate output
  StreamStates* states;
};

class SnakeBeta;

// What a convolution's StepParts does around its product: `activation`, where given, is applied to
// the input first (the parts' x are left as they are), and with add_to_output the product is added
// to the parts' y instead of replacing them (a residual connection). The result is that of the
// three passes (activation, convolution, sum), bit for bit. On AMX tiles the activation is computed
// as the input is rounded for the tiles and the sum taken as the product leaves them, which saves
// writing both in float32 and reading them back: codec bench, one core, 0.6B shape, 8 streams x 1
// frame 9.2-9.5 -> 8.4-8.5 ms per frame, 16 frames per call 8.3-8.4 -> 7.5-7.6.
struct ConvolutionStepOptions {
  const SnakeBeta* activation = nullptr;
  bool add_to_output = false;
};

// Convolutions compute in float32 (the reference's numbers; a streaming step multiplies each
// output step's receptive field by the weight with nn::FloatGemvStridedInto, reading the window of
// rows in place) unless switched (SetPrecision) to
//   bfloat16: weights stored in bfloat16, each call rounds its input to bfloat16 and widens its
//     output back to float32. The decoder's time is convolution arithmetic (~2.5 G multiply-adds
//     per frame for the 12 Hz decoder), and oneDNN's bfloat16 convolutions on CPUs with
//     AVX512-BF16 run about twice as fast as its float32 ones (measured, one core: 33 -> 68 G MAC/s
//     at 768 channels x 32 steps, 55 -> 103 at 96 x 1920);
//   int8: the convolution as a product of the unfolded input (one row per output step: its
//     receptive field) with the weight quantized per output channel (nn::Int8Weight); each input
//     step's channels are quantized once per block of 32 (nn::QuantizeInt8Rows); an undilated
//     convolution reads each row in place as a window of those steps (nn::Int8RowsView), a dilated
//     one copies the steps into its rows. The integer kernel runs ~150-330 G MAC/s per core at
//     these shapes (AVX-512 VNNI). A row's arithmetic does not depend on the other rows, so
//     streaming stays exact.
//   bfloat16 on CPUs with AMX-BF16 (nn::AmxBf16Available): the same rounding of weights and
//     inputs, multiplied on AMX tiles by our own kernel (common/nn/bf16_tiles.h) instead of
//     oneDNN's, ~2x the int8 kernel's multiply-adds per second at these shapes. A row's arithmetic
//     does not depend on the other rows there either, so frames can share a pass.
// In every mode activations and residuals stay float32; the carried streaming state too, except in
// int8 mode, which carries its history already quantized (decoder_layers.cc). Grouped (depthwise)
// convolutions stay float32 in the int8 and bfloat16 modes (per channel, 7 multiply-adds per
// output: no time to save, and float32's loop is row-independent).
bool CpuHasBfloat16Arithmetic();
// Whether bfloat16 convolutions run on AMX tiles in this process (see above).
bool Bfloat16ConvolutionsOnTiles();

// Conv1d with left ("causal") zero padding of (kernel-1)*dilation, stride 1.
// Weights: <prefix>.conv.weight [out, in/groups, kernel], <prefix>.conv.bias [out].
class CausalConv1d {
 public:
  static absl::StatusOr<CausalConv1d> Load(const DecoderWeights& weights, const std::string& prefix,
                                           int64_t in_channels, int64_t out_channels,
                                           int64_t kernel, int64_t dilation = 1,
                                           int64_t groups = 1);
  at::Tensor Forward(const at::Tensor& x) const;
  void AppendInitialStates(StreamStates* states) const;
  // x [steps, in] -> y [steps, out] (streaming rows; y must not overlap x).
  void Step(const float* x, int64_t steps, float* y, StreamStates& states, size_t& slot) const;
  // The same for several streams (StreamPart: x -> y), with `options` around the product.
  void StepParts(const StreamPart* parts, size_t count, size_t& slot, const ConvolutionStepOptions& options = {}) const;
  int64_t history_length() const { return (kernel_ - 1) * dilation_; }
  int64_t out_channels() const { return out_channels_; }
  // float32, bfloat16 or int8 arithmetic from now on (see CpuHasBfloat16Arithmetic above).
  void SetPrecision(WeightPrecision precision);
  // Bytes of the weights a call reads, in the form its precision keeps them.
  int64_t bytes() const;

 private:
  bool depthwise() const { return groups_ > 1 && groups_ == in_channels_ && groups_ == out_channels_; }
  // The checkpoint-layout weight [out, in/groups, kernel] for the tensor convolution.
  at::Tensor ConvolutionWeight() const;
  // Tensor convolution of an input already carrying its left context (float32 / bfloat16 modes).
  at::Tensor Convolve(const at::Tensor& padded) const;
  // y [steps, out] from full [history_length() + steps, in] (streaming rows, context first), in the
  // float32 and bfloat16 modes.
  void ConvolveRows(const float* full, int64_t steps, float* y) const;
  // int8 mode: the same from quantized steps (the first history_length() are context).
  void Int8ConvolveRows(const nn::Int8Rows& per_step, int64_t steps, float* y) const;
  // float32: [out, kernel * in/groups], taps-major (a receptive field's rows in time order, as
  // streaming rows lay them out); bfloat16 mode: the checkpoint layout in bfloat16; int8: undefined.
  at::Tensor weight_, bias_;
  at::Tensor depthwise_taps_;  // float32 depthwise: [kernel, channels]
  nn::Int8Weight int8_weight_;  // [out, kernel * in rounded up to 32 per tap]
  nn::Bf16TileWeight tile_weight_;  // bfloat16 mode on AMX tiles (weight_ undefined, bias_ float32)
  int64_t in_channels_ = 0, out_channels_ = 0, kernel_ = 1, dilation_ = 1, groups_ = 1;
  WeightPrecision precision_ = WeightPrecision::kFloat32;
};

// ConvTranspose1d (stride r, kernel K >= r) followed by trimming K - r samples on the right,
// which makes it causal: output block j (r samples) depends on inputs j, j-1, ...,
// j - (ceil(K/r) - 1). Weights: <prefix>.conv.weight [in, out, K], <prefix>.conv.bias [out].
class CausalConvTranspose1d {
 public:
  static absl::StatusOr<CausalConvTranspose1d> Load(const DecoderWeights& weights,
                                                    const std::string& prefix, int64_t in_channels,
                                                    int64_t out_channels, int64_t kernel,
                                                    int64_t stride);
  at::Tensor Forward(const at::Tensor& x) const;
  void AppendInitialStates(StreamStates* states) const;
  // x [steps, in] -> y [steps * stride, out] (streaming rows; y must not overlap x).
  void Step(const float* x, int64_t steps, float* y, StreamStates& states, size_t& slot) const;
  // The same for several streams (StreamPart: x -> y), with `options` around the product.
  void StepParts(const StreamPart* parts, size_t count, size_t& slot, const ConvolutionStepOptions& options = {}) const;
  int64_t stride() const { return stride_; }
  int64_t out_channels() const { return out_channels_; }
  void SetPrecision(WeightPrecision precision);  // as CausalConv1d's
  int64_t bytes() const;  // as CausalConv1d's

 private:
  // Input frames that reach one output block: ceil(K / stride).
  int64_t taps() const { return (kernel_ + stride_ - 1) / stride_; }
  // Input frames of history Step needs: taps - 1.
  int64_t history_frames() const { return taps() - 1; }
  // The weight in the checkpoint's [in, out, K] layout (a copy).
  at::Tensor CheckpointWeight() const;
  // The output blocks of the last n frames of full ([history_frames() + n, in] streaming rows) as
  // streaming rows y [n * stride, out], bias included: float32 and bfloat16 modes.
  void BlockRows(const float* full, int64_t n, float* y) const;
  // int8 mode: the same from quantized frames (history first).
  void Int8BlockRows(const nn::Int8Rows& per_step, int64_t n, float* y) const;
  // [stride * out, taps * in]: row p * out + o gives output sample p of a block for channel o, and
  // the columns are the block's input frames oldest first, so that its rows are exactly the
  // receptive field's window of streaming rows and its output rows the block's samples in time
  // order (see Load). bfloat16 in bfloat16 mode, undefined in int8 mode.
  at::Tensor block_matrix_;
  nn::Int8Weight int8_block_matrix_;  // int8 mode (taps * in rounded up to 32 per tap)
  nn::Bf16TileWeight tile_block_matrix_;  // bfloat16 mode on AMX tiles (block_bias_ stays float32)
  at::Tensor bias_;
  at::Tensor block_bias_;  // [stride * out] as block_matrix_'s rows: bfloat16 in bfloat16 mode
  WeightPrecision precision_ = WeightPrecision::kFloat32;
  int64_t in_channels_ = 0, out_channels_ = 0, kernel_ = 1, stride_ = 1;
};

// SnakeBeta: x + 1/(exp(beta) + 1e-9) * sin(x * exp(alpha))^2, per channel.
// Weights: <prefix>.alpha [C], <prefix>.beta [C]. Stateless.
class SnakeBeta {
 public:
  static absl::StatusOr<SnakeBeta> Load(const DecoderWeights& weights, const std::string& prefix,
                                        int64_t channels);
  at::Tensor Forward(const at::Tensor& x) const;
  // Streaming rows x [steps, C] -> y (may be x).
  void Rows(const float* x, int64_t steps, float* y) const;
  // exp(alpha) and 1 / (exp(beta) + 1e-9) per channel, for the kernels that apply the activation
  // on the way into another layout (ConvolutionStepOptions).
  nn::SnakeBetaChannels Channels() const;
  int64_t bytes() const;

 private:
  at::Tensor alpha_exp_, inv_beta_;  // [1, C, 1]
};

// ConvNeXt block: causal depthwise conv (k=7), LayerNorm(eps 1e-6), Linear(C,4C), GELU (erf),
// Linear(4C,C), per-channel gamma, residual.
class ConvNeXtBlock {
 public:
  static absl::StatusOr<ConvNeXtBlock> Load(const DecoderWeights& weights,
                                            const std::string& prefix, int64_t channels);
  at::Tensor Forward(const at::Tensor& x) const;
  void AppendInitialStates(StreamStates* states) const;
  // Streaming rows x [steps, C], in place.
  void Step(float* x, int64_t steps, StreamStates& states, size_t& slot) const;
  // The same for several streams (StreamPart: x in place).
  void StepParts(const StreamPart* parts, size_t count, size_t& slot) const;
  // How the pointwise layers' weights are kept (nn::Linear::Quantize).
  void QuantizeLinears(nn::LinearQuantization quantization);
  // The depthwise convolution's precision (int8 keeps it float32, see above).
  void SetConvolutionPrecision(WeightPrecision precision) { dwconv_.SetPrecision(precision); }
  int64_t bytes() const;

 private:
  CausalConv1d dwconv_;
  at::Tensor norm_weight_, norm_bias_, gamma_;
  nn::Linear pw1_, pw2_;
  int64_t channels_ = 0;
};

// Residual unit: SnakeBeta, causal conv (k=7, dilation d), SnakeBeta, conv (k=1), residual.
class SnakeResidualUnit {
 public:
  static absl::StatusOr<SnakeResidualUnit> Load(const DecoderWeights& weights,
                                                const std::string& prefix, int64_t channels,
                                                int64_t dilation);
  at::Tensor Forward(const at::Tensor& x) const;
  void AppendInitialStates(StreamStates* states) const;
  // Streaming rows x [steps, C], in place.
  void Step(float* x, int64_t steps, StreamStates& states, size_t& slot) const;
  // The same for several streams (StreamPart: x in place).
  void StepParts(const StreamPart* parts, size_t count, size_t& slot) const;
  void SetConvolutionPrecision(WeightPrecision precision);
  int64_t bytes() const;

 private:
  SnakeBeta act1_, act2_;
  CausalConv1d conv1_, conv2_;
  int64_t channels_ = 0;
};

// Decoder block i: SnakeBeta(in), causal transposed conv (in -> out, kernel 2r, stride r),
// residual units with dilations 1, 3, 9.
class SnakeDecoderBlock {
 public:
  static absl::StatusOr<SnakeDecoderBlock> Load(const DecoderWeights& weights,
                                                const std::string& prefix, int64_t in_channels,
                                                int64_t out_channels, int64_t upsample_rate);
  at::Tensor Forward(const at::Tensor& x) const;
  void AppendInitialStates(StreamStates* states) const;
  // Streaming rows x [steps, in] (left as they are) -> y [steps * upsample_rate, out] (must not
  // overlap x).
  // row_independent: the convolutions' arithmetic per row does not depend on how many rows a call
  // has (int8, bfloat16 on AMX tiles): then the residual units take their rows in chunks of
  // kUnitChunkRows, each through all three units, so that a group of frames' activations in the
  // last blocks (7680 rows x 96 channels = 2.9 MB per buffer at 4 frames) stay in L2 from one unit
  // to the next. The units are causal and carry their history, so the result is the same.
  void Step(float* x, int64_t steps, float* y, StreamStates& states, size_t& slot, bool row_independent = false) const;
  // The same for several streams (StreamPart: x -> y); with row_independent, chunk k of every
  // stream's rows goes through the units together, the kUnitChunkRows rows shared between them.
  void StepParts(const StreamPart* parts, size_t count, size_t& slot, bool row_independent = false) const;
  static constexpr int64_t kUnitChunkRows = 1024;
  int64_t upsample_rate() const { return upsample_.stride(); }
  int64_t out_channels() const { return upsample_.out_channels(); }
  void SetConvolutionPrecision(WeightPrecision precision);
  int64_t bytes() const;

 private:
  SnakeBeta act_;
  CausalConvTranspose1d upsample_;
  std::vector<SnakeResidualUnit> units_;
};

}  // namespace qwen3tts
