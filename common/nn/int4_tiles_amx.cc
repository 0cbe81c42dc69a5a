// Built with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mamx-tile -mamx-int8
// (common/nn/CMakeLists.txt); called only where Int8KernelAvailable(Int8Kernel::kAmx). Internal
// linkage and no standard-library inline functions, as in int8_dot_avx512vnni.cc.
//
// int4-g128 products on AMX-INT8 tiles. Per tile of 16 outputs and block of 128 inputs, two
// TDPBSUD instructions (signed activations x unsigned stored weights q + 8, 64 inputs each) add
// the block's exact integer dot products for up to 16 activation rows in one accumulator tile; the
// tile is stored and one vector epilogue per row adds the correction, converts and scales, as the
// VNNI kernel does per block. Integer sums are exact, so every row gets the scalar kernel's bits.
//
// Why 128-input blocks: with 32-input blocks every block's sums leave the tile (a store, then a
// load per row), and the epilogue could not overlap the tile unit: measured no faster than the
// VNNI kernel at 8 rows (bench/RESULTS.md, twenty-first session). Per 128 inputs, the nibbles of
// the next block are unpacked (to bytes the tiles load) and the previous block's sums are scaled
// while the tile unit multiplies, so the vector and tile units work side by side.
//
// Rows: one tile configuration per call, M = the rows of each pass (at most 16). More than 16 rows
// are split into passes of equal M, the last pass shifted back to end at the last row: a row in two
// passes is computed twice, with the same bits, and no pass reads past the last row.
//
// GCC's tile intrinsics paste their register numbers into the assembly text, so the kernel names
// them by number: accumulators 0 and 1, activations 2 and 3 (inputs 0-63, 64-127 of the block),
// weights 4 and 5 (the same halves; a second tile's 6 and 7).
//
// GCC 12's _mm512_cvtepi32_ps, _mm512_cvtepu16_epi32 and _mm512_slli_epi32 pass an intentionally
// undefined vector and then warn about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>

#include "common/nn/amx_tile_config.h"
#include "common/nn/int8_dot.h"

namespace qwen3tts::nn {
namespace {

constexpr int kSubBlocks = 4;  // 32-input parts per block: int4-g128
constexpr int64_t kBlockBytes = Int4BlockBytes(kSubBlocks);
constexpr int64_t kBlockInputs = 32 * kSubBlocks;
constexpr int kMaxRows = 16;        // rows of an accumulator tile
constexpr int kQuadRowBytes = 64;   // a weight tile row: 16 outputs' quads
constexpr int kHalfBytes = 16 * kQuadRowBytes;  // one weight tile: 16 quads = 64 inputs
// Each block prefetches the weights this far ahead (into the next tiles at a tile's end). The
// hardware prefetcher alone let a batched step's weights stream at a fraction of the bandwidth, as
// in the VNNI kernel (int8_dot.h): 0.6B int4-g128 talker, 8 sequences, one thread: 76-79 ms per
// step without, 69-70 with 4 KB (2 KB 71-73, 8 KB 70-73, 16-32 KB 74-76).
constexpr int64_t kWeightPrefetchBytes = 4096;

// Block b's nibbles as bytes: quad rows 0-31 (64 bytes each), the part's vector v giving rows
// 8 part + v (low nibbles) and 8 part + v + 4 (high nibbles).
inline void UnpackBlock(const uint8_t* block, uint8_t* rows) {
  const __m512i low_nibbles = _mm512_set1_epi8(0x0f);
  for (int part = 0; part < kSubBlocks; ++part) {
    for (int v = 0; v < 4; ++v) {
      const __m512i packed = _mm512_loadu_si512(block + part * kInt4PartBytes + 64 * v);
      uint8_t* part_rows = rows + 8 * part * kQuadRowBytes;
      _mm512_store_si512(part_rows + v * kQuadRowBytes, _mm512_and_si512(packed, low_nibbles));
      _mm512_store_si512(part_rows + (v + 4) * kQuadRowBytes,
                         _mm512_and_si512(_mm512_srli_epi16(packed, 4), low_nibbles));
    }
  }
}

// The 16 outputs' block scales (bfloat16 -> float32 by a shift).
inline __m512 BlockScales(const uint8_t* block) {
  const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + Int4ScaleOffset(kSubBlocks)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
}

// acc[r] = fma(float(sums[r] + xc[r, b]), xs[r, b] * block scales, acc[r]) for the pass's R rows.
template <int R>
inline void ScaleBlock(const int32_t* sums, const uint8_t* block, const int32_t* xc, const float* xs, int64_t ldb,
                       __m512 (&acc)[R]) {
  const __m512 w_scale = BlockScales(block);
  for (int r = 0; r < R; ++r) {
    const __m512i dot = _mm512_add_epi32(_mm512_load_si512(sums + 16 * r), _mm512_set1_epi32(xc[r * ldb]));
    acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(_mm512_set1_ps(xs[r * ldb]), w_scale), acc[r]);
  }
}

// One tile's products of block b (the pass's u0, xb) into accumulator ACC, a literal (see above).
#define QWEN3TTS_INT4_ONE_TILE_PRODUCTS(ACC)              \
  do {                                                    \
    _tile_zero(ACC);                                      \
    _tile_loadd(2, xb, p.ldq);                            \
    _tile_loadd(4, u0, kQuadRowBytes);                    \
    _tile_dpbsud(ACC, 2, 4);                              \
    _tile_loadd(3, xb + 64, p.ldq);                       \
    _tile_loadd(5, u0 + kHalfBytes, kQuadRowBytes);       \
    _tile_dpbsud(ACC, 3, 5);                              \
  } while (false)

// T adjacent tiles' outputs (T = 1 or 2) for R rows starting at r0. The tile unit starts on block
// b while the vector unit unpacks block b + 1 and scales block b - 1. One tile alternates its
// accumulator between blocks (0, 1), so that block b's products need not wait for block b - 1's
// store; two tiles take one accumulator each (0, 1) and share the activation tiles, and their
// interleaved products keep the tile unit busier: 3072x1024 at 8 rows 0.056 -> 0.051-0.055 ms, 0.6B
// int4-g128 talker at 8 sequences 72.6 -> 69.3-70.4 ms per step.
template <int R, int T>
void TilePass(const Int4GemvProblem& p, int64_t tile, int64_t r0) {
  static_assert(T == 1 || T == 2, "one or two tiles per pass");
  const int64_t tile_bytes = p.blocks * kBlockBytes;
  const uint8_t* w = p.w + tile * tile_bytes;
  const int8_t* x = p.xq + r0 * p.ldq;
  const int32_t* xc = p.xc + r0 * p.ldb;
  const float* xs = p.xs + r0 * p.ldb;
  alignas(64) uint8_t unpacked[2][T][2 * kHalfBytes];  // [block parity][tile]
  alignas(64) int32_t sums[2][kMaxRows * 16];          // one tile: [block parity]; two: [tile]
  __m512 acc[T][R];
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) acc[t][r] = _mm512_setzero_ps();
    UnpackBlock(w + t * tile_bytes, unpacked[0][t]);
  }
  for (int64_t b = 0; b < p.blocks; ++b) {
    const int odd = static_cast<int>(b & 1);
    const uint8_t* u0 = unpacked[odd][0];
    const uint8_t* u1 = unpacked[odd][T - 1];
    const int8_t* xb = x + kBlockInputs * b;
    if constexpr (T == 2) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_loadd(2, xb, p.ldq);
      _tile_loadd(4, u0, kQuadRowBytes);
      _tile_dpbsud(0, 2, 4);
      _tile_loadd(6, u1, kQuadRowBytes);
      _tile_dpbsud(1, 2, 6);
      _tile_loadd(3, xb + 64, p.ldq);
      _tile_loadd(5, u0 + kHalfBytes, kQuadRowBytes);
      _tile_dpbsud(0, 3, 5);
      _tile_loadd(7, u1 + kHalfBytes, kQuadRowBytes);
      _tile_dpbsud(1, 3, 7);
    } else if (odd) {
      QWEN3TTS_INT4_ONE_TILE_PRODUCTS(1);
    } else {
      QWEN3TTS_INT4_ONE_TILE_PRODUCTS(0);
    }
    for (int t = 0; t < T; ++t) {
      const uint8_t* wt = w + t * tile_bytes;
      if (b + 1 < p.blocks) UnpackBlock(wt + (b + 1) * kBlockBytes, unpacked[odd ^ 1][t]);
      for (int64_t line = 0; line < kBlockBytes; line += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(wt + b * kBlockBytes + kWeightPrefetchBytes + line), _MM_HINT_T0);
      }
      if (b > 0) {
        ScaleBlock<R>(sums[T == 2 ? t : odd ^ 1], wt + (b - 1) * kBlockBytes, xc + b - 1, xs + b - 1, p.ldb, acc[t]);
      }
    }
    if (T == 2 || !odd) _tile_stored(0, sums[0], 16 * sizeof(int32_t));
    if (T == 2 || odd) _tile_stored(1, sums[1], 16 * sizeof(int32_t));
  }
  const int64_t last = p.blocks - 1;
  for (int t = 0; t < T; ++t) {
    ScaleBlock<R>(sums[T == 2 ? t : last & 1], w + t * tile_bytes + last * kBlockBytes, xc + last, xs + last, p.ldb,
                  acc[t]);
    const int64_t valid_outputs = p.out - (tile + t) * kInt8TileOutputs;
    const __mmask16 valid =
        static_cast<__mmask16>(valid_outputs < kInt8TileOutputs ? (1u << valid_outputs) - 1 : 0xffffu);
    for (int r = 0; r < R; ++r) {
      _mm512_mask_storeu_ps(p.y + (r0 + r) * p.ldy + (tile + t) * kInt8TileOutputs, valid, acc[t][r]);
    }
  }
}

#undef QWEN3TTS_INT4_ONE_TILE_PRODUCTS

void ConfigureTiles(int rows) {
  AmxTileConfig config;
  config.Set(0, rows, 64);  // accumulators: rows x 16 int32
  config.Set(1, rows, 64);
  config.Set(2, rows, 64);  // activations: rows x 64 inputs
  config.Set(3, rows, 64);
  for (int tile = 4; tile < 8; ++tile) config.Set(tile, 16, kQuadRowBytes);  // weights: 16 quads x 16 outputs
  _tile_loadconfig(&config);
}

// Every pass of R rows over tiles [tile_begin, tile_end), tile by tile (a tile's weights stay in
// cache for its later passes).
template <int R>
void Passes(const Int4GemvProblem& p, int64_t tile_begin, int64_t tile_end, int64_t passes) {
  ConfigureTiles(R);
  // The last pass ends at the last row (it may overlap the one before).
  const auto first_row = [&](int64_t pass) { return pass * R < p.rows - R ? pass * R : p.rows - R; };
  // Two tiles per pass where their accumulators fit the registers (2 x R of 32).
  constexpr int kTiles = R <= 8 ? 2 : 1;
  int64_t tile = tile_begin;
  for (; tile + kTiles <= tile_end; tile += kTiles) {
    for (int64_t pass = 0; pass < passes; ++pass) TilePass<R, kTiles>(p, tile, first_row(pass));
  }
  if constexpr (kTiles == 2) {
    if (tile < tile_end) {
      for (int64_t pass = 0; pass < passes; ++pass) TilePass<R, 1>(p, tile, first_row(pass));
    }
  }
  _tile_release();
}

template <int R>
void PassesOfRows(const Int4GemvProblem& p, int64_t tile_begin, int64_t tile_end, int64_t rows_per_pass,
                  int64_t passes) {
  if constexpr (R > kInt4AmxMinRows) {
    if (rows_per_pass < R) return PassesOfRows<R - 1>(p, tile_begin, tile_end, rows_per_pass, passes);
  }
  Passes<R>(p, tile_begin, tile_end, passes);
}

}  // namespace

void Int4GemvTilesAmx(const Int4GemvProblem& p, int64_t tile_begin, int64_t tile_end) {
  if (p.sub_blocks != kSubBlocks || p.rows < kInt4AmxMinRows) return Int4GemvTilesAvx512Vnni(p, tile_begin, tile_end);
  const int64_t passes = (p.rows + kMaxRows - 1) / kMaxRows;
  const int64_t rows_per_pass = (p.rows + passes - 1) / passes;
  PassesOfRows<kMaxRows>(p, tile_begin, tile_end, rows_per_pass, passes);
}

}  // namespace qwen3tts::nn
