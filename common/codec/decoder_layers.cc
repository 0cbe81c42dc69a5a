#include "common/codec/decoder_layers.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/nn/float_gemv.h"
#include "common/nn/row_ops.h"
#include "common/nn/snake_beta.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

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

// y[r, i] += bias[i] for `rows` rows of n values.
void AddBiasRows(float* y, const float* bias, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * n;
    for (int64_t i = 0; i < n; ++i) yr[i] += bias[i];
  }
}

// The float32 product of a causal convolution's receptive fields with a taps-major weight w [out,
// taps * in]: y [steps, out] row t = w . (rows t, t + dilation, ..., t + (taps - 1) * dilation of
// `full`, [steps + (taps - 1) * dilation, in]) + bias.
// Up to kFloatGemvMaxRows steps the few-rows kernel reads each receptive field in place (with
// dilation 1 it is a window of consecutive rows). Longer steps (the last decoder blocks' transposed
// convolutions: hundreds of frames against small weights) are GEMM's shape: their rows are gathered
// in chunks and multiplied by BLAS into y through tensor views of the buffers (no buffer allocated).
void FloatWindowProduct(const at::Tensor& w, const at::Tensor& bias, const float* full, int64_t in, int64_t steps,
                        int64_t taps, int64_t dilation, float* y) {
  const int64_t out = w.size(0), width = taps * in;
  if (steps <= nn::kFloatGemvMaxRows && (taps == 1 || dilation == 1)) {
    nn::FloatGemvStridedInto(w.data_ptr<float>(), out, width, full, in, steps, y);
  } else {
    thread_local std::vector<float> gathered;
    // In chunks of output steps, so that the gathered rows are still in cache when the product reads them.
    constexpr int64_t kChunkSteps = 128;
    float* rows = nn::GrowTo(&gathered, std::min(kChunkSteps, steps) * width);
    for (int64_t first = 0; first < steps; first += kChunkSteps) {
      const int64_t n = std::min(kChunkSteps, steps - first);
      for (int64_t t = 0; t < n; ++t) {
        if (dilation == 1) {
          std::memcpy(rows + t * width, full + (first + t) * in, width * sizeof(float));
          continue;
        }
        for (int64_t k = 0; k < taps; ++k) {
          std::memcpy(rows + t * width + k * in, full + (first + t + k * dilation) * in, in * sizeof(float));
        }
      }
      if (steps <= nn::kFloatGemvMaxRows) {
        nn::FloatGemvInto(w.data_ptr<float>(), out, width, rows, n, y + first * out);
      } else {
        at::Tensor product = at::from_blob(y + first * out, {n, out}, at::kFloat);
        at::mm_out(product, at::from_blob(rows, {n, width}, at::kFloat), w.t());
      }
    }
  }
  AddBiasRows(y, bias.data_ptr<float>(), steps, out);
}

// The int8 analogue from input steps already quantized (`per_step`, one row per input step, context
// first): y [steps, w.out] row t = w . (steps t, t + dilation, ..., t + (taps - 1) * dilation) + bias.
//
// Undilated, each output step's row is `taps` consecutive steps of `per_step`, read in place
// (nn::Int8RowsView). Dilated, the rows are copied out (unfolded). Regrouping the steps by phase
// (t mod dilation) would make those rows windows too, but at a frame per call a phase has only a
// few rows (4 for the first block's 32 steps at dilation 9), and a product per phase re-read the
// whole weight from L3 per phase: no faster overall.
void Int8WindowProduct(const nn::Int8Weight& w, const float* bias, const nn::Int8Rows& per_step, int64_t steps,
                       int64_t taps, int64_t dilation, float* y) {
  const int64_t blocks = per_step.blocks, width = blocks * nn::kInt8ActivationBlock;
  // In chunks of output rows, so that the rows a chunk reads stay in cache while every tile of the
  // weights passes over them (a whole utterance's steps can be tens of MB).
  constexpr int64_t kChunkRows = 256;
  thread_local nn::Int8Rows unfolded;  // reused: a streaming step allocates nothing here
  for (int64_t first = 0; first < steps; first += kChunkRows) {
    const int64_t n = std::min(kChunkRows, steps - first);
    if (taps == 1 || dilation == 1) {
      const nn::Int8RowsView windows{per_step.q.data() + first * width, per_step.scale.data() + first * blocks,
                                     per_step.correction.data() + first * blocks, n, taps * blocks, width, blocks};
      nn::Int8GemvRowsViewInto(w, windows, y + first * w.out, w.out);
      continue;
    }
    unfolded.rows = n;
    unfolded.blocks = taps * blocks;
    nn::GrowTo(&unfolded.q, n * taps * width);
    nn::GrowTo(&unfolded.scale, n * taps * blocks);
    nn::GrowTo(&unfolded.correction, n * taps * blocks);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t k = 0; k < taps; ++k) {
        const int64_t source = first + t + k * dilation;
        const int64_t row = t * taps + k;
        std::memcpy(&unfolded.q[row * width], &per_step.q[source * width], width);
        std::memcpy(&unfolded.scale[row * blocks], &per_step.scale[source * blocks], blocks * sizeof(float));
        std::memcpy(&unfolded.correction[row * blocks], &per_step.correction[source * blocks],
                    blocks * sizeof(int32_t));
      }
    }
    nn::Int8GemvRowsInto(w, unfolded, y + first * w.out);
  }
  AddBiasRows(y, bias, steps, w.out);
}

// The bfloat16 analogue on AMX tiles, from float32 input steps `full` ([steps + (taps - 1) *
// dilation, in], context first): rounded to bfloat16 once per step, read in place by every tap.
void TileWindowProduct(const nn::Bf16TileWeight& w, const float* bias, const float* full, int64_t in, int64_t steps,
                       int64_t dilation, float* y) {
  thread_local nn::Bf16Steps rounded;  // reused: a streaming step allocates nothing here
  nn::ToBf16Steps(full, steps + (w.taps - 1) * dilation, in, w.width, &rounded);
  nn::Bf16ConvRowsInto(w, rounded, steps, dilation, bias, y, w.out);
}

// Several streams' steps through a convolution on AMX tiles (StreamPart: x -> y): each stream's
// input after its carried history (which becomes the last of its steps), rounded to bfloat16, then
// one product for all of them, so that each weight tile is read once for every stream's rows.
void TileStepParts(const nn::Bf16TileWeight& w, const float* bias, int64_t in, int64_t dilation,
                   const StreamPart* parts, size_t count, size_t slot, const ConvolutionStepOptions& options);

// Streaming rows [steps, channels] quantized once per step, as the products' rows see them.
const nn::Int8Rows& QuantizeRows(const float* x, int64_t steps, int64_t channels) {
  thread_local nn::Int8Rows per_step;
  nn::QuantizeInt8Rows(x, steps, channels, &per_step);
  return per_step;
}

// A whole-utterance input [1, channels, length] with `context` zero steps in front, as streaming
// rows [context + length, channels].
at::Tensor PaddedRows(const at::Tensor& x, int64_t context) {
  return at::constant_pad_nd(x, {context, 0}, 0.0)[0].t().contiguous();
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
const nn::Int8Rows& QuantizeStepsAfterHistory(const float* x, int64_t steps, int64_t channels, at::Tensor& history) {
  const nn::Int8Rows& fresh = QuantizeRows(x, steps, channels);
  if (history.size(0) == 0) return fresh;  // a 1x1 convolution carries nothing
  thread_local nn::Int8Rows per_step;
  const int64_t h = history.size(0), n = fresh.rows, rows = h + n, blocks = fresh.blocks;
  const int64_t width = blocks * nn::kInt8ActivationBlock, row_bytes = history.size(1);
  const int64_t scale_bytes = blocks * static_cast<int64_t>(sizeof(float));
  const int64_t correction_bytes = blocks * static_cast<int64_t>(sizeof(int32_t));
  per_step.rows = rows;
  per_step.blocks = blocks;
  nn::GrowTo(&per_step.q, rows * width);
  nn::GrowTo(&per_step.scale, rows * blocks);
  nn::GrowTo(&per_step.correction, rows * blocks);
  uint8_t* stored = history.data_ptr<uint8_t>();
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

// The streaming rows [history, x's steps] of a float32 convolution's input; `history` ([h, channels])
// becomes the last h of them. Points into a per-thread buffer, valid until the next call.
const float* FloatStepsAfterHistory(const float* x, int64_t steps, int64_t channels, at::Tensor& history) {
  const int64_t h = history.size(0);
  if (h == 0) return x;
  thread_local std::vector<float> full;
  float* rows = nn::GrowTo(&full, (h + steps) * channels);
  float* stored = history.data_ptr<float>();
  std::memcpy(rows, stored, h * channels * sizeof(float));
  std::memcpy(rows + h * channels, x, steps * channels * sizeof(float));
  std::memcpy(stored, rows + steps * channels, h * channels * sizeof(float));
  return rows;
}

// The bfloat16 steps [history, x's steps] of a convolution on AMX tiles; `history` ([h, width]
// bfloat16, as the tiles read it) becomes the last h of them. The history is kept rounded: its
// float32 form was copied in front of each call's input and rounded again on every call (with the
// input's copy, ~5 % of a streamed frame), and rounding is the same whenever it happens, so the
// samples do not change.
void RoundedStepsAfterHistory(const float* x, int64_t steps, int64_t in, int64_t width, at::Tensor& history,
                              nn::Bf16Steps* out, const nn::SnakeBetaChannels* activation = nullptr) {
  const int64_t h = history.size(0);
  uint16_t* stored = reinterpret_cast<uint16_t*>(history.data_ptr<at::BFloat16>());
  nn::ToBf16StepsAfter(stored, h, x, steps, in, width, out, activation);
  if (h > 0) std::memcpy(stored, out->values.data() + steps * width, static_cast<size_t>(h * width) * sizeof(uint16_t));
}

// One stream's step through a convolution on AMX tiles (y: [steps, w.out]).
void TileStep(const nn::Bf16TileWeight& w, const float* bias, int64_t in, int64_t dilation, const float* x,
              int64_t steps, float* y, at::Tensor& history) {
  thread_local nn::Bf16Steps rounded;  // reused: a streaming step allocates nothing here
  RoundedStepsAfterHistory(x, steps, in, w.width, history, &rounded);
  nn::Bf16ConvRowsInto(w, rounded, steps, dilation, bias, y, w.out);
}

// A tile convolution's initial state: its history of zero steps, rounded.
at::Tensor ZeroRoundedHistory(int64_t steps, const nn::Bf16TileWeight& w) {
  return at::zeros({steps, w.width}, at::kBFloat16);
}

void TileStepParts(const nn::Bf16TileWeight& w, const float* bias, int64_t in, int64_t dilation,
                   const StreamPart* parts, size_t count, size_t slot, const ConvolutionStepOptions& options) {
  thread_local std::vector<nn::Bf16Steps> rounded;  // one per stream, reused
  thread_local std::vector<nn::Bf16ConvPart> products;
  if (rounded.size() < count) rounded.resize(count);
  products.clear();
  nn::SnakeBetaChannels activation;
  if (options.activation != nullptr) activation = options.activation->Channels();
  for (size_t i = 0; i < count; ++i) {
    const StreamPart& p = parts[i];
    RoundedStepsAfterHistory(p.x, p.steps, in, w.width, (*p.states)[slot], &rounded[i],
                             options.activation != nullptr ? &activation : nullptr);
    products.push_back(nn::Bf16ConvPart{&rounded[i], p.steps, p.y});
  }
  nn::Bf16ConvPartsInto(w, products.data(), static_cast<int64_t>(products.size()), dilation, bias, w.out,
                        options.add_to_output);
}

// A convolution's StepParts, from its state slot (which `slot` then passes): on AMX tiles one
// product for all the streams, the options inside it; otherwise each stream's own Step, the
// activation before it (into a buffer) and the sum after it. out_per_step: output values per input
// step (a transposed convolution's stride times its channels).
template <typename Convolution>
void StepConvolutionParts(const Convolution& convolution, const nn::Bf16TileWeight& tiles, const at::Tensor& bias,
                          int64_t in, int64_t dilation, int64_t out_per_step, const StreamPart* parts, size_t count,
                          size_t& slot, const ConvolutionStepOptions& options) {
  const size_t mine = slot++;
  if (tiles.packed.defined()) {
    TileStepParts(tiles, bias.data_ptr<float>(), in, dilation, parts, count, mine, options);
    return;
  }
  int64_t inputs = 0, outputs = 0;
  for (size_t i = 0; i < count; ++i) inputs += parts[i].steps * in, outputs += parts[i].steps * out_per_step;
  thread_local std::vector<float> activated_buffer, product_buffer;
  float* activated = options.activation != nullptr ? nn::GrowTo(&activated_buffer, inputs) : nullptr;
  float* products = options.add_to_output ? nn::GrowTo(&product_buffer, outputs) : nullptr;
  for (size_t i = 0; i < count; ++i) {
    const StreamPart& p = parts[i];
    const float* x = p.x;
    if (activated != nullptr) {
      options.activation->Rows(p.x, p.steps, activated);
      x = activated;
      activated += p.steps * in;
    }
    float* y = products != nullptr ? products : p.y;
    size_t s = mine;
    convolution.Step(x, p.steps, y, *p.states, s);
    if (products != nullptr) {
      nn::AddScaledRows(p.y, y, /*scale=*/nullptr, /*rows=*/1, p.steps * out_per_step);
      products += p.steps * out_per_step;
    }
  }
}

}  // namespace

bool CpuHasBfloat16Arithmetic() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

bool Bfloat16ConvolutionsOnTiles() { return nn::AmxBf16Available(); }

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
  ASSIGN_OR_RETURN(at::Tensor weight, TakeDecoderWeight(weights, prefix + ".conv.weight",
                                                        {out_channels, in_channels / groups, kernel}));
  ASSIGN_OR_RETURN(conv.bias_, TakeDecoderWeight(weights, prefix + ".conv.bias", {out_channels}));
  conv.in_channels_ = in_channels;
  conv.out_channels_ = out_channels;
  conv.kernel_ = kernel;
  conv.dilation_ = dilation;
  conv.groups_ = groups;
  // Taps-major, as a receptive field's streaming rows: [out, kernel, in / groups].
  conv.weight_ = weight.permute({0, 2, 1}).contiguous().view({out_channels, kernel * (in_channels / groups)});
  if (conv.depthwise()) conv.depthwise_taps_ = weight.view({out_channels, kernel}).t().contiguous();
  return conv;
}

at::Tensor CausalConv1d::ConvolutionWeight() const {
  if (precision_ == WeightPrecision::kBFloat16) return weight_;
  return weight_.view({out_channels_, kernel_, in_channels_ / groups_}).permute({0, 2, 1});
}

at::Tensor CausalConv1d::Forward(const at::Tensor& x) const {
  // The reference pads (kernel-1)*dilation on the left plus an "extra" right padding that is
  // always zero at stride 1.
  if (precision_ == WeightPrecision::kInt8 || tile_weight_.packed.defined()) {
    // Causal: the whole sequence is one step from a zero history.
    const at::Tensor full = PaddedRows(x, history_length());
    at::Tensor y = at::empty({x.size(2), out_channels_}, at::kFloat);
    if (precision_ == WeightPrecision::kInt8) {
      Int8ConvolveRows(QuantizeRows(full.data_ptr<float>(), full.size(0), in_channels_), x.size(2),
                       y.data_ptr<float>());
    } else {
      ConvolveRows(full.data_ptr<float>(), x.size(2), y.data_ptr<float>());
    }
    return y.t().unsqueeze(0);
  }
  return Convolve(at::constant_pad_nd(x, {history_length(), 0}, 0.0));
}

at::Tensor CausalConv1d::Convolve(const at::Tensor& padded) const {
  if (precision_ == WeightPrecision::kBFloat16) {
    return at::conv1d(padded.to(at::kBFloat16), weight_, bias_, at::IntArrayRef{1}, at::IntArrayRef{0},
                      at::IntArrayRef{dilation_}, groups_)
        .to(at::kFloat);
  }
  return at::conv1d(padded, ConvolutionWeight(), bias_, /*stride=*/at::IntArrayRef{1}, /*padding=*/at::IntArrayRef{0},
                    at::IntArrayRef{dilation_}, groups_);
}

void CausalConv1d::ConvolveRows(const float* full, int64_t steps, float* y) const {
  if (tile_weight_.packed.defined()) {
    TileWindowProduct(tile_weight_, bias_.data_ptr<float>(), full, in_channels_, steps, dilation_, y);
  } else if (precision_ == WeightPrecision::kFloat32 && groups_ == 1 && steps <= nn::kFloatGemvMaxRows) {
    FloatWindowProduct(weight_, bias_, full, in_channels_, steps, kernel_, dilation_, y);
  } else if (precision_ == WeightPrecision::kFloat32 && depthwise()) {
    // Per channel: y[t, c] = sum_k w[c, k] x[t + k * dilation, c] + b[c], vectorized along the channels.
    const int64_t channels = in_channels_;
    const float* taps = depthwise_taps_.data_ptr<float>();
    const float* bias = bias_.data_ptr<float>();
    for (int64_t t = 0; t < steps; ++t) {
      float* yt = y + t * channels;
      std::fill(yt, yt + channels, 0.0f);
      for (int64_t k = 0; k < kernel_; ++k) {
        const float* xk = full + (t + k * dilation_) * channels;
        const float* wk = taps + k * channels;
        for (int64_t c = 0; c < channels; ++c) yt[c] += wk[c] * xk[c];
      }
      for (int64_t c = 0; c < channels; ++c) yt[c] += bias[c];
    }
  } else {
    // oneDNN's convolution: bfloat16 (its kernels are why that mode exists), other grouped
    // convolutions, and float32 over many steps (the last decoder blocks' hundreds of samples per
    // frame), where its JIT kernels run about twice as fast as a row product by BLAS (perf, one
    // core: ~85 against ~43 G multiply-adds/s) and are worth the output tensor they allocate.
    const at::Tensor padded = at::from_blob(const_cast<float*>(full), {history_length() + steps, in_channels_},
                                            at::kFloat).t().unsqueeze(0);
    at::from_blob(y, {steps, out_channels_}, at::kFloat).copy_(Convolve(padded)[0].t());
  }
}

void CausalConv1d::Int8ConvolveRows(const nn::Int8Rows& per_step, int64_t steps, float* y) const {
  Int8WindowProduct(int8_weight_, bias_.data_ptr<float>(), per_step, steps, kernel_, dilation_, y);
}

void CausalConv1d::AppendInitialStates(StreamStates* states) const {
  if (tile_weight_.packed.defined()) {
    states->push_back(ZeroRoundedHistory(history_length(), tile_weight_));
  } else if (precision_ == WeightPrecision::kInt8) {
    states->push_back(at::zeros({history_length(), QuantizedStepBytes(in_channels_)}, at::kByte));
  } else {
    states->push_back(at::zeros({history_length(), in_channels_}, at::kFloat));
  }
}

void CausalConv1d::Step(const float* x, int64_t steps, float* y, StreamStates& states, size_t& slot) const {
  at::Tensor& history = states[slot++];
  if (tile_weight_.packed.defined()) {
    TileStep(tile_weight_, bias_.data_ptr<float>(), in_channels_, dilation_, x, steps, y, history);
  } else if (precision_ == WeightPrecision::kInt8) {
    Int8ConvolveRows(QuantizeStepsAfterHistory(x, steps, in_channels_, history), steps, y);
  } else {
    ConvolveRows(FloatStepsAfterHistory(x, steps, in_channels_, history), steps, y);
  }
}

void CausalConv1d::StepParts(const StreamPart* parts, size_t count, size_t& slot,
                             const ConvolutionStepOptions& options) const {
  StepConvolutionParts(*this, tile_weight_, bias_, in_channels_, dilation_, out_channels_, parts, count, slot, options);
}

void CausalConv1d::SetPrecision(WeightPrecision precision) {
  if (precision == precision_ || precision_ != WeightPrecision::kFloat32) return;  // chosen once, at load
  if (precision == WeightPrecision::kBFloat16 && groups_ == 1 && Bfloat16ConvolutionsOnTiles()) {
    tile_weight_ = nn::PackBf16TileWeight(weight_, kernel_, in_channels_);
    weight_ = at::Tensor();
  } else if (precision == WeightPrecision::kBFloat16 && groups_ == 1) {
    weight_ = ConvolutionWeight().contiguous().to(at::kBFloat16);
    bias_ = bias_.to(at::kBFloat16);
  } else if (precision == WeightPrecision::kInt8 && groups_ == 1) {
    int8_weight_ = QuantizeTapMajor(weight_, kernel_, in_channels_);
    weight_ = at::Tensor();
  } else {
    return;  // float32: grouped convolutions in the bfloat16 and int8 modes, and precisions convolutions do not have
  }
  precision_ = precision;
}

int64_t CausalConv1d::bytes() const {
  // A depthwise step reads its taps (weight_ serves the tensor path); otherwise one weight form is
  // defined per precision, the others are empty.
  const int64_t weight = depthwise() ? nn::TensorBytes(depthwise_taps_)
                                     : nn::TensorBytes(weight_) + nn::TensorBytes(int8_weight_.packed) +
                                           nn::TensorBytes(int8_weight_.scale) + nn::TensorBytes(tile_weight_.packed);
  return weight + nn::TensorBytes(bias_);
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
  // Output sample p of block j (p < stride) = sum over q < taps of W[:, :, p + q*stride]^T x[j - q]:
  // one matrix [stride * out, taps * in] times the input frames j - taps + 1, ..., j (oldest first:
  // column block a reads frame j - (taps - 1 - a), so q = taps - 1 - a). Stored only in this layout
  // (Forward rebuilds the checkpoint layout when it needs it).
  const int64_t taps = conv.taps();
  at::Tensor padded = at::zeros({in_channels, out_channels, taps * stride});
  padded.narrow(2, 0, kernel).copy_(weight);
  conv.block_matrix_ = padded.view({in_channels, out_channels, taps, stride})
                           .flip({2})              // [in, out, a, p]
                           .permute({3, 1, 2, 0})  // [p, out, a, in]
                           .reshape({stride * out_channels, taps * in_channels})
                           .contiguous();
  conv.block_bias_ = conv.bias_.repeat({stride});  // row p * out + o: bias[o]
  return conv;
}

at::Tensor CausalConvTranspose1d::CheckpointWeight() const {
  const int64_t taps = this->taps();
  return block_matrix_.view({stride_, out_channels_, taps, in_channels_})
      .permute({3, 1, 2, 0})  // [in, out, a, p]
      .flip({2})              // [in, out, q, p]
      .reshape({in_channels_, out_channels_, taps * stride_})
      .narrow(2, 0, kernel_)
      .contiguous();
}

void CausalConvTranspose1d::SetPrecision(WeightPrecision precision) {
  if (precision == precision_ || precision_ != WeightPrecision::kFloat32) return;  // chosen once, at load
  // The block-matrix form for every call: oneDNN's bfloat16 transposed convolution refuses an
  // input shorter than the kernel (a one-frame step of the ConvNeXt upsampler), and the product
  // form computes exactly the new output blocks anyway.
  if (precision == WeightPrecision::kBFloat16 && Bfloat16ConvolutionsOnTiles()) {
    tile_block_matrix_ = nn::PackBf16TileWeight(block_matrix_, taps(), in_channels_);
    block_matrix_ = at::Tensor();
  } else if (precision == WeightPrecision::kBFloat16) {
    block_matrix_ = block_matrix_.to(at::kBFloat16).contiguous();
    block_bias_ = block_bias_.to(at::kBFloat16);
  } else if (precision == WeightPrecision::kInt8) {
    int8_block_matrix_ = QuantizeTapMajor(block_matrix_, taps(), in_channels_);
    block_matrix_ = at::Tensor();
  } else {
    return;
  }
  precision_ = precision;
}

int64_t CausalConvTranspose1d::bytes() const {
  // The block matrix in one form, its bias; the checkpoint-layout bias_ is not read by a step.
  return nn::TensorBytes(block_matrix_) + nn::TensorBytes(int8_block_matrix_.packed) +
         nn::TensorBytes(int8_block_matrix_.scale) + nn::TensorBytes(tile_block_matrix_.packed) +
         nn::TensorBytes(block_bias_);
}

void CausalConvTranspose1d::BlockRows(const float* full, int64_t n, float* y) const {
  // Block j's receptive field is the window of rows j .. j + taps - 1 of `full`; its output row is
  // the block's stride samples back to back, i.e. streaming rows [stride, out].
  if (precision_ == WeightPrecision::kFloat32) {
    FloatWindowProduct(block_matrix_, block_bias_, full, in_channels_, n, taps(), /*dilation=*/1, y);
    return;
  }
  if (tile_block_matrix_.packed.defined()) {
    TileWindowProduct(tile_block_matrix_, block_bias_.data_ptr<float>(), full, in_channels_, n, /*dilation=*/1, y);
    return;
  }
  const at::Tensor windows = at::from_blob(const_cast<float*>(full), {n, taps() * in_channels_}, {in_channels_, 1},
                                           at::kFloat);
  at::from_blob(y, {n, stride_ * out_channels_}, at::kFloat)
      .copy_(at::linear(windows.to(at::kBFloat16), block_matrix_, block_bias_));
}

void CausalConvTranspose1d::Int8BlockRows(const nn::Int8Rows& per_step, int64_t n, float* y) const {
  Int8WindowProduct(int8_block_matrix_, block_bias_.data_ptr<float>(), per_step, n, taps(), /*dilation=*/1, y);
}

at::Tensor CausalConvTranspose1d::Forward(const at::Tensor& x) const {
  if (precision_ != WeightPrecision::kFloat32) {
    // Causal: the whole sequence is one step from a zero history.
    const at::Tensor full = PaddedRows(x, history_frames());
    const int64_t n = x.size(2);
    at::Tensor y = at::empty({n * stride_, out_channels_}, at::kFloat);
    if (precision_ == WeightPrecision::kInt8) {
      Int8BlockRows(QuantizeRows(full.data_ptr<float>(), full.size(0), in_channels_), n, y.data_ptr<float>());
    } else {
      BlockRows(full.data_ptr<float>(), n, y.data_ptr<float>());
    }
    return y.t().unsqueeze(0);
  }
  at::Tensor y = at::conv_transpose1d(x, CheckpointWeight(), bias_, at::IntArrayRef{stride_});
  const int64_t right_trim = kernel_ - stride_;
  if (right_trim > 0) y = y.narrow(2, 0, y.size(2) - right_trim);
  return y;
}

void CausalConvTranspose1d::AppendInitialStates(StreamStates* states) const {
  if (tile_block_matrix_.packed.defined()) {
    states->push_back(ZeroRoundedHistory(history_frames(), tile_block_matrix_));
  } else if (precision_ == WeightPrecision::kInt8) {
    states->push_back(at::zeros({history_frames(), QuantizedStepBytes(in_channels_)}, at::kByte));
  } else {
    states->push_back(at::zeros({history_frames(), in_channels_}, at::kFloat));
  }
}

void CausalConvTranspose1d::Step(const float* x, int64_t steps, float* y, StreamStates& states, size_t& slot) const {
  // Output blocks of the history frames were emitted by earlier calls; the blocks of the new frames
  // are complete (every input that reaches them is in the window); their overlap into frames that
  // have not arrived yet is recomputed from the history next time.
  at::Tensor& history = states[slot++];
  if (tile_block_matrix_.packed.defined()) {
    TileStep(tile_block_matrix_, block_bias_.data_ptr<float>(), in_channels_, /*dilation=*/1, x, steps, y, history);
  } else if (precision_ == WeightPrecision::kInt8) {
    Int8BlockRows(QuantizeStepsAfterHistory(x, steps, in_channels_, history), steps, y);
  } else {
    BlockRows(FloatStepsAfterHistory(x, steps, in_channels_, history), steps, y);
  }
}

void CausalConvTranspose1d::StepParts(const StreamPart* parts, size_t count, size_t& slot,
                                      const ConvolutionStepOptions& options) const {
  StepConvolutionParts(*this, tile_block_matrix_, block_bias_, in_channels_, /*dilation=*/1, stride_ * out_channels_,
                       parts, count, slot, options);
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

nn::SnakeBetaChannels SnakeBeta::Channels() const {
  return nn::SnakeBetaChannels{alpha_exp_.data_ptr<float>(), inv_beta_.data_ptr<float>()};
}

int64_t SnakeBeta::bytes() const { return nn::TensorBytes(alpha_exp_) + nn::TensorBytes(inv_beta_); }

void SnakeBeta::Rows(const float* x, int64_t steps, float* y) const {
  const int64_t channels = alpha_exp_.numel();
  if (nn::SnakeBetaAvailable()) {
    nn::SnakeBetaChannelsLast(x, y, steps, channels, alpha_exp_.data_ptr<float>(), inv_beta_.data_ptr<float>());
    return;
  }
  const at::Tensor rows = at::from_blob(const_cast<float*>(x), {1, steps, channels}, at::kFloat).transpose(1, 2);
  at::from_blob(y, {1, steps, channels}, at::kFloat).copy_(Forward(rows).transpose(1, 2));
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

void ConvNeXtBlock::QuantizeLinears(nn::LinearQuantization quantization) {
  pw1_.Quantize(quantization);
  pw2_.Quantize(quantization);
}

int64_t ConvNeXtBlock::bytes() const {
  return dwconv_.bytes() + nn::TensorBytes(norm_weight_) + nn::TensorBytes(norm_bias_) + nn::TensorBytes(gamma_) +
         pw1_.bytes() + pw2_.bytes();
}

at::Tensor ConvNeXtBlock::Forward(const at::Tensor& x) const {
  at::Tensor h = dwconv_.Forward(x).permute({0, 2, 1});
  h = at::layer_norm(h, {channels_}, norm_weight_, norm_bias_, 1e-6);
  h = pw2_(at::gelu(pw1_(h)));
  return x + (gamma_ * h).permute({0, 2, 1});
}

void ConvNeXtBlock::AppendInitialStates(StreamStates* states) const {
  dwconv_.AppendInitialStates(states);
}

void ConvNeXtBlock::Step(float* x, int64_t steps, StreamStates& states, size_t& slot) const {
  const StreamPart part{x, steps, nullptr, &states};
  StepParts(&part, 1, slot);
}

void ConvNeXtBlock::StepParts(const StreamPart* parts, size_t count, size_t& slot) const {
  // Every stream's rows in one product per pointwise layer: their weights (8.4 MB of int8 per
  // block at the real shape, 1-2 rows per stream and frame) are read once per call instead of
  // once per stream; one stream after another, at 8 streams x 1 frame these blocks took ~11 % of
  // the decoder's time. Each row's result is its own (the products' rows are independent).
  int64_t total = 0;
  for (size_t i = 0; i < count; ++i) total += parts[i].steps;
  thread_local std::vector<float> mixed_buffer, hidden_buffer;
  thread_local std::vector<StreamPart> to_dwconv;
  float* mixed = nn::GrowTo(&mixed_buffer, total * channels_);
  float* hidden = nn::GrowTo(&hidden_buffer, total * 4 * channels_);
  to_dwconv.clear();
  for (size_t i = 0, offset = 0; i < count; offset += static_cast<size_t>(parts[i].steps * channels_), ++i) {
    to_dwconv.push_back(StreamPart{parts[i].x, parts[i].steps, mixed + offset, parts[i].states});
  }
  dwconv_.StepParts(to_dwconv.data(), count, slot);  // past its state even with no parts
  if (total == 0) return;
  nn::LayerNormRows(mixed, total, channels_, norm_weight_.data_ptr<float>(), norm_bias_.data_ptr<float>(), 1e-6, mixed);
  pw1_.Into(mixed, total, hidden);
  nn::Gelu(hidden, total * 4 * channels_);
  pw2_.Into(hidden, total, mixed);
  for (size_t i = 0; i < count; ++i) {  // the residual, from each stream's rows of `mixed`
    nn::AddScaledRows(parts[i].x, to_dwconv[i].y, gamma_.data_ptr<float>(), parts[i].steps, channels_);
  }
}

// ---------------------------------------------------------------------------------------------
absl::StatusOr<SnakeResidualUnit> SnakeResidualUnit::Load(const DecoderWeights& weights,
                                                          const std::string& prefix,
                                                          int64_t channels, int64_t dilation) {
  SnakeResidualUnit unit;
  unit.channels_ = channels;
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

int64_t SnakeResidualUnit::bytes() const { return act1_.bytes() + conv1_.bytes() + act2_.bytes() + conv2_.bytes(); }

void SnakeResidualUnit::AppendInitialStates(StreamStates* states) const {
  conv1_.AppendInitialStates(states);
  conv2_.AppendInitialStates(states);
}

void SnakeResidualUnit::Step(float* x, int64_t steps, StreamStates& states, size_t& slot) const {
  const StreamPart part{x, steps, nullptr, &states};
  StepParts(&part, 1, slot);
}

void SnakeResidualUnit::StepParts(const StreamPart* parts, size_t count, size_t& slot) const {
  int64_t total = 0;
  for (size_t i = 0; i < count; ++i) total += parts[i].steps;
  thread_local std::vector<float> conv_buffer;
  thread_local std::vector<StreamPart> to_conv, to_residual;  // the two convolutions' parts
  float* conv = nn::GrowTo(&conv_buffer, total * channels_);
  to_conv.clear();
  to_residual.clear();
  for (size_t i = 0, offset = 0; i < count; offset += static_cast<size_t>(parts[i].steps * channels_), ++i) {
    const StreamPart& p = parts[i];
    to_conv.push_back(StreamPart{p.x, p.steps, conv + offset, p.states});
    to_residual.push_back(StreamPart{conv + offset, p.steps, p.x, p.states});
  }
  conv1_.StepParts(to_conv.data(), count, slot, ConvolutionStepOptions{/*activation=*/&act1_});
  conv2_.StepParts(to_residual.data(), count, slot, ConvolutionStepOptions{/*activation=*/&act2_, /*add_to_output=*/true});
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

int64_t SnakeDecoderBlock::bytes() const {
  int64_t n = act_.bytes() + upsample_.bytes();
  for (const SnakeResidualUnit& unit : units_) n += unit.bytes();
  return n;
}

void SnakeDecoderBlock::AppendInitialStates(StreamStates* states) const {
  upsample_.AppendInitialStates(states);
  for (const auto& unit : units_) unit.AppendInitialStates(states);
}

void SnakeDecoderBlock::Step(float* x, int64_t steps, float* y, StreamStates& states, size_t& slot,
                             bool row_independent) const {
  const StreamPart part{x, steps, y, &states};
  StepParts(&part, 1, slot, row_independent);
}

void SnakeDecoderBlock::StepParts(const StreamPart* parts, size_t count, size_t& slot, bool row_independent) const {
  upsample_.StepParts(parts, count, slot, ConvolutionStepOptions{/*activation=*/&act_});
  const int64_t channels = upsample_.out_channels();
  int64_t most = 0;  // rows of the longest stream
  for (size_t i = 0; i < count; ++i) most = std::max(most, parts[i].steps * upsample_.stride());
  // Row-independent: kUnitChunkRows rows in all per chunk, shared between the streams (at least two
  // tile groups each), so that the streams' activations together stay in L2 through the units
  // (8 streams of 1 frame: 1.12-1.16x less time per frame than 1024 rows each).
  const int64_t chunk = row_independent
                            ? std::max<int64_t>(2 * nn::kBf16TileRows,
                                                kUnitChunkRows / static_cast<int64_t>(std::max<size_t>(count, 1)))
                            : most;
  thread_local std::vector<StreamPart> chunks;
  const size_t first_unit_slot = slot;
  for (int64_t begin = 0;; begin += chunk) {  // at least once, so that `slot` passes the units' states
    chunks.clear();
    for (size_t i = 0; i < count; ++i) {
      const int64_t rows = parts[i].steps * upsample_.stride();
      if (rows > begin) {
        chunks.push_back(StreamPart{parts[i].y + begin * channels, std::min(chunk, rows - begin), nullptr, parts[i].states});
      }
    }
    slot = first_unit_slot;  // every chunk continues the same units' histories
    for (const auto& unit : units_) unit.StepParts(chunks.data(), chunks.size(), slot);
    if (begin + chunk >= most) break;
  }
}

}  // namespace qwen3tts
