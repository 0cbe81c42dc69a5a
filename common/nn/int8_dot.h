// Row kernels behind Int8Gemv (int8_gemv.h), one per instruction set. Internal to common/nn.
//
// Each computes y[r * ldy + o] = w_scale[o] * dot(o, r) for output rows o in [begin, end) and
// activation rows r < rows, where dot(o, r) is the sum over blocks b of xs[r * lds + b] times the
// exact integer dot of weight row o's block b with xq's block b of row r (blocks of 32 inputs),
// block b accumulated into lane-wise float accumulator b % 2, the two summed lane by lane and the
// eight lanes as (t0+t4 + t2+t6) + (t1+t5 + t3+t7). All three kernels give the same bits.
#pragma once

#include <cstdint>

namespace qwen3tts::nn {

constexpr int kInt8DotMaxRows = 4;  // activation rows per pass over a weight row

struct Int8GemvProblem {
  const int8_t* w;       // [out, in]
  const float* w_scale;  // [out]
  int64_t in;
  const int8_t* xq;  // [rows, ldq], zero beyond `in`; ldq a multiple of 32
  int64_t ldq;
  const float* xs;  // [rows, lds] block scales
  int64_t lds;
  int64_t rows;
  float* y;  // [rows, ldy]
  int64_t ldy;
};

void Int8GemvRangeScalar(const Int8GemvProblem& p, int64_t begin, int64_t end);
void Int8GemvRangeAvx2(const Int8GemvProblem& p, int64_t begin, int64_t end);
void Int8GemvRangeAvx512Vnni(const Int8GemvProblem& p, int64_t begin, int64_t end);

}  // namespace qwen3tts::nn
