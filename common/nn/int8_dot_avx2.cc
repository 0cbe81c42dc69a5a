// Built with -mavx2 -mfma (common/nn/CMakeLists.txt); called only when the CPU has both. Internal
// linkage and no standard-library inline functions, so no AVX2 code is shared with other
// translation units.
//
// AVX2 has no VNNI: a tile is two 256-bit halves of 8 outputs, and a quad product goes through
// maddubs (u8 x s8 into saturating 16-bit pair sums) + madd. With the stored w + 128 the pair sums
// could reach 2 * 255 * 127 and saturate, so the weights are turned back into signed ones and the
// sign moved onto the activations (|w| * (sign(w) x) = w x, pair sums <= 2 * 127 * 127): the same
// exact integers as the VNNI kernel's, without its correction term.
#include <immintrin.h>

#include <cstdint>

#include "common/nn/int8_dot.h"

namespace qwen3tts::nn {
namespace {

constexpr int kMaxRows = 4;  // activation rows per pass over a half tile

template <int R>
inline void HalfTile(const uint8_t* tile, int half, const Int8GemvProblem& p, int64_t r0, __m256* acc) {
  const int64_t ldq = p.blocks * 32;
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i ones = _mm256_set1_epi16(1);
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < p.blocks; ++b) {
    const uint8_t* wb = tile + b * kInt8TileBlockBytes + 32 * half;
    __m256i dot[R];
    for (int r = 0; r < R; ++r) dot[r] = _mm256_setzero_si256();
    for (int k = 0; k < 8; ++k) {
      const __m256i w = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 64 * k)), bias);
      const __m256i abs_w = _mm256_sign_epi8(w, w);
      for (int r = 0; r < R; ++r) {
        int32_t quad;
        __builtin_memcpy(&quad, p.xq + (r0 + r) * ldq + 32 * b + 4 * k, sizeof(quad));
        const __m256i x = _mm256_sign_epi8(_mm256_set1_epi32(quad), w);
        dot[r] = _mm256_add_epi32(dot[r], _mm256_madd_epi16(_mm256_maddubs_epi16(abs_w, x), ones));
      }
    }
    for (int r = 0; r < R; ++r) {
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[r]), _mm256_set1_ps(p.xs[(r0 + r) * p.blocks + b]), acc[r]);
    }
  }
}

template <int R>
inline void Pass(const Int8GemvProblem& p, int64_t tile, int half, int64_t r0) {
  __m256 acc[R];
  HalfTile<R>(p.w + tile * p.blocks * kInt8TileBlockBytes, half, p, r0, acc);
  const int64_t o0 = tile * kInt8TileOutputs + 8 * half;
  const int64_t n = p.out - o0;
  for (int r = 0; r < R; ++r) {
    float* y = p.y + (r0 + r) * p.ldy + o0;
    if (n >= 8) {
      _mm256_storeu_ps(y, _mm256_mul_ps(acc[r], _mm256_loadu_ps(p.w_scale + o0)));
    } else {
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, acc[r]);
      for (int64_t j = 0; j < n; ++j) y[j] = lanes[j] * p.w_scale[o0 + j];
    }
  }
}

}  // namespace

void Int8GemvTilesAvx2(const Int8GemvProblem& p, int64_t tile_begin, int64_t tile_end) {
  static_assert(kMaxRows == 4, "the switch below instantiates Pass<1..4>");
  for (int64_t t = tile_begin; t < tile_end; ++t) {
    for (int half = 0; half < 2 && t * kInt8TileOutputs + 8 * half < p.out; ++half) {
      for (int64_t r0 = 0; r0 < p.rows; r0 += kMaxRows) {
        switch (p.rows - r0 < kMaxRows ? p.rows - r0 : kMaxRows) {
          case 1: Pass<1>(p, t, half, r0); break;
          case 2: Pass<2>(p, t, half, r0); break;
          case 3: Pass<3>(p, t, half, r0); break;
          default: Pass<4>(p, t, half, r0); break;
        }
      }
    }
  }
}

}  // namespace qwen3tts::nn
