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

// The weights kInt8PrefetchBytes past a block of `bytes` (int8_dot.h: a tile's first pass of 2+
// rows; the first half tile's pass touches every cache line of the tile).
inline void PrefetchWeights(const uint8_t* block, int64_t bytes) {
  for (int64_t line = 0; line < bytes; line += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(block + kInt8PrefetchBytes + line), _MM_HINT_T0);
  }
}

template <int R, bool kPrefetch>
inline void HalfTile(const uint8_t* tile, int half, const Int8GemvProblem& p, int64_t r0, __m256* acc) {
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i ones = _mm256_set1_epi16(1);
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < p.blocks; ++b) {
    const uint8_t* wb = tile + b * kInt8TileBlockBytes + 32 * half;
    if (kPrefetch) PrefetchWeights(wb, kInt8TileBlockBytes);
    __m256i dot[R];
    for (int r = 0; r < R; ++r) dot[r] = _mm256_setzero_si256();
    for (int k = 0; k < 8; ++k) {
      const __m256i w = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 64 * k)), bias);
      const __m256i abs_w = _mm256_sign_epi8(w, w);
      for (int r = 0; r < R; ++r) {
        int32_t quad;
        __builtin_memcpy(&quad, p.xq + (r0 + r) * p.ldq + 32 * b + 4 * k, sizeof(quad));
        const __m256i x = _mm256_sign_epi8(_mm256_set1_epi32(quad), w);
        dot[r] = _mm256_add_epi32(dot[r], _mm256_madd_epi16(_mm256_maddubs_epi16(abs_w, x), ones));
      }
    }
    for (int r = 0; r < R; ++r) {
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[r]), _mm256_set1_ps(p.xs[(r0 + r) * p.ldb + b]), acc[r]);
    }
  }
}

// Stores the first n (of 8) outputs; scale: per-output factors (null: none).
inline void StoreHalf(float* y, __m256 v, const float* scale, int64_t n) {
  if (n >= 8) {
    _mm256_storeu_ps(y, scale != nullptr ? _mm256_mul_ps(v, _mm256_loadu_ps(scale)) : v);
    return;
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, v);
  for (int64_t j = 0; j < n; ++j) y[j] = scale != nullptr ? lanes[j] * scale[j] : lanes[j];
}

template <int R>
inline void Pass(const Int8GemvProblem& p, int64_t tile, int half, int64_t r0) {
  __m256 acc[R];
  const uint8_t* weights = p.w + tile * p.blocks * kInt8TileBlockBytes;
  if (R >= 2 && half == 0 && r0 == 0) {
    HalfTile<R, true>(weights, half, p, r0, acc);
  } else {
    HalfTile<R, false>(weights, half, p, r0, acc);
  }
  const int64_t o0 = tile * kInt8TileOutputs + 8 * half;
  for (int r = 0; r < R; ++r) StoreHalf(p.y + (r0 + r) * p.ldy + o0, acc[r], p.w_scale + o0, p.out - o0);
}

// Int4: the unpacked nibbles are at most 15, so maddubs's pair sums (<= 2 * 15 * 127) never
// saturate and the weights stay unsigned; the sums start at the -8 x block-sum correction as in
// the VNNI kernel. No software prefetch: unpacking makes this loop compute-bound, and prefetching
// slowed 2 rows down (48 MB of weights as int4: 1.26 -> 1.43 ms).
template <int R>
inline void Int4HalfTile(const uint8_t* tile, int half, const Int4GemvProblem& p, int64_t r0, __m256* acc) {
  const __m256i low_nibbles = _mm256_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t block_bytes = Int4BlockBytes(p.sub_blocks), block_inputs = 32 * p.sub_blocks;
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < p.blocks; ++b) {
    const uint8_t* wb = tile + b * block_bytes;
    __m256i dot[R];
    for (int r = 0; r < R; ++r) dot[r] = _mm256_set1_epi32(p.xc[(r0 + r) * p.ldb + b]);
    for (int64_t part = 0; part < p.sub_blocks; ++part) {
      for (int v = 0; v < 4; ++v) {
        const __m256i packed =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + part * kInt4PartBytes + 64 * v + 32 * half));
        const __m256i w_low = _mm256_and_si256(packed, low_nibbles);
        const __m256i w_high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibbles);
        for (int r = 0; r < R; ++r) {
          const int8_t* x = p.xq + (r0 + r) * p.ldq + block_inputs * b + 32 * part + 4 * v;
          int32_t low_quad, high_quad;
          __builtin_memcpy(&low_quad, x, sizeof(low_quad));
          __builtin_memcpy(&high_quad, x + 16, sizeof(high_quad));
          const __m256i products = _mm256_add_epi16(_mm256_maddubs_epi16(w_low, _mm256_set1_epi32(low_quad)),
                                                    _mm256_maddubs_epi16(w_high, _mm256_set1_epi32(high_quad)));
          dot[r] = _mm256_add_epi32(dot[r], _mm256_madd_epi16(products, ones));
        }
      }
    }
    const __m128i scale_bits =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb + Int4ScaleOffset(p.sub_blocks) + 16 * half));
    const __m256 w_scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(scale_bits), 16));
    for (int r = 0; r < R; ++r) {
      const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(p.xs[(r0 + r) * p.ldb + b]), w_scale);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[r]), scale, acc[r]);
    }
  }
}

template <int R>
inline void Int4Pass(const Int4GemvProblem& p, int64_t tile, int half, int64_t r0) {
  __m256 acc[R];
  Int4HalfTile<R>(p.w + tile * p.blocks * Int4BlockBytes(p.sub_blocks), half, p, r0, acc);
  const int64_t o0 = tile * kInt8TileOutputs + 8 * half;
  for (int r = 0; r < R; ++r) StoreHalf(p.y + (r0 + r) * p.ldy + o0, acc[r], nullptr, p.out - o0);
}

}  // namespace

namespace {

template <int R>
struct RowCount {
  static constexpr int kRows = R;
};

// Every half tile of [tile_begin, tile_end) holding outputs, in passes of up to kMaxRows activation
// rows: pass(RowCount<R>{}, tile, half, first_row), R fixed at compile time.
template <typename PassFn>
inline void ForEachPass(int64_t out, int64_t rows, int64_t tile_begin, int64_t tile_end, PassFn pass) {
  static_assert(kMaxRows == 4, "the switch below instantiates passes of 1..4 rows");
  for (int64_t t = tile_begin; t < tile_end; ++t) {
    for (int half = 0; half < 2 && t * kInt8TileOutputs + 8 * half < out; ++half) {
      for (int64_t r0 = 0; r0 < rows; r0 += kMaxRows) {
        switch (rows - r0 < kMaxRows ? rows - r0 : kMaxRows) {
          case 1: pass(RowCount<1>{}, t, half, r0); break;
          case 2: pass(RowCount<2>{}, t, half, r0); break;
          case 3: pass(RowCount<3>{}, t, half, r0); break;
          default: pass(RowCount<4>{}, t, half, r0); break;
        }
      }
    }
  }
}

}  // namespace

void Int4GemvTilesAvx2(const Int4GemvProblem& p, int64_t tile_begin, int64_t tile_end) {
  ForEachPass(p.out, p.rows, tile_begin, tile_end,
              [&](auto rows, int64_t t, int half, int64_t r0) { Int4Pass<decltype(rows)::kRows>(p, t, half, r0); });
}

void Int8GemvTilesAvx2(const Int8GemvProblem& p, int64_t tile_begin, int64_t tile_end) {
  ForEachPass(p.out, p.rows, tile_begin, tile_end,
              [&](auto rows, int64_t t, int half, int64_t r0) { Pass<decltype(rows)::kRows>(p, t, half, r0); });
}

}  // namespace qwen3tts::nn
