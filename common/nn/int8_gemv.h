// Weight-only int8 matrix-vector products for decoding steps.
//
// A decoding step multiplies one row per sequence by every weight matrix, so its cost is the bytes
// of weights streamed from memory: int8 weights (one scale per output row) stream a quarter of the
// bytes of float32. Activations and accumulation stay float32.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>

namespace qwen3tts::nn {

// Symmetric per-output-row quantization of a float32 weight [out, in]:
// q = round(w / scale) in [-127, 127], scale = max|w_row| / 127 (1 for an all-zero row).
struct Int8Weight {
  at::Tensor q;      // int8 [out, in], contiguous
  at::Tensor scale;  // float32 [out]
};
Int8Weight QuantizeInt8(const at::Tensor& weight);
at::Tensor DequantizeInt8(const Int8Weight& w);  // float32 [out, in]

// y[r, :] = x[r, :] W^T for the rows of x ([rows, in] float32, contiguous) -> [rows, out] float32.
// Each output element is accumulated in the same order whatever `rows` is, so a row's result does
// not depend on the other rows it is computed with. AVX2/FMA when the CPU has it.
at::Tensor Int8Gemv(const Int8Weight& w, const at::Tensor& x);

}  // namespace qwen3tts::nn
