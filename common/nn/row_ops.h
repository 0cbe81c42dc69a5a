// Float32 row operations of a transformer decoding step, on caller-owned buffers.
//
// Why not tensor ops: a decoding step is a handful of rows, and at that size an ATen op costs more
// in dispatch, shape checks and a fresh output allocation than in arithmetic. The 0.6B code
// predictor runs 15 steps of 5 blocks per frame, about 60 ops a block: profiled, a quarter of an
// int8 frame went to that bookkeeping, not to the weights. These loops compute what the reference's
// tensor code computes (float32 throughout, same formulas); they are checked against tensor-op
// definitions in tests/unit/nn_row_ops_test.cc.
//
// Layouts: a row is `n` contiguous floats; `rows` rows are back to back. Output may alias input
// where noted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qwen3tts::nn {

// A step's scratch buffer with room for n values. Buffers only grow, so after a sequence's first
// steps a decoding step allocates nothing.
template <typename T>
T* GrowTo(std::vector<T>* buffer, int64_t n) {
  if (static_cast<int64_t>(buffer->size()) < n) buffer->resize(static_cast<std::size_t>(n));
  return buffer->data();
}

// y = weight * x / sqrt(mean(x^2) + eps) per row (the reference's RMSNorm). y may be x.
void RmsNormRows(const float* x, int64_t rows, int64_t n, const float* weight, double eps, float* y);

// y = (x - mean) / sqrt(var + eps) * weight + bias per row (biased variance, as at::layer_norm). y may be x.
void LayerNormRows(const float* x, int64_t rows, int64_t n, const float* weight, const float* bias, double eps,
                   float* y);

// Rotary embedding, rotate-half layout, in place: x is [heads, d] for one position, cos/sin [d].
//   x' = x * cos + rotate_half(x) * sin,  rotate_half(x) = (-x[d/2:], x[:d/2])
void RotateHalf(float* x, int64_t heads, int64_t d, const float* cos, const float* sin);

// gate = silu(gate) * up (SwiGLU), n values. With AVX2 + FMA, exp is an 8-lane polynomial (~1 ulp,
// as the reference's vectorized exp); elsewhere libm's. A value's result does not depend on where
// it sits in the n (a batched step and a single sequence's give the same bits).
void SiluMul(float* gate, const float* up, int64_t n);
// Internal to common/nn and its tests: the two forms SiluMul chooses between (SiluMulAvx2 only
// where the CPU has AVX2 + FMA: SiluMulAvx2Available()).
void SiluMulPortable(float* gate, const float* up, int64_t n);
bool SiluMulAvx2Available();
void SiluMulAvx2(float* gate, const float* up, int64_t n);
// x = gelu(x), exact (erf) form as at::gelu's default, n values.
void Gelu(float* x, int64_t n);

// y += scale * x elementwise (scale per column, n columns), for `rows` rows; scale may be null (1).
void AddScaledRows(float* y, const float* x, const float* scale, int64_t rows, int64_t n);

// One query position attending to `length` cached positions with grouped-query heads:
//   q    [heads, d] (rotated)
//   keys, values: kv head g's rows start at keys + g * kv_stride, `length` rows of d floats
//   out  [heads, d] = softmax(q k^T / sqrt(d)) v per head, head h reading kv head h / (heads / kv_heads)
// scores: scratch of at least heads * length floats. Large problems are split across kv heads
// between the worker threads.
void AttendOnePosition(const float* q, int64_t heads, int64_t kv_heads, int64_t d, const float* keys,
                       const float* values, int64_t kv_stride, int64_t length, float* scores, float* out);

}  // namespace qwen3tts::nn
