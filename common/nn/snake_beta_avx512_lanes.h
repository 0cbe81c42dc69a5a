// SnakeBeta's 16-lane AVX-512F operations (the Lanes traits of snake_beta_simd.h), shared by the
// translation units that run the kernel 16 lanes at a time: snake_beta_avx512.cc and, for the
// activation fused into the rounding of a tile convolution's input, bf16_tiles_amx.cc. Include only
// from translation units built with -mavx512f (see snake_beta_simd.h).
//
// GCC 12's AVX-512 conversions and rounding pass an intentionally undefined vector and then warn
// about it (GCC bug 105593); the including file turns that warning off.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace qwen3tts::nn::snake_simd {

// 16 lanes; the tail through a lane mask.
struct Avx512Lanes {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int kWidth = 16;
  static Mask TailMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }
  static Vec Load(const float* p) { return _mm512_loadu_ps(p); }
  static Vec LoadTail(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void Store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static void StoreTail(float* p, Mask m, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
  static Vec Set1(float v) { return _mm512_set1_ps(v); }
  static Vec Mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  static Vec Fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec Fnmadd(Vec a, Vec b, Vec c) { return _mm512_fnmadd_ps(a, b, c); }
  static Vec RoundNearest(Vec v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static Vec Abs(Vec v) { return _mm512_abs_ps(v); }
  static unsigned GreaterBits(Vec v, float limit) {
    return _mm512_cmp_ps_mask(v, _mm512_set1_ps(limit), _CMP_NLE_UQ);
  }
  static Vec OddSelect(Vec even, Vec odd, Vec k) {
    const __mmask16 is_odd =
        _mm512_test_epi32_mask(_mm512_cvtps_epi32(k), _mm512_set1_epi32(1));
    return _mm512_mask_blend_ps(is_odd, even, odd);
  }
  static void ToArray(float* p, Vec v) { _mm512_store_ps(p, v); }
  static Vec FromArray(const float* p) { return _mm512_load_ps(p); }
};

}  // namespace qwen3tts::nn::snake_simd
