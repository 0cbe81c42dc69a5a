// Built with -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -mavx512vnni (common/nn/CMakeLists.txt);
// called only when the CPU has all of them. Internal linkage and no standard-library inline
// functions, so no AVX-512 code is shared with other translation units.
//
// One 512-bit register holds a tile's 16 outputs. Per block, tile and activation row: the integer
// sums start at the row's correction (-128 * sum of its block, undoing the weights' +128; int4:
// -8 *), eight VNNI instructions add the 16 outputs' quads times one broadcast activation quad,
// then one convert and one FMA by the block's scale. Integer sums are exact in any order, and each
// (tile, row) accumulates its blocks in order, so every pass shape below gives the bits of the
// scalar kernel.
//
// Passes cover T adjacent tiles and R activation rows: per quad, T weight vectors and R broadcast
// activation quads feed T x R instructions. The first version made one tile per pass of 8 rows: a
// broadcast load per instruction, bound by loads at about 60 % of the instruction's throughput on
// this VM's core (~400 G MAC/s, measured with independent chains). int8: three tiles by four rows,
// 0.6 loads per instruction, 12 accumulator chains to hide the instruction's latency; 1.2-1.45x
// for the vocoder's convolution shapes, measured against 2x6 (within noise), 4x3, 2x7 and 2x8
// (both spill). int4 also unpacks each nibble vector once per pass: two tiles by six rows,
// 1.3-1.45x at 16-64 rows (3x4 spills).
//
// Up to kStreamingRows rows (decoding steps, batches of up to 8 sequences) the product streams
// weights from memory and is bound by that, not by instructions: there a pass covers one tile and
// every row, so each weight is read from memory once, as one multi-tile stream per pass was
// measured slower (int4 talker, 8 sequences: 95-98 against 109-112 frames/s).
//
// GCC 12's _mm512_cvtepi32_ps passes an intentionally undefined vector and then warns about it
// (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstdint>

#include "common/nn/int8_dot.h"

namespace qwen3tts::nn {
namespace {

constexpr int kInt8TilesPerPass = 3;
constexpr int kInt8RowsPerPass = 4;
constexpr int kInt4TilesPerPass = 2;
constexpr int kInt4RowsPerPass = 6;
constexpr int kStreamingRows = 8;

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

inline __mmask16 TileOutputs(int64_t out, int64_t tile) {
  const int64_t n = out - tile * kInt8TileOutputs;
  return static_cast<__mmask16>(n < kInt8TileOutputs ? (1u << n) - 1 : 0xffffu);
}

// int4 nibble vector -> the quads of its low and its high nibbles.
inline void UnpackNibbles(const uint8_t* v, __m512i* low, __m512i* high) {
  const __m512i packed = _mm512_loadu_si512(v);
  const __m512i low_nibbles = _mm512_set1_epi8(0x0f);
  *low = _mm512_and_si512(packed, low_nibbles);
  *high = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low_nibbles);
}

// The 16 outputs' int4 block scales (bfloat16: a shift left by 16 makes them float32), for blocks
// of kSubBlocks x 32 inputs.
template <int kSubBlocks>
inline __m512 Int4BlockScales(const uint8_t* block) {
  const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + Int4ScaleOffset(kSubBlocks)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
}

// ---- one activation row ---------------------------------------------------------------------------
// A single decoding step: one tile at a time, a block's products in two chains so that the row is
// not bound by the instruction's latency. Several tiles at once made an 8 MB int8 product 6-20 %
// slower.

inline void Int8SingleRowTile(const Int8GemvProblem& p, int64_t tile) {
  const uint8_t* w = p.w + tile * p.blocks * kInt8TileBlockBytes;
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < p.blocks; ++b) {
    const uint8_t* wb = w + b * kInt8TileBlockBytes;
    const int8_t* x = p.xq + 32 * b;
    __m512i even = _mm512_set1_epi32(p.xc[b]), odd = _mm512_setzero_si512();
    for (int k = 0; k < 8; k += 2) {
      even = _mm512_dpbusd_epi32(even, _mm512_loadu_si512(wb + 64 * k), BroadcastQuad(x + 4 * k));
      odd = _mm512_dpbusd_epi32(odd, _mm512_loadu_si512(wb + 64 * (k + 1)), BroadcastQuad(x + 4 * k + 4));
    }
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(even, odd)), _mm512_set1_ps(p.xs[b]), acc);
  }
  const __mmask16 valid = TileOutputs(p.out, tile);
  const int64_t o0 = tile * kInt8TileOutputs;
  _mm512_mask_storeu_ps(p.y + o0, valid, _mm512_mul_ps(acc, _mm512_maskz_loadu_ps(valid, p.w_scale + o0)));
}

template <int kSubBlocks>
inline void Int4SingleRowTile(const Int4GemvProblem& p, int64_t tile) {
  constexpr int64_t kBlockBytes = Int4BlockBytes(kSubBlocks);
  const uint8_t* w = p.w + tile * p.blocks * kBlockBytes;
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < p.blocks; ++b) {
    const uint8_t* wb = w + b * kBlockBytes;
    const int8_t* x = p.xq + 32 * kSubBlocks * b;
    __m512i low = _mm512_set1_epi32(p.xc[b]), high = _mm512_setzero_si512();
    for (int part = 0; part < kSubBlocks; ++part) {
      for (int v = 0; v < 4; ++v) {
        __m512i w_low, w_high;
        UnpackNibbles(wb + part * kInt4PartBytes + 64 * v, &w_low, &w_high);
        low = _mm512_dpbusd_epi32(low, w_low, BroadcastQuad(x + 32 * part + 4 * v));
        high = _mm512_dpbusd_epi32(high, w_high, BroadcastQuad(x + 32 * part + 4 * v + 16));
      }
    }
    const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(p.xs[b]), Int4BlockScales<kSubBlocks>(wb));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(low, high)), scale, acc);
  }
  _mm512_mask_storeu_ps(p.y + tile * kInt8TileOutputs, TileOutputs(p.out, tile), acc);
}

// ---- T tiles x R rows -----------------------------------------------------------------------------

// What differs between the formats in a multi-tile pass: a tile block's bytes and products, the
// outputs' scales per block (int4) or per weight row (int8).
struct Int8Format {
  using Problem = Int8GemvProblem;
  static constexpr int kTilesPerPass = kInt8TilesPerPass, kRowsPerPass = kInt8RowsPerPass;
  static constexpr int64_t kBlockBytes = kInt8TileBlockBytes, kBlockInputs = 32;
  static constexpr bool kBlockScales = false, kRowScales = true;

  template <int T, int R>
  static void AddBlockProducts(const uint8_t* wb, int64_t tile_bytes, const int8_t* x, int64_t ldq,
                               __m512i (&dot)[T][R]) {
    for (int k = 0; k < 8; ++k) {
      __m512i wk[T];
      for (int t = 0; t < T; ++t) wk[t] = _mm512_loadu_si512(wb + t * tile_bytes + 64 * k);
      for (int r = 0; r < R; ++r) {
        const __m512i quad = BroadcastQuad(x + r * ldq + 4 * k);
        for (int t = 0; t < T; ++t) dot[t][r] = _mm512_dpbusd_epi32(dot[t][r], wk[t], quad);
      }
    }
  }
  static void SingleRow(const Problem& p, int64_t tile) { Int8SingleRowTile(p, tile); }
};

// Blocks of kSubBlocks x 32 inputs: 1 (int4), 4 (int4-g128).
template <int kSubBlocks>
struct Int4Format {
  using Problem = Int4GemvProblem;
  static constexpr int kTilesPerPass = kInt4TilesPerPass, kRowsPerPass = kInt4RowsPerPass;
  static constexpr int64_t kBlockBytes = Int4BlockBytes(kSubBlocks), kBlockInputs = 32 * kSubBlocks;
  static constexpr bool kBlockScales = true, kRowScales = false;

  // Each nibble vector is unpacked once per pass, for all R rows.
  template <int T, int R>
  static void AddBlockProducts(const uint8_t* wb, int64_t tile_bytes, const int8_t* x, int64_t ldq,
                               __m512i (&dot)[T][R]) {
    for (int part = 0; part < kSubBlocks; ++part) {
      for (int v = 0; v < 4; ++v) {
        __m512i w_low[T], w_high[T];
        for (int t = 0; t < T; ++t) {
          UnpackNibbles(wb + t * tile_bytes + part * kInt4PartBytes + 64 * v, &w_low[t], &w_high[t]);
        }
        for (int r = 0; r < R; ++r) {
          const __m512i quad_low = BroadcastQuad(x + r * ldq + 32 * part + 4 * v);
          for (int t = 0; t < T; ++t) dot[t][r] = _mm512_dpbusd_epi32(dot[t][r], w_low[t], quad_low);
          const __m512i quad_high = BroadcastQuad(x + r * ldq + 32 * part + 4 * v + 16);
          for (int t = 0; t < T; ++t) dot[t][r] = _mm512_dpbusd_epi32(dot[t][r], w_high[t], quad_high);
        }
      }
    }
  }
  static void SingleRow(const Problem& p, int64_t tile) { Int4SingleRowTile<kSubBlocks>(p, tile); }
  static __m512 BlockScales(const uint8_t* wb) { return Int4BlockScales<kSubBlocks>(wb); }
};

// What a pass prefetches: nothing, its own tiles' weights kInt8PrefetchBytes ahead (a group's
// first pass), or a share of the next group's weights (a group's later passes: the blocks b with
// b % share_count == share, block for block).
enum class Prefetch { kNone, kAhead, kNextGroup };

struct PrefetchShare {
  int64_t share = 0, share_count = 0;  // share_count 0: no share of the next group to prefetch
};

template <typename Format, int T, int R, Prefetch kPrefetch>
inline void TileGroupPass(const typename Format::Problem& p, int64_t tile, int64_t r0, PrefetchShare next = {}) {
  const int64_t ldq = p.ldq, ldb = p.ldb;
  const int64_t tile_bytes = p.blocks * Format::kBlockBytes;
  const uint8_t* w = p.w + tile * tile_bytes;
  const int8_t* x = p.xq + r0 * ldq;
  const int32_t* xc = p.xc + r0 * ldb;
  const float* xs = p.xs + r0 * ldb;
  __m512 acc[T][R];
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) acc[t][r] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < p.blocks; ++b) {
    const uint8_t* wb = w + b * Format::kBlockBytes;
    if constexpr (kPrefetch == Prefetch::kAhead) {
      for (int t = 0; t < T; ++t) PrefetchWeights(wb + t * tile_bytes, Format::kBlockBytes);
    } else if constexpr (kPrefetch == Prefetch::kNextGroup) {
      if (b % next.share_count == next.share) {
        for (int t = T; t < 2 * T; ++t) {
          const char* block = reinterpret_cast<const char*>(wb + t * tile_bytes);
          for (int64_t line = 0; line < Format::kBlockBytes; line += 64) _mm_prefetch(block + line, _MM_HINT_T0);
        }
      }
    }
    __m512i dot[T][R];
    for (int r = 0; r < R; ++r) {
      const __m512i correction = _mm512_set1_epi32(xc[r * ldb + b]);
      for (int t = 0; t < T; ++t) dot[t][r] = correction;
    }
    Format::template AddBlockProducts<T, R>(wb, tile_bytes, x + Format::kBlockInputs * b, ldq, dot);
    __m512 block_scales[T];
    if constexpr (Format::kBlockScales) {
      for (int t = 0; t < T; ++t) block_scales[t] = Format::BlockScales(wb + t * tile_bytes);
    }
    for (int r = 0; r < R; ++r) {
      const __m512 row_scale = _mm512_set1_ps(xs[r * ldb + b]);
      for (int t = 0; t < T; ++t) {
        const __m512 scale = Format::kBlockScales ? _mm512_mul_ps(row_scale, block_scales[t]) : row_scale;
        acc[t][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t][r]), scale, acc[t][r]);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    const __mmask16 valid = TileOutputs(p.out, tile + t);
    const int64_t o0 = (tile + t) * kInt8TileOutputs;
    __m512 output_scales = _mm512_setzero_ps();
    if constexpr (Format::kRowScales) output_scales = _mm512_maskz_loadu_ps(valid, p.w_scale + o0);
    for (int r = 0; r < R; ++r) {
      const __m512 y = Format::kRowScales ? _mm512_mul_ps(acc[t][r], output_scales) : acc[t][r];
      _mm512_mask_storeu_ps(p.y + (r0 + r) * p.ldy + o0, valid, y);
    }
  }
}

// ---- dispatch -------------------------------------------------------------------------------------

// The pass over `rows` (1..R) rows of tiles [tile, tile + T), with both counts fixed at compile
// time so that the accumulators live in registers. A tile group's first pass of 2+ rows
// prefetches its own weights (int8_dot.h); its later passes, where there is a next group of T
// tiles, prefetch that group's weights, a share each.
template <typename Format, int T, int R>
inline void PassOfRows(const typename Format::Problem& p, int64_t tile, int64_t r0, int64_t rows,
                       PrefetchShare next) {
  if constexpr (R > 1) {
    if (rows < R) return PassOfRows<Format, T, R - 1>(p, tile, r0, rows, next);
  }
  if (R >= 2 && r0 == 0) {
    TileGroupPass<Format, T, R, Prefetch::kAhead>(p, tile, r0);
  } else if (next.share_count > 0) {
    TileGroupPass<Format, T, R, Prefetch::kNextGroup>(p, tile, r0, next);
  } else {
    TileGroupPass<Format, T, R, Prefetch::kNone>(p, tile, r0);
  }
}

// Tiles [tile_begin, tile_end) in groups of T (the last 1..T-1 as one smaller group), each group's
// rows in passes of up to R.
//
// Why the later passes prefetch the next group: a prefill's first pass over a group streams its
// weights from memory and the later passes find them in cache, so memory sat idle while those
// computed, and the first pass waited for memory (0.6B int4 talker, 8 streams: the first passes of
// the prefills' 2-tile x 6-row products took 2.5x the samples of all later passes together). The
// next group's weights are split between the later passes, so that each asks memory for no more
// than it delivers while the pass computes.
template <typename Format, int T, int R>
inline void ForEachPass(const typename Format::Problem& p, int64_t tile_begin, int64_t tile_end) {
  const int64_t passes = (p.rows + R - 1) / R;
  int64_t tile = tile_begin;
  for (; tile + T <= tile_end; tile += T) {
    const bool next_group = tile + 2 * T <= tile_end;
    for (int64_t pass = 0; pass < passes; ++pass) {
      const PrefetchShare next = next_group && pass > 0 ? PrefetchShare{pass - 1, passes - 1} : PrefetchShare{};
      PassOfRows<Format, T, R>(p, tile, pass * R, p.rows - pass * R, next);
    }
  }
  if constexpr (T > 1) {
    if (tile < tile_end) ForEachPass<Format, T - 1, R>(p, tile, tile_end);
  }
}

template <typename Format>
inline void GemvTiles(const typename Format::Problem& p, int64_t tile_begin, int64_t tile_end) {
  if (p.rows == 1) {
    for (int64_t t = tile_begin; t < tile_end; ++t) Format::SingleRow(p, t);
  } else if (p.rows <= kStreamingRows) {
    ForEachPass<Format, 1, kStreamingRows>(p, tile_begin, tile_end);
  } else {
    ForEachPass<Format, Format::kTilesPerPass, Format::kRowsPerPass>(p, tile_begin, tile_end);
  }
}

}  // namespace

void Int8GemvTilesAvx512Vnni(const Int8GemvProblem& p, int64_t tile_begin, int64_t tile_end) {
  GemvTiles<Int8Format>(p, tile_begin, tile_end);
}

void Int4GemvTilesAvx512Vnni(const Int4GemvProblem& p, int64_t tile_begin, int64_t tile_end) {
  if (p.sub_blocks == 4) {
    GemvTiles<Int4Format<4>>(p, tile_begin, tile_end);
  } else {
    GemvTiles<Int4Format<1>>(p, tile_begin, tile_end);
  }
}

}  // namespace qwen3tts::nn
