// Convolution products in bfloat16 on AMX tiles: the codec decoder's bfloat16 convolutions on CPUs
// with AMX-BF16 (Sapphire Rapids and later Xeons).
//
// Why: the decoder's time is convolution arithmetic (~2.5 G multiply-adds per frame), and its
// convolutions multiply hundreds to thousands of rows (one per output sample) by small weights. One
// tile instruction multiplies 16 rows by 16 outputs over 32 inputs (8192 multiply-adds) and keeps
// float32 sums in the tile across every input, so nothing but tile loads runs beside it: measured,
// one core, the decoder's convolution shapes at 0.6-0.78 T multiply-adds/s (bf16_tiles_amx.cc),
// against ~0.3 T for the int8 VNNI kernel; a streamed frame 1.33-1.40x faster than with int8
// convolutions at 4-16 frames per call, and 2.2-4.4x faster than with oneDNN's bfloat16 ones
// (bench/RESULTS.md). (Int8 tiles do not pay: int8 activations are scaled per block of 32 inputs,
// so every block's sums leave the tile and take vector instructions as the VNNI kernel's do;
// measured 0.95-1.3x the VNNI kernel on these shapes.)
//
// Arithmetic: weights and inputs rounded to bfloat16 (nearest, ties to even), products exact in
// float32, sums in float32 starting from the bias, inputs taken tap by tap and 32 inputs at a time.
// The tile unit's order within 32 inputs is the hardware's, the same for every row; a row's result
// depends on nothing but its own inputs and the weights, so a streaming decode gives the same bits
// whatever its chunking, and several frames can share a pass.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <vector>

#include "common/nn/snake_beta.h"

namespace qwen3tts::nn {

// CpuHasAmx(AmxUnit::kBf16) (cpu_features.h): AMX-TILE, AMX-BF16 and AVX512-BF16, usable by the
// process, unless QWEN3TTS_AMX=0.
bool AmxBf16Available();

// Inputs per tile step: 32 bfloat16 = one 64-byte tile row. A tile holds 16 rows (activation rows,
// or output pairs of a weight tile) and its products 16 outputs.
constexpr int64_t kBf16TileInputs = 32;
constexpr int64_t kBf16TileRows = 16;
constexpr int64_t kBf16TileOutputs = 16;
// A step's inputs rounded up to whole tile rows (the packed weight's and the steps' `width`).
inline int64_t Bf16TileWidth(int64_t in) { return (in + kBf16TileInputs - 1) / kBf16TileInputs * kBf16TileInputs; }

// A convolution weight [out, taps * in] (taps-major: a receptive field's steps in time order)
// packed for the tiles: per tile of 16 outputs, per tap, per 32 inputs (`in` zero-padded to
// `width`), 16 rows of 16 output pairs of bfloat16 (AMX's B layout: row k holds inputs 2k and
// 2k + 1 of every output).
struct Bf16TileWeight {
  at::Tensor packed;  // uint16 (bfloat16 bits)
  int64_t out = 0, taps = 0, in = 0, width = 0;
};
Bf16TileWeight PackBf16TileWeight(const at::Tensor& weight, int64_t taps, int64_t in);

// A convolution's input steps in bfloat16, each padded to `width` inputs with zeros, followed by
// zero steps that let the tiles read whole groups of 16 rows past the last output row.
struct Bf16Steps {
  std::vector<uint16_t> values;
  int64_t steps = 0, width = 0;
};
void ToBf16Steps(const float* x, int64_t steps, int64_t in, int64_t width, Bf16Steps* out);
// The same after `context_steps` steps that are already bfloat16 rows of `width` (a streaming
// convolution's carried history, kept rounded): [context, x's steps rounded]. With `activation`,
// the steps rounded are SnakeBeta(x) (snake_beta.h; its bits, then rounded as above): the codec
// decoder's activations feed its convolutions, and computing them on the way saves writing them in
// float32 and reading them back to round them (x is not changed).
void ToBf16StepsAfter(const uint16_t* context, int64_t context_steps, const float* x, int64_t steps, int64_t in,
                      int64_t width, Bf16Steps* out, const SnakeBetaChannels* activation = nullptr);

// y[r * ldy + o] = bias[o] + sum over taps j and inputs i of w[o, j, i] * x[r + j * dilation, i], for
// r < rows (x must hold rows + (taps - 1) * dilation steps). Requires AmxBf16Available().
// (Bf16ConvPartsInto with add_to_output: y[r * ldy + o] += that value, one float32 addition of the
// finished product, as adding it to y afterwards gives: the codec decoder's residual connections.)
void Bf16ConvRowsInto(const Bf16TileWeight& w, const Bf16Steps& x, int64_t rows, int64_t dilation, const float* bias,
                      float* y, int64_t ldy);

// The same for several streams' rows at once: part i's `rows` rows from its own steps into its own
// y. Each pass over a pair of output tiles takes every part's rows, so the weights are read from
// memory once for all the parts, not once per stream (a streamed frame's first convolutions have 4
// to 32 rows per stream for 20-40 MB of weights). Each row's result is the one-part call's.
struct Bf16ConvPart {
  const Bf16Steps* x;
  int64_t rows;
  float* y;
};
void Bf16ConvPartsInto(const Bf16TileWeight& w, const Bf16ConvPart* parts, int64_t num_parts, int64_t dilation,
                       const float* bias, int64_t ldy, bool add_to_output = false);

// Internal to common/nn (bf16_tiles_amx.cc, built with the AMX and AVX512-BF16 flags).
struct Bf16ConvSegment {
  const uint16_t* x;  // Bf16Steps::values
  int64_t rows;
  float* y;
};
struct Bf16ConvProblem {
  const uint16_t* w;  // Bf16TileWeight::packed
  int64_t out, taps, chunks;  // chunks: width / 32
  int64_t ldx;                // width
  int64_t dilation;
  const float* bias;
  int64_t ldy;
  const Bf16ConvSegment* segments;
  int64_t num_segments;
  bool add_to_output;  // y += the product (else y = it)
};
void Bf16ConvTilesAmx(const Bf16ConvProblem& p, int64_t tile_begin, int64_t tile_end);
void ToBf16RowsAvx512(const float* x, int64_t rows, int64_t in, int64_t width, uint16_t* out);
void SnakeBetaToBf16RowsAvx512(const float* x, int64_t rows, int64_t in, int64_t width,
                               const SnakeBetaChannels& activation, uint16_t* out);

}  // namespace qwen3tts::nn
