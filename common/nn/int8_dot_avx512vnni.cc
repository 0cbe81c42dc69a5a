// Built with -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -mavx512vnni (common/nn/CMakeLists.txt);
// called only when the CPU has all of them. Internal linkage and no standard-library inline
// functions, so no AVX-512 code is shared with other translation units.
//
// One 512-bit register holds a tile's 16 outputs. Per block and activation row: the integer sums
// start at the row's correction (-128 * sum of its block, undoing the weights' +128), eight VNNI
// instructions add the 16 outputs' quads times one broadcast activation quad, in two independent
// chains (even and odd quads; integer sums, so the split changes nothing) so that a single row is
// not bound by the instruction's latency; then one convert and one FMA by the block's scale.
// GCC 12's _mm512_cvtepi32_ps passes an intentionally undefined vector and then warns about it
// (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstdint>

#include "common/nn/int8_dot.h"

namespace qwen3tts::nn {
namespace {

constexpr int kMaxRows = 8;  // activation rows per pass over a tile (2 + 1 registers per row)

// The weights kInt8PrefetchBytes past a block of `bytes` (int8_dot.h: the first pass of 2+ rows).
inline void PrefetchWeights(const uint8_t* block, int64_t bytes) {
  for (int64_t line = 0; line < bytes; line += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(block + kInt8PrefetchBytes + line), _MM_HINT_T0);
  }
}

inline __m512i BroadcastQuad(const int8_t* x) {
  int32_t quad;
  __builtin_memcpy(&quad, x, sizeof(quad));
  return _mm512_set1_epi32(quad);
}

template <int R, bool kPrefetch>
inline void TileRows(const uint8_t* tile, const Int8GemvProblem& p, int64_t r0, __m512* acc) {
  const int64_t ldq = p.blocks * 32;
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < p.blocks; ++b) {
    const uint8_t* wb = tile + b * kInt8TileBlockBytes;
    if (kPrefetch) PrefetchWeights(wb, kInt8TileBlockBytes);
    __m512i even[R], odd[R];
    for (int r = 0; r < R; ++r) {
      even[r] = _mm512_set1_epi32(p.xc[(r0 + r) * p.blocks + b]);
      odd[r] = _mm512_setzero_si512();
    }
    for (int k = 0; k < 8; k += 2) {
      const __m512i w0 = _mm512_loadu_si512(wb + 64 * k);
      const __m512i w1 = _mm512_loadu_si512(wb + 64 * (k + 1));
      for (int r = 0; r < R; ++r) {
        const int8_t* x = p.xq + (r0 + r) * ldq + 32 * b + 4 * k;
        even[r] = _mm512_dpbusd_epi32(even[r], w0, BroadcastQuad(x));
        odd[r] = _mm512_dpbusd_epi32(odd[r], w1, BroadcastQuad(x + 4));
      }
    }
    for (int r = 0; r < R; ++r) {
      const __m512 dot = _mm512_cvtepi32_ps(_mm512_add_epi32(even[r], odd[r]));
      acc[r] = _mm512_fmadd_ps(dot, _mm512_set1_ps(p.xs[(r0 + r) * p.blocks + b]), acc[r]);
    }
  }
}

template <int R>
inline void StoreRows(const Int8GemvProblem& p, int64_t tile, int64_t r0, const __m512* acc) {
  const int64_t o0 = tile * kInt8TileOutputs;
  const int64_t n = p.out - o0 < kInt8TileOutputs ? p.out - o0 : kInt8TileOutputs;
  const __mmask16 valid = static_cast<__mmask16>((1u << n) - 1);
  const __m512 scale = _mm512_maskz_loadu_ps(valid, p.w_scale + o0);
  for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(p.y + (r0 + r) * p.ldy + o0, valid, _mm512_mul_ps(acc[r], scale));
}

template <int R>
inline void Pass(const Int8GemvProblem& p, int64_t tile, int64_t r0) {
  __m512 acc[R];
  const uint8_t* weights = p.w + tile * p.blocks * kInt8TileBlockBytes;
  if (R >= 2 && r0 == 0) {
    TileRows<R, true>(weights, p, r0, acc);
  } else {
    TileRows<R, false>(weights, p, r0, acc);
  }
  StoreRows<R>(p, tile, r0, acc);
}

// Int4: per block, the four nibble vectors unpack to the same quads as an int8 block (low nibbles:
// quads 0-3, high: 4-7), the sums start at the row's -8 x block-sum correction, and the 16 outputs'
// bfloat16 block scales (a shift left by 16 makes them float32) times the row's block scale scale
// the converted sums.
template <int R, bool kPrefetch>
inline void Int4TileRows(const uint8_t* tile, const Int4GemvProblem& p, int64_t r0, __m512* acc) {
  const int64_t ldq = p.blocks * 32;
  const __m512i low_nibbles = _mm512_set1_epi8(0x0f);
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < p.blocks; ++b) {
    const uint8_t* wb = tile + b * kInt4TileBlockBytes;
    if (kPrefetch) PrefetchWeights(wb, kInt4TileBlockBytes);
    __m512i low[R], high[R];
    for (int r = 0; r < R; ++r) {
      low[r] = _mm512_set1_epi32(p.xc[(r0 + r) * p.blocks + b]);
      high[r] = _mm512_setzero_si512();
    }
    for (int v = 0; v < 4; ++v) {
      const __m512i packed = _mm512_loadu_si512(wb + 64 * v);
      const __m512i w_low = _mm512_and_si512(packed, low_nibbles);
      const __m512i w_high = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low_nibbles);
      for (int r = 0; r < R; ++r) {
        const int8_t* x = p.xq + (r0 + r) * ldq + 32 * b + 4 * v;
        low[r] = _mm512_dpbusd_epi32(low[r], w_low, BroadcastQuad(x));
        high[r] = _mm512_dpbusd_epi32(high[r], w_high, BroadcastQuad(x + 16));
      }
    }
    const __m256i scale_bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + kInt4ScaleOffset));
    const __m512 w_scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(scale_bits), 16));
    for (int r = 0; r < R; ++r) {
      const __m512 dot = _mm512_cvtepi32_ps(_mm512_add_epi32(low[r], high[r]));
      const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(p.xs[(r0 + r) * p.blocks + b]), w_scale);
      acc[r] = _mm512_fmadd_ps(dot, scale, acc[r]);
    }
  }
}

template <int R>
inline void Int4Pass(const Int4GemvProblem& p, int64_t tile, int64_t r0) {
  __m512 acc[R];
  const uint8_t* weights = p.w + tile * p.blocks * kInt4TileBlockBytes;
  if (R >= 2 && r0 == 0) {
    Int4TileRows<R, true>(weights, p, r0, acc);
  } else {
    Int4TileRows<R, false>(weights, p, r0, acc);
  }
  const int64_t o0 = tile * kInt8TileOutputs;
  const int64_t n = p.out - o0 < kInt8TileOutputs ? p.out - o0 : kInt8TileOutputs;
  const __mmask16 valid = static_cast<__mmask16>((1u << n) - 1);
  for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(p.y + (r0 + r) * p.ldy + o0, valid, acc[r]);
}

}  // namespace

namespace {

// Every tile in [tile_begin, tile_end), in passes of up to kMaxRows activation rows:
// pass(RowCount<R>{}, tile, first_row) with R fixed at compile time (the accumulators live in
// registers).
template <int R>
struct RowCount {
  static constexpr int kRows = R;
};

template <typename PassFn>
inline void ForEachPass(int64_t rows, int64_t tile_begin, int64_t tile_end, PassFn pass) {
  static_assert(kMaxRows == 8, "the switch below instantiates passes of 1..8 rows");
  for (int64_t t = tile_begin; t < tile_end; ++t) {
    for (int64_t r0 = 0; r0 < rows; r0 += kMaxRows) {
      switch (rows - r0 < kMaxRows ? rows - r0 : kMaxRows) {
        case 1: pass(RowCount<1>{}, t, r0); break;
        case 2: pass(RowCount<2>{}, t, r0); break;
        case 3: pass(RowCount<3>{}, t, r0); break;
        case 4: pass(RowCount<4>{}, t, r0); break;
        case 5: pass(RowCount<5>{}, t, r0); break;
        case 6: pass(RowCount<6>{}, t, r0); break;
        case 7: pass(RowCount<7>{}, t, r0); break;
        default: pass(RowCount<8>{}, t, r0); break;
      }
    }
  }
}

}  // namespace

void Int4GemvTilesAvx512Vnni(const Int4GemvProblem& p, int64_t tile_begin, int64_t tile_end) {
  ForEachPass(p.rows, tile_begin, tile_end,
              [&](auto rows, int64_t t, int64_t r0) { Int4Pass<decltype(rows)::kRows>(p, t, r0); });
}

void Int8GemvTilesAvx512Vnni(const Int8GemvProblem& p, int64_t tile_begin, int64_t tile_end) {
  ForEachPass(p.rows, tile_begin, tile_end,
              [&](auto rows, int64_t t, int64_t r0) { Pass<decltype(rows)::kRows>(p, t, r0); });
}

}  // namespace qwen3tts::nn
