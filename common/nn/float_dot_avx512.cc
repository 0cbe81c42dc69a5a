// Built with -mavx2 -mfma -mavx512f (common/nn/CMakeLists.txt); called only when the CPU has them.
// Nothing from the standard library is used here (see float_dot_avx2.cc).
//
// The same dot products as the AVX2 kernel, bit for bit (float_dot.h: input i accumulates into lane
// i % 8, one fixed sum of the eight lanes), with twice the work per instruction: a 512-bit register
// holds two weight rows' eight lanes side by side (row o in lanes 0-7, row o + 1 in lanes 8-15) and
// the activation row's eight inputs broadcast to both halves, so every lane still sees exactly its
// own products in its own order. Up to 8 activation rows share a pass over the weights (16 of the
// 32 registers accumulate), halving the weight re-reads of the AVX2 kernel's 4: these calls are
// compute-bound (a streaming convolution's 32 steps, batched decoding), not memory-bound.
// GCC 12's 256-to-512-bit casts pass an intentionally undefined vector and then warn about it
// (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <immintrin.h>

#include "common/nn/float_dot.h"

namespace qwen3tts::nn {
namespace {

constexpr int kMaxRows = 8;

// ((t0 + t4) + (t2 + t6)) + ((t1 + t5) + (t3 + t7)), the order FloatGemvRangeScalar uses.
inline float HorizontalSum(__m256 v) {
  const __m128 quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
  return _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)));
}

inline __m512 Join(__m256 low, __m256 high) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(low)), _mm256_castps_pd(high), 1));
}
inline __m256 HighHalf(__m512 v) { return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)); }

inline __m256 Widen(__m128i bfloat16_bits) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bfloat16_bits), 16));
}

// Eight weights of rows a and b as float32, a in the low half.
inline __m512 LoadPair(const float* a, const float* b) { return Join(_mm256_loadu_ps(a), _mm256_loadu_ps(b)); }
inline __m512 LoadPair(const uint16_t* a, const uint16_t* b) {
  const __m256i both = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(b)), 1);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(both), 16));
}
// The first `left` (< 8) weights of each row, the other lanes zero.
inline __m512 LoadPartialPair(const float* a, const float* b, int /*left*/, __m256i mask) {
  return Join(_mm256_maskload_ps(a, mask), _mm256_maskload_ps(b, mask));
}
inline __m256 LoadPartial(const uint16_t* w, int left) {
  alignas(16) uint16_t lanes[8] = {};
  for (int i = 0; i < left; ++i) lanes[i] = w[i];
  return Widen(_mm_load_si128(reinterpret_cast<const __m128i*>(lanes)));
}
inline __m512 LoadPartialPair(const uint16_t* a, const uint16_t* b, int left, __m256i /*mask*/) {
  return Join(LoadPartial(a, left), LoadPartial(b, left));
}

// Four weight rows (two pairs) against R activation rows.
template <int R, typename Weight>
inline void PairTile(const Weight* w, int64_t in, const float* x, int64_t ldx, float* y, int64_t ldy) {
  constexpr int64_t kWeightsPerLine = 64 / sizeof(Weight);
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  const int64_t full = in & ~int64_t{7};
  for (int64_t i = 0; i < full; i += 8) {
    // The next tile's rows, as in the AVX2 kernel (float_dot_avx2.cc).
    if ((i & (kWeightsPerLine - 1)) == 0) {
      for (int o = 0; o < 4; ++o) _mm_prefetch(reinterpret_cast<const char*>(w + (o + 4) * in + i), _MM_HINT_T0);
    }
    const __m512 w01 = LoadPair(w + i, w + in + i);
    const __m512 w23 = LoadPair(w + 2 * in + i, w + 3 * in + i);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + r * ldx + i);
      const __m512 xx = Join(xv, xv);
      acc[r][0] = _mm512_fmadd_ps(xx, w01, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(xx, w23, acc[r][1]);
    }
  }
  if (full < in) {  // the last partial group of 8: masked-off lanes load as zeros
    const int left = static_cast<int>(in - full);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lane);
    const __m512 w01 = LoadPartialPair(w + full, w + in + full, left, mask);
    const __m512 w23 = LoadPartialPair(w + 2 * in + full, w + 3 * in + full, left, mask);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_maskload_ps(x + r * ldx + full, mask);
      const __m512 xx = Join(xv, xv);
      acc[r][0] = _mm512_fmadd_ps(xx, w01, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(xx, w23, acc[r][1]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float* yr = y + r * ldy;
    yr[0] = HorizontalSum(_mm512_castps512_ps256(acc[r][0]));
    yr[1] = HorizontalSum(HighHalf(acc[r][0]));
    yr[2] = HorizontalSum(_mm512_castps512_ps256(acc[r][1]));
    yr[3] = HorizontalSum(HighHalf(acc[r][1]));
  }
}

template <typename Weight>
inline void PairRowGroups(const GemvProblem<Weight>& p, int64_t o) {
  static_assert(kMaxRows == 8, "the switch instantiates 1..8");
  const Weight* w = p.w + o * p.in;
  for (int64_t r0 = 0; r0 < p.rows; r0 += kMaxRows) {
    const int64_t n = p.rows - r0 < kMaxRows ? p.rows - r0 : kMaxRows;
    const float* x = p.x + r0 * p.ldx;
    float* y = p.y + r0 * p.ldy + o;
    switch (n) {
      case 1: PairTile<1>(w, p.in, x, p.ldx, y, p.ldy); break;
      case 2: PairTile<2>(w, p.in, x, p.ldx, y, p.ldy); break;
      case 3: PairTile<3>(w, p.in, x, p.ldx, y, p.ldy); break;
      case 4: PairTile<4>(w, p.in, x, p.ldx, y, p.ldy); break;
      case 5: PairTile<5>(w, p.in, x, p.ldx, y, p.ldy); break;
      case 6: PairTile<6>(w, p.in, x, p.ldx, y, p.ldy); break;
      case 7: PairTile<7>(w, p.in, x, p.ldx, y, p.ldy); break;
      default: PairTile<8>(w, p.in, x, p.ldx, y, p.ldy); break;
    }
  }
}

// Groups of four outputs here; the last one to three (a range's tail) through the AVX2 kernel,
// which gives them the same bits.
template <typename Weight>
void GemvRange(const GemvProblem<Weight>& p, int64_t begin, int64_t end,
               void (*avx2_tail)(const GemvProblem<Weight>&, int64_t, int64_t)) {
  int64_t o = begin;
  for (; o + 4 <= end; o += 4) PairRowGroups(p, o);
  if (o < end) avx2_tail(p, o, end);
}

}  // namespace

void FloatGemvRangeAvx512(const FloatGemvProblem& p, int64_t begin, int64_t end) {
  GemvRange(p, begin, end, FloatGemvRangeAvx2);
}
void Bf16GemvRangeAvx512(const Bf16GemvProblem& p, int64_t begin, int64_t end) {
  GemvRange(p, begin, end, Bf16GemvRangeAvx2);
}

}  // namespace qwen3tts::nn
