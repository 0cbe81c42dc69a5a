// The SnakeBeta activation of the codec decoder, in one pass over the activations:
//   y = x + inv_beta[c] * sin(alpha[c] * x)^2   for every element x of channel c
// (alpha and inv_beta are the loaded exp(alpha) and 1 / (exp(beta) + 1e-9)). The tensor form is five
// ATen ops, each writing a whole temporary, and ATen's sin the most accurate (and slowest) SLEEF
// variant.
//
// sin is a Cody-Waite reduction by pi/2 and the Cephes single-precision polynomials (within ~2 ulp
// of the correctly rounded sin for |argument| <= 8192; larger or non-finite arguments, which trained
// weights do not produce, take libm's sin). sin^2 needs no sign, so the quadrant only picks sin or
// cos of the reduced argument. Every element is computed alone by the same instructions, wherever
// it sits, so a streaming decode and an offline one give the same bits.
#pragma once

#include <cstdint>

namespace qwen3tts::nn {

// False where the CPU lacks AVX2 + FMA; the caller then uses its tensor ops.
bool SnakeBetaAvailable();

// x and y: [rows, steps] contiguous (y may be x); row r is channel r % channels.
// Requires SnakeBetaAvailable().
void SnakeBetaChannelsFirst(const float* x, float* y, int64_t rows, int64_t steps, const float* alpha,
                            const float* inv_beta, int64_t channels);

// x and y: [steps, channels] contiguous (y may be x). Requires SnakeBetaAvailable().
void SnakeBetaChannelsLast(const float* x, float* y, int64_t steps, int64_t channels, const float* alpha,
                           const float* inv_beta);

// Rows of `row_elements` per chunk when an offline decode's activations are split between threads
// (2^16 elements a chunk); a streaming step's (at most a few hundred thousand) run on the calling
// thread.
inline int64_t SnakeRowsPerChunk(int64_t row_elements) {
  constexpr int64_t kElementsPerChunk = int64_t{1} << 16;
  return row_elements >= kElementsPerChunk ? 1 : kElementsPerChunk / (row_elements > 0 ? row_elements : 1);
}

// A SnakeBeta's per-channel parameters, for kernels that apply it on the way into another layout
// (bf16_tiles.h: the rounded input steps of a convolution on AMX tiles).
struct SnakeBetaChannels {
  const float* alpha = nullptr;     // exp(alpha) per channel
  const float* inv_beta = nullptr;  // 1 / (exp(beta) + 1e-9) per channel
};

// Internal to common/nn: sin for the arguments the kernels do not reduce themselves (libm's, in
// double).
float SnakeSlowSin(float a);

// Internal to common/nn: the AVX2 + FMA (and AVX-512) kernels over n contiguous elements; `slow_sin` computes
// sin for the arguments they do not reduce themselves. OneChannel: all of one channel's alpha and
// inv_beta; PerChannel: element i is channel i (alpha[i], inv_beta[i]).
using SnakeSlowSinFn = float (*)(float);
void SnakeBetaOneChannelAvx2(const float* x, float* y, int64_t n, float alpha, float inv_beta,
                             SnakeSlowSinFn slow_sin);
void SnakeBetaPerChannelAvx2(const float* x, float* y, int64_t n, const float* alpha, const float* inv_beta,
                             SnakeSlowSinFn slow_sin);
// The same arithmetic 16 lanes at a time (AVX-512F), the same bits: SnakeBeta is ~14 % of a streamed
// frame on the bfloat16-tile decoder, and one AVX-512 instruction does two AVX2 ones' work.
void SnakeBetaOneChannelAvx512(const float* x, float* y, int64_t n, float alpha, float inv_beta,
                               SnakeSlowSinFn slow_sin);
void SnakeBetaPerChannelAvx512(const float* x, float* y, int64_t n, const float* alpha, const float* inv_beta,
                               SnakeSlowSinFn slow_sin);

}  // namespace qwen3tts::nn
