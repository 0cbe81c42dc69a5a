// Built with -mavx2 -mfma (common/nn/CMakeLists.txt); called only when the CPU has both.
// Nothing from the standard library is used here, so that no shared inline function is compiled
// with these flags and then picked by the linker for callers on older CPUs.
#include <immintrin.h>

#include "common/nn/float_dot.h"

namespace qwen3tts::nn {
namespace {

// ((t0 + t4) + (t2 + t6)) + ((t1 + t5) + (t3 + t7)), the order FloatGemvRangeScalar uses.
inline float HorizontalSum(__m256 v) {
  const __m128 quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
  return _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)));
}

// Eight weights as float32: loaded, or bfloat16 bits widened (a bfloat16 is the top half of the
// float32 with the same value).
inline __m256 LoadWeights(const float* w) { return _mm256_loadu_ps(w); }
inline __m256 LoadWeights(const uint16_t* w) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
// The first `left` (< 8) weights, the other lanes zero.
inline __m256 LoadPartialWeights(const float* w, int /*left*/, __m256i mask) { return _mm256_maskload_ps(w, mask); }
inline __m256 LoadPartialWeights(const uint16_t* w, int left, __m256i /*mask*/) {
  alignas(16) uint16_t lanes[8] = {};
  for (int i = 0; i < left; ++i) lanes[i] = w[i];
  return LoadWeights(lanes);
}

// O weight rows against R activation rows: R x O independent accumulator chains, so that the
// fused multiply-adds overlap, and every weight vector loaded is used R times.
template <int R, int O, typename Weight>
inline void DotTile(const Weight* w, int64_t in, const float* x, int64_t ldx, float* y, int64_t ldy) {
  constexpr int64_t kWeightsPerLine = 64 / sizeof(Weight);
  __m256 acc[R][O];
  for (int r = 0; r < R; ++r) {
    for (int o = 0; o < O; ++o) acc[r][o] = _mm256_setzero_ps();
  }
  const int64_t full = in & ~int64_t{7};
  for (int64_t i = 0; i < full; i += 8) {
    __m256 wv[O];
    // Each new cache line of these rows: prefetch the same line of the next O rows, the next
    // tile's. The hardware prefetcher follows each row only once it has started, so without this
    // every tile began with O cold misses; with bfloat16 weights (half the bytes per multiply)
    // that cost a third of a decoding step (qwen3tts-bench-talker). Past the range (or the
    // matrix) the lines are merely not used: a prefetch never faults.
    if ((i & (kWeightsPerLine - 1)) == 0) {
      for (int o = 0; o < O; ++o) _mm_prefetch(reinterpret_cast<const char*>(w + (o + O) * in + i), _MM_HINT_T0);
    }
    for (int o = 0; o < O; ++o) wv[o] = LoadWeights(w + o * in + i);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + r * ldx + i);
      for (int o = 0; o < O; ++o) acc[r][o] = _mm256_fmadd_ps(xv, wv[o], acc[r][o]);
    }
  }
  if (full < in) {  // the last partial group of 8: masked-off lanes load as zeros
    const int left = static_cast<int>(in - full);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lane);
    __m256 wv[O];
    for (int o = 0; o < O; ++o) wv[o] = LoadPartialWeights(w + o * in + full, left, mask);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_maskload_ps(x + r * ldx + full, mask);
      for (int o = 0; o < O; ++o) acc[r][o] = _mm256_fmadd_ps(xv, wv[o], acc[r][o]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int o = 0; o < O; ++o) y[r * ldy + o] = HorizontalSum(acc[r][o]);
  }
}

template <int O, typename Weight>
inline void DotRowGroups(const GemvProblem<Weight>& p, int64_t o) {
  const Weight* w = p.w + o * p.in;
  for (int64_t r0 = 0; r0 < p.rows; r0 += kFloatDotMaxRows) {
    const int64_t n = p.rows - r0 < kFloatDotMaxRows ? p.rows - r0 : kFloatDotMaxRows;
    const float* x = p.x + r0 * p.ldx;
    float* y = p.y + r0 * p.ldy + o;
    switch (n) {
      case 1: DotTile<1, O, Weight>(w, p.in, x, p.ldx, y, p.ldy); break;
      case 2: DotTile<2, O, Weight>(w, p.in, x, p.ldx, y, p.ldy); break;
      case 3: DotTile<3, O, Weight>(w, p.in, x, p.ldx, y, p.ldy); break;
      default: DotTile<4, O, Weight>(w, p.in, x, p.ldx, y, p.ldy); break;
    }
  }
}

template <typename Weight>
void GemvRange(const GemvProblem<Weight>& p, int64_t begin, int64_t end) {
  static_assert(kFloatDotMaxRows == 4 && kFloatDotMaxOutputs == 4, "the switches instantiate 1..4");
  int64_t o = begin;
  for (; o + kFloatDotMaxOutputs <= end; o += kFloatDotMaxOutputs) DotRowGroups<4>(p, o);
  switch (end - o) {
    case 1: DotRowGroups<1>(p, o); break;
    case 2: DotRowGroups<2>(p, o); break;
    case 3: DotRowGroups<3>(p, o); break;
    default: break;
  }
}

}  // namespace

void FloatGemvRangeAvx2(const FloatGemvProblem& p, int64_t begin, int64_t end) { GemvRange(p, begin, end); }
void Bf16GemvRangeAvx2(const Bf16GemvProblem& p, int64_t begin, int64_t end) { GemvRange(p, begin, end); }

}  // namespace qwen3tts::nn
