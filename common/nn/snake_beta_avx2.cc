// Built with -mavx2 -mfma (common/nn/CMakeLists.txt); called only when the CPU has both.
// Nothing from the standard library is used here (see float_dot_avx2.cc).
#include <immintrin.h>

#include "common/nn/snake_beta.h"

namespace qwen3tts::nn {
namespace {

// pi/2 = kPiHalf1 + kPiHalf2 + kPiHalf3; kPiHalf1 and kPiHalf2 have few significant bits, so
// k * kPiHalf1 and k * kPiHalf2 are exact for the k this kernel reduces (|argument| <= 8192).
constexpr float kPiHalf1 = 1.5703125f;
constexpr float kPiHalf2 = 4.837512969970703125e-4f;
constexpr float kPiHalf3 = 7.54978995489188216e-8f;
constexpr float kTwoOverPi = 0.636619772367581343f;
constexpr float kMaxReduced = 8192.0f;

// sin(a)^2 for 8 arguments with |a| <= kMaxReduced.
inline __m256 SinSquared(__m256 a) {
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(a, _mm256_set1_ps(kTwoOverPi)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kPiHalf1), a);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kPiHalf2), r);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kPiHalf3), r);
  const __m256 z = _mm256_mul_ps(r, r);
  // sin r = r + r z (s1 + z (s2 + z s3)); cos r = 1 - z / 2 + z^2 (c1 + z (c2 + z c3)).
  __m256 s = _mm256_fmadd_ps(_mm256_set1_ps(-1.9515295891e-4f), z, _mm256_set1_ps(8.3321608736e-3f));
  s = _mm256_fmadd_ps(s, z, _mm256_set1_ps(-1.6666654611e-1f));
  s = _mm256_fmadd_ps(_mm256_mul_ps(s, z), r, r);
  __m256 c = _mm256_fmadd_ps(_mm256_set1_ps(2.443315711809948e-5f), z, _mm256_set1_ps(-1.388731625493765e-3f));
  c = _mm256_fmadd_ps(c, z, _mm256_set1_ps(4.166664568298827e-2f));
  c = _mm256_fmadd_ps(_mm256_mul_ps(c, z), z, _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), z, _mm256_set1_ps(1.0f)));
  // Odd quadrants take cos: the low bit of k (exact in the float's integer part).
  const __m256i odd = _mm256_slli_epi32(_mm256_cvtps_epi32(k), 31);
  const __m256 v = _mm256_blendv_ps(s, c, _mm256_castsi256_ps(odd));
  return _mm256_mul_ps(v, v);
}

// Up to 8 elements. Full vectors use plain loads and stores (masked stores are microcoded and slow
// on AMD cores); the tail the masked forms, with the same arithmetic. kPerChannel: alpha and
// inv_beta are vectors loaded beside x; else broadcast values.
template <bool kTail, bool kPerChannel>
inline void SnakeVector(const float* x, float* y, __m256i mask, const float* alpha, const float* inv_beta,
                        SnakeSlowSinFn slow_sin) {
  const __m256 xv = kTail ? _mm256_maskload_ps(x, mask) : _mm256_loadu_ps(x);
  __m256 alpha_v, inv_beta_v;
  if (kPerChannel) {
    alpha_v = kTail ? _mm256_maskload_ps(alpha, mask) : _mm256_loadu_ps(alpha);
    inv_beta_v = kTail ? _mm256_maskload_ps(inv_beta, mask) : _mm256_loadu_ps(inv_beta);
  } else {
    alpha_v = _mm256_set1_ps(*alpha);
    inv_beta_v = _mm256_set1_ps(*inv_beta);
  }
  const __m256 a = _mm256_mul_ps(xv, alpha_v);
  // Not (|a| <= 8192): too large for the reduction, or NaN / infinite.
  const __m256 abs_a = _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
  const int slow_lanes = _mm256_movemask_ps(_mm256_cmp_ps(abs_a, _mm256_set1_ps(kMaxReduced), _CMP_NLE_UQ));
  __m256 sin2 = SinSquared(a);
  if (slow_lanes != 0) {
    alignas(32) float args[8], values[8];
    _mm256_store_ps(args, a);
    _mm256_store_ps(values, sin2);
    for (int i = 0; i < 8; ++i) {
      if ((slow_lanes >> i) & 1) {
        const float s = slow_sin(args[i]);
        values[i] = s * s;
      }
    }
    sin2 = _mm256_load_ps(values);
  }
  const __m256 yv = _mm256_fmadd_ps(inv_beta_v, sin2, xv);
  if (kTail) {
    _mm256_maskstore_ps(y, mask, yv);
  } else {
    _mm256_storeu_ps(y, yv);
  }
}

template <bool kPerChannel>
inline void SnakeRun(const float* x, float* y, int64_t n, const float* alpha, const float* inv_beta,
                     SnakeSlowSinFn slow_sin) {
  const int64_t full = n & ~int64_t{7};
  const int64_t step = kPerChannel ? 1 : 0;  // parameter pointers advance only per channel
  for (int64_t i = 0; i < full; i += 8) {
    SnakeVector<false, kPerChannel>(x + i, y + i, _mm256_setzero_si256(), alpha + step * i, inv_beta + step * i,
                                    slow_sin);
  }
  if (full < n) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n - full)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    SnakeVector<true, kPerChannel>(x + full, y + full, mask, alpha + step * full, inv_beta + step * full,
                                   slow_sin);
  }
}

}  // namespace

void SnakeBetaOneChannelAvx2(const float* x, float* y, int64_t n, float alpha, float inv_beta,
                             SnakeSlowSinFn slow_sin) {
  SnakeRun<false>(x, y, n, &alpha, &inv_beta, slow_sin);
}

void SnakeBetaPerChannelAvx2(const float* x, float* y, int64_t n, const float* alpha, const float* inv_beta,
                             SnakeSlowSinFn slow_sin) {
  SnakeRun<true>(x, y, n, alpha, inv_beta, slow_sin);
}

}  // namespace qwen3tts::nn
