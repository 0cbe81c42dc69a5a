// Built with -mavx2 -mfma (common/nn/CMakeLists.txt); called only when the CPU has both.
// Nothing from the standard library is used here (see float_dot_avx2.cc).
#include <immintrin.h>

#include "common/nn/snake_beta.h"
#include "common/nn/snake_beta_simd.h"

namespace qwen3tts::nn {
namespace {

// 8 lanes. Full vectors use plain loads and stores (masked stores are microcoded and slow on AMD
// cores); the tail the masked forms, with the same arithmetic.
struct Avx2Lanes {
  using Vec = __m256;
  using Mask = __m256i;
  static constexpr int kWidth = 8;
  static Mask TailMask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Vec Load(const float* p) { return _mm256_loadu_ps(p); }
  static Vec LoadTail(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void Store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static void StoreTail(float* p, Mask m, Vec v) { _mm256_maskstore_ps(p, m, v); }
  static Vec Set1(float v) { return _mm256_set1_ps(v); }
  static Vec Mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static Vec Fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec Fnmadd(Vec a, Vec b, Vec c) { return _mm256_fnmadd_ps(a, b, c); }
  static Vec RoundNearest(Vec v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static Vec Abs(Vec v) { return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
  static unsigned GreaterBits(Vec v, float limit) {
    return static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(limit), _CMP_NLE_UQ)));
  }
  // The low bit of k (exact in the float's integer part) moved to the sign bit picks the blend.
  static Vec OddSelect(Vec even, Vec odd, Vec k) {
    return _mm256_blendv_ps(even, odd, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtps_epi32(k), 31)));
  }
  static void ToArray(float* p, Vec v) { _mm256_store_ps(p, v); }
  static Vec FromArray(const float* p) { return _mm256_load_ps(p); }
};

}  // namespace

void SnakeBetaOneChannelAvx2(const float* x, float* y, int64_t n, float alpha, float inv_beta,
                             SnakeSlowSinFn slow_sin) {
  snake_simd::SnakeRun<Avx2Lanes, false>(x, y, n, &alpha, &inv_beta, slow_sin);
}

void SnakeBetaPerChannelAvx2(const float* x, float* y, int64_t n, const float* alpha, const float* inv_beta,
                             SnakeSlowSinFn slow_sin) {
  snake_simd::SnakeRun<Avx2Lanes, true>(x, y, n, alpha, inv_beta, slow_sin);
}

}  // namespace qwen3tts::nn
