// Float32 products of a few activation rows with a weight matrix, reading each weight once.
//
// A decoding step (one row per sequence) and the streaming codec decoder's per-frame layers
// (a few time steps) multiply a handful of rows by large weight matrices. OpenBLAS's GEMM repacks
// the whole weight on every call, which at these sizes costs more than the arithmetic (perf: 70 %
// of a talker step), and GEMV reads the weight once per row. This kernel reads each weight row
// once per kFloatDotMaxRows activation rows and computes straight from the checkpoint layout.
#pragma once

#include <ATen/Tensor.h>

namespace qwen3tts::nn {

// Up to this many activation rows FloatGemv is faster than at::linear's GEMM on any x86-64 CPU with
// AVX2 (qwen3tts-bench-linear: 14x at 1 row, 1.2x at 32, even at about 48-64), so callers that must
// pick one path for every CPU switch there (the streaming codec decoder's convolutions, whose
// longer products oneDNN's convolution does faster still).
constexpr int64_t kFloatGemvMaxRows = 32;
// Where the fastest row kernel this CPU has stops beating the GEMM: kFloatGemvMaxRows, or 128 with
// the AVX-512 kernel (8 rows per pass over the weights; at 128 rows still 1.25-1.6x faster than
// OpenBLAS's GEMM on bfloat16 weights, and from 0.94x to 1.2x on float32 ones; bench/RESULTS.md).
// Linear layers switch here.
int64_t FloatGemvMaxRows();

// Which row kernel runs. All give the same bits (one fixed accumulation order, float_dot.h);
// kAuto picks the fastest the CPU has, and so does a kernel the CPU lacks.
enum class FloatKernel { kAuto, kScalar, kAvx2, kAvx512 };
bool FloatKernelAvailable(FloatKernel kernel);

// y = x W^T: x [rows, in] float32, w [out, in] float32 or bfloat16 contiguous -> [rows, out] float32.
// Each output element's arithmetic depends only on its own input row and weight row, so a row's
// result does not depend on what it is batched with or on the thread count.
at::Tensor FloatGemv(const at::Tensor& w, const at::Tensor& x, FloatKernel kernel = FloatKernel::kAuto);

// The same product on raw float32 rows, for callers that keep their own buffers (the transformer's
// decoding step allocates nothing): y[r * out + o] = dot(w row o, x row r), w [out, in] and x
// [rows, in] contiguous. threads as for ParallelFor (1: on the calling thread only).
void FloatGemvInto(const float* w, int64_t out, int64_t in, const float* x, int64_t rows, float* y,
                   FloatKernel kernel = FloatKernel::kAuto, int threads = 0);
// The same with bfloat16 weights and float32 activations: half the weight bytes of float32 (these
// products stream their weights from memory, so about half the time), each weight widened exactly
// to float32, so the result has the bits FloatGemvInto gives for the widened matrix.
void Bf16GemvInto(const c10::BFloat16* w, int64_t out, int64_t in, const float* x, int64_t rows, float* y,
                  FloatKernel kernel = FloatKernel::kAuto, int threads = 0);
// The same with row r of x starting at x + r * x_stride (x_stride > 0; rows may overlap): a
// streaming convolution's receptive fields are overlapping windows of its time-major input, read in
// place instead of copied out.
void FloatGemvStridedInto(const float* w, int64_t out, int64_t in, const float* x, int64_t x_stride, int64_t rows,
                          float* y, int threads = 0);

}  // namespace qwen3tts::nn
