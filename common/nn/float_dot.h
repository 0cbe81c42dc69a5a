// Row kernels behind FloatGemv and Bf16Gemv (float_gemv.h), one per instruction set. Internal to
// common/nn.
//
// Each computes y[r * ldy + o] = dot(w row o, x row r) for output rows o in [begin, end) and
// activation rows r < rows, with float32 weights or bfloat16 weights (their 16 bits, widened to
// float32 exactly by a shift: the product is the float32 one of the widened matrix). The dot product has one fixed float32 order on every CPU: input i is
// accumulated into lane i % 8 with a fused multiply-add (inputs beyond `in` count as zeros up to
// the next multiple of 8), and the eight lanes are summed as ((t0+t4) + (t2+t6)) + ((t1+t5) +
// (t3+t7)). So every kernel gives the same bits, and a row's result does not depend on which
// other rows or outputs share its pass.
#pragma once

#include <cstdint>

namespace qwen3tts::nn {

constexpr int kFloatDotMaxRows = 4;     // activation rows per pass over a group of weight rows
constexpr int kFloatDotMaxOutputs = 4;  // weight rows per pass

template <typename Weight>  // float, or uint16_t holding bfloat16 bits
struct GemvProblem {
  const Weight* w;  // [out, in], rows contiguous
  int64_t in;
  const float* x;  // [rows, ldx]
  int64_t ldx;
  int64_t rows;
  float* y;  // [rows, ldy]
  int64_t ldy;
};
using FloatGemvProblem = GemvProblem<float>;
using Bf16GemvProblem = GemvProblem<uint16_t>;

void FloatGemvRangeScalar(const FloatGemvProblem& p, int64_t begin, int64_t end);
void FloatGemvRangeAvx2(const FloatGemvProblem& p, int64_t begin, int64_t end);
void Bf16GemvRangeScalar(const Bf16GemvProblem& p, int64_t begin, int64_t end);
void Bf16GemvRangeAvx2(const Bf16GemvProblem& p, int64_t begin, int64_t end);
void FloatGemvRangeAvx512(const FloatGemvProblem& p, int64_t begin, int64_t end);
void Bf16GemvRangeAvx512(const Bf16GemvProblem& p, int64_t begin, int64_t end);

}  // namespace qwen3tts::nn
