// The int8 dot-product kernel body, compiled once per instruction set by int8_dot_avx2.cc and
// int8_dot_avx512vnni.cc (each with its own -m flags). Include only from those two files: every
// function here has internal linkage so that the two builds never merge at link time, and nothing
// from the standard library is used so that no shared inline function gets compiled with AVX-512.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "common/nn/int8_dot.h"

namespace qwen3tts::nn {
namespace {

// Eight sums of four products of |w| (unsigned) with sign(w)·x (signed): w·x exactly, four bytes
// per 32-bit lane. |w|, |x| <= 127, so the 16-bit pair sums of maddubs cannot saturate.
inline __m256i DotQuads(__m256i abs_w, __m256i signed_x) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), abs_w, signed_x);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(abs_w, signed_x), _mm256_set1_epi16(1));
#endif
}

// One 32-input block of the weight row against R activation rows: the exact integer lane sums are
// scaled by the block's activation scale into acc.
template <int R>
inline void AccumulateBlock(__m256i w, const int8_t* xq, int64_t ldq, const float* xs, int64_t lds, int64_t block,
                            __m256* acc) {
  const __m256i abs_w = _mm256_sign_epi8(w, w);
  for (int r = 0; r < R; ++r) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + r * ldq + 32 * block));
    const __m256 lanes = _mm256_cvtepi32_ps(DotQuads(abs_w, _mm256_sign_epi8(x, w)));
    acc[r] = _mm256_fmadd_ps(lanes, _mm256_set1_ps(xs[r * lds + block]), acc[r]);
  }
}

inline __m256i LoadBlock(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// ((t0 + t4) + (t2 + t6)) + ((t1 + t5) + (t3 + t7)), the order Int8GemvRangeScalar uses.
inline float HorizontalSum(__m256 v) {
  const __m128 quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
  return _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)));
}

// Blocks alternate between two accumulators (even, odd) so that consecutive FMAs are independent.
template <int R>
inline void DotRows(const int8_t* w, int64_t in, const int8_t* xq, int64_t ldq, const float* xs, int64_t lds,
                    float* out) {
  __m256 even[R], odd[R];
  for (int r = 0; r < R; ++r) even[r] = odd[r] = _mm256_setzero_ps();
  const int64_t full = in / 32;
  int64_t b = 0;
  for (; b + 2 <= full; b += 2) {
    AccumulateBlock<R>(LoadBlock(w + 32 * b), xq, ldq, xs, lds, b, even);
    AccumulateBlock<R>(LoadBlock(w + 32 * (b + 1)), xq, ldq, xs, lds, b + 1, odd);
  }
  if (b < full) AccumulateBlock<R>(LoadBlock(w + 32 * b), xq, ldq, xs, lds, b, even);
  if (full * 32 < in) {  // a partial last block: zero-padded here, and in the activations
    alignas(32) int8_t tail[32] = {};
    for (int64_t i = full * 32; i < in; ++i) tail[i - full * 32] = w[i];
    AccumulateBlock<R>(LoadBlock(tail), xq, ldq, xs, lds, full, (full & 1) != 0 ? odd : even);
  }
  for (int r = 0; r < R; ++r) out[r] = HorizontalSum(_mm256_add_ps(even[r], odd[r]));
}

// Output rows [begin, end) for every activation row, kInt8DotMaxRows activation rows per pass over
// a weight row. One call covers a thread's whole share: no call overhead per row.
inline void GemvRange(const Int8GemvProblem& p, int64_t begin, int64_t end) {
  static_assert(kInt8DotMaxRows == 4, "the switch below instantiates DotRows<1..4>");
  float dots[kInt8DotMaxRows];
  for (int64_t o = begin; o < end; ++o) {
    const int8_t* w = p.w + o * p.in;
    for (int64_t r0 = 0; r0 < p.rows; r0 += kInt8DotMaxRows) {
      const int64_t n = p.rows - r0 < kInt8DotMaxRows ? p.rows - r0 : kInt8DotMaxRows;
      const int8_t* xq = p.xq + r0 * p.ldq;
      const float* xs = p.xs + r0 * p.lds;
      switch (n) {
        case 1: DotRows<1>(w, p.in, xq, p.ldq, xs, p.lds, dots); break;
        case 2: DotRows<2>(w, p.in, xq, p.ldq, xs, p.lds, dots); break;
        case 3: DotRows<3>(w, p.in, xq, p.ldq, xs, p.lds, dots); break;
        default: DotRows<4>(w, p.in, xq, p.ldq, xs, p.lds, dots); break;
      }
      for (int64_t r = 0; r < n; ++r) p.y[(r0 + r) * p.ldy + o] = dots[r] * p.w_scale[o];
    }
  }
}

}  // namespace
}  // namespace qwen3tts::nn
