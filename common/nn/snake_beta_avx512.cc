// Built with -mavx2 -mfma -mavx512f (common/nn/CMakeLists.txt); called only when the CPU has them.
// Nothing from the standard library is used here (see float_dot_avx2.cc).
//
// GCC 12's AVX-512 conversions and rounding pass an intentionally undefined vector and then warn
// about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "common/nn/snake_beta.h"
#include "common/nn/snake_beta_avx512_lanes.h"
#include "common/nn/snake_beta_simd.h"

namespace qwen3tts::nn {
void SnakeBetaOneChannelAvx512(const float* x, float* y, int64_t n, float alpha, float inv_beta,
                               SnakeSlowSinFn slow_sin) {
  snake_simd::SnakeRun<snake_simd::Avx512Lanes, false>(x, y, n, &alpha, &inv_beta, slow_sin);
}

void SnakeBetaPerChannelAvx512(const float* x, float* y, int64_t n, const float* alpha, const float* inv_beta,
                               SnakeSlowSinFn slow_sin) {
  snake_simd::SnakeRun<snake_simd::Avx512Lanes, true>(x, y, n, alpha, inv_beta, slow_sin);
}

}  // namespace qwen3tts::nn
