// Built with -mavx2 -mfma (common/nn/CMakeLists.txt); called only when the CPU has both.
#include <immintrin.h>

#include "common/nn/row_ops.h"

namespace qwen3tts::nn {
namespace {

// exp(x) for 8 arguments: n = round(x / ln 2), r = x - n ln 2 in two parts (the first exact for
// these n), exp(r) by Cephes' single-precision polynomial, times 2^n built in the exponent bits.
// Within ~1 ulp of the correctly rounded value for x in [-87.3, 88.3]. Below, x is clamped (exp(-87.34)
// is the smallest normal float: no subnormals); above, the result is infinity, as exp's overflow
// (from 88.38 instead of 88.72: SiLU then gives -0 instead of a value under 4e-37). A NaN x
// clamps to a number: callers keep their NaN through their other operand.
inline __m256 Exp(__m256 x) {
  const __m256 overflow = _mm256_cmp_ps(x, _mm256_set1_ps(88.37626f), _CMP_GT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.37626f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(1.9875691500e-4f), r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i two_to_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_blendv_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(two_to_n)),
                          _mm256_set1_ps(__builtin_inff()), overflow);
}

// gate = gate / (1 + exp(-gate)) * up for up to 8 values. The tail uses the masked forms, with
// the same arithmetic, so a value's result does not depend on where it sits.
template <bool kTail>
inline void SiluMulVector(float* gate, const float* up, __m256i mask) {
  const __m256 g = kTail ? _mm256_maskload_ps(gate, mask) : _mm256_loadu_ps(gate);
  const __m256 u = kTail ? _mm256_maskload_ps(up, mask) : _mm256_loadu_ps(up);
  const __m256 e = Exp(_mm256_sub_ps(_mm256_setzero_ps(), g));
  const __m256 y = _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
  if (kTail) {
    _mm256_maskstore_ps(gate, mask, y);
  } else {
    _mm256_storeu_ps(gate, y);
  }
}

}  // namespace

void SiluMulAvx2(float* gate, const float* up, int64_t n) {
  const int64_t full = n & ~int64_t{7};
  for (int64_t i = 0; i < full; i += 8) SiluMulVector<false>(gate + i, up + i, _mm256_setzero_si256());
  if (full < n) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n - full)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    SiluMulVector<true>(gate + full, up + full, mask);
  }
}

}  // namespace qwen3tts::nn
