// Built with -mavx512f -mavx512bf16 -mamx-tile -mamx-bf16 (common/nn/CMakeLists.txt); called only
// where AmxBf16Available(). Internal linkage and no standard-library inline functions, as in
// int8_dot_avx512vnni.cc.
//
// A pass covers two groups of 16 rows and two tiles of 16 outputs: four accumulator tiles that stay
// in the tile registers from the bias to the last input, two activation tiles and two weight tiles
// (all eight registers). Per tap and 32 inputs it loads four tiles (4 KB) for four tile
// instructions (32768 multiply-adds), so each loaded tile feeds two products. Measured, one core of
// the development VM (Xeon with AMX), the decoder's residual convolutions (kernel 7) at 128-7680
// rows: 0.6-0.78 T multiply-adds/s alone, 0.39-0.55 T inside a streaming decode (colder caches),
// against 0.29-0.31 T for the int8 VNNI kernel alone. Where a layer has few rows for its weights
// (16 rows of the first decoder convolutions at 4 frames per pass) it streams the weights, twice
// int8's bytes; the 1x1 convolutions (3-24 input chunks) are bound by writing their outputs (a
// bias loaded from 16 copies instead of a zero stride measured the same). Neither a software
// prefetch of the weights nor rows-outer loops measured faster.
//
// GCC's tile intrinsics paste their register numbers into the assembly text, so the kernel names
// them by number: accumulators 0-3 (group g, tile t: 2g + t), activations 4 and 5 (group), weights
// 6 and 7 (tile).
//
// GCC 12's AVX-512 conversions and rounding (SnakeBeta's lanes) pass an intentionally undefined
// vector and then warn about it (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "common/nn/amx_tile_config.h"
#include "common/nn/bf16_tiles.h"
#include "common/nn/snake_beta_avx512_lanes.h"
#include "common/nn/snake_beta_simd.h"

namespace qwen3tts::nn {
namespace {

constexpr int kGroupRows = kBf16TileRows;
constexpr int kTileOutputs = kBf16TileOutputs;
constexpr int64_t kTileBlockElements = kGroupRows * kBf16TileInputs;  // one weight tile: 16 x 32 bfloat16

void ConfigureTiles() {
  AmxTileConfig config;
  for (int tile = 0; tile < 8; ++tile) config.Set(tile, kGroupRows, 64);  // every tile 16 rows of 64 bytes
  _tile_loadconfig(&config);
}

// Accumulator tile (group g, output tile t) -> y, only the rows and outputs that exist; with
// kAdd, added to what y holds.
template <bool kAdd>
inline void StoreValid(const float* scratch, float* y, int64_t ldy, int64_t rows, int64_t outputs) {
  const __mmask16 valid = static_cast<__mmask16>((1u << outputs) - 1);
  for (int64_t r = 0; r < rows; ++r) {
    __m512 product = _mm512_load_ps(scratch + r * kTileOutputs);
    if constexpr (kAdd) product = _mm512_add_ps(_mm512_maskz_loadu_ps(valid, y + r * ldy), product);
    _mm512_mask_storeu_ps(y + r * ldy, valid, product);
  }
}

// Rows [r0, r0 + 16 or 32) of output tiles `tile` (and tile + 1); bias: theirs, zero past p.out.
template <bool kTwoGroups, bool kTwoTiles>
void Pass(const Bf16ConvProblem& p, const Bf16ConvSegment& s, int64_t tile, int64_t r0,
          const float (&bias)[2][kTileOutputs]) {
  // Every accumulator row starts at the bias: a row stride of 0 loads the same 64 bytes 16 times.
  _tile_loadd(0, bias[0], 0);
  if constexpr (kTwoTiles) _tile_loadd(1, bias[1], 0);
  if constexpr (kTwoGroups) {
    _tile_loadd(2, bias[0], 0);
    if constexpr (kTwoTiles) _tile_loadd(3, bias[1], 0);
  }
  const int64_t ldx = p.ldx, chunks = p.chunks, row_bytes = 2 * ldx;
  const int64_t tile_elements = p.taps * chunks * kTileBlockElements;
  const uint16_t* weights = p.w + tile * tile_elements;
  for (int64_t j = 0; j < p.taps; ++j) {
    const uint16_t* x = s.x + (r0 + j * p.dilation) * ldx;
    for (int64_t c = 0; c < chunks; ++c) {
      const uint16_t* w = weights + (j * chunks + c) * kTileBlockElements;
      _tile_loadd(6, w, 64);
      if constexpr (kTwoTiles) _tile_loadd(7, w + tile_elements, 64);
      _tile_loadd(4, x + c * kBf16TileInputs, row_bytes);
      _tile_dpbf16ps(0, 4, 6);
      if constexpr (kTwoTiles) _tile_dpbf16ps(1, 4, 7);
      if constexpr (kTwoGroups) {
        _tile_loadd(5, x + kGroupRows * ldx + c * kBf16TileInputs, row_bytes);
        _tile_dpbf16ps(2, 5, 6);
        if constexpr (kTwoTiles) _tile_dpbf16ps(3, 5, 7);
      }
    }
  }
  alignas(64) float scratch[kGroupRows * kTileOutputs];
  for (int g = 0; g < (kTwoGroups ? 2 : 1); ++g) {
    const int64_t row = r0 + g * kGroupRows;
    const int64_t rows = s.rows - row < kGroupRows ? s.rows - row : kGroupRows;
    for (int t = 0; t < (kTwoTiles ? 2 : 1); ++t) {
      const int64_t o0 = (tile + t) * kTileOutputs;
      const int64_t outputs = p.out - o0 < kTileOutputs ? p.out - o0 : kTileOutputs;
      float* y = s.y + row * p.ldy + o0;
      const bool whole = rows == kGroupRows && outputs == kTileOutputs && !p.add_to_output;
      // Straight into y where the tile is whole and replaces y, else through scratch (the rows past
      // p.rows are the zero steps' products, the outputs past p.out zero weights').
      float* destination = whole ? y : scratch;
      const int64_t stride = whole ? p.ldy * 4 : 64;
      switch (2 * g + t) {
        case 0: _tile_stored(0, destination, stride); break;
        case 1: _tile_stored(1, destination, stride); break;
        case 2: _tile_stored(2, destination, stride); break;
        default: _tile_stored(3, destination, stride); break;
      }
      if (whole) continue;
      if (p.add_to_output) {
        StoreValid<true>(scratch, y, p.ldy, rows, outputs);
      } else {
        StoreValid<false>(scratch, y, p.ldy, rows, outputs);
      }
    }
  }
}

}  // namespace

void Bf16ConvTilesAmx(const Bf16ConvProblem& p, int64_t tile_begin, int64_t tile_end) {
  // Per call: the thread may be a pool worker that has not used tiles yet, and releasing them
  // afterwards keeps the 8 KB tile state out of the thread's context switches.
  ConfigureTiles();
  alignas(64) float bias[2][kTileOutputs];
  for (int64_t tile = tile_begin; tile < tile_end; tile += 2) {
    const bool two_tiles = tile + 1 < tile_end;
    for (int64_t n = 0; n < 2 * kTileOutputs; ++n) {
      const int64_t o = tile * kTileOutputs + n;
      bias[n / kTileOutputs][n % kTileOutputs] = o < p.out ? p.bias[o] : 0.0f;
    }
    // Every segment's rows while this pair's weights are in cache.
    for (int64_t i = 0; i < p.num_segments; ++i) {
      const Bf16ConvSegment& s = p.segments[i];
      for (int64_t r0 = 0; r0 < s.rows; r0 += 2 * kGroupRows) {
        const bool two_groups = r0 + kGroupRows < s.rows;
        if (two_groups && two_tiles) {
          Pass<true, true>(p, s, tile, r0, bias);
        } else if (two_groups) {
          Pass<true, false>(p, s, tile, r0, bias);
        } else if (two_tiles) {
          Pass<false, true>(p, s, tile, r0, bias);
        } else {
          Pass<false, false>(p, s, tile, r0, bias);
        }
      }
    }
  }
  _tile_release();
}

// Nearest bfloat16 (ties to even), 16 values per instruction; the inputs past `in` are zeros.
void ToBf16RowsAvx512(const float* x, int64_t rows, int64_t in, int64_t width, uint16_t* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * in;
    uint16_t* o = out + r * width;
    for (int64_t i = 0; i < width; i += 16) {
      const int64_t n = in - i;
      const __mmask16 valid = n >= 16 ? static_cast<__mmask16>(0xffff)
                              : n > 0 ? static_cast<__mmask16>((1u << n) - 1)
                                      : static_cast<__mmask16>(0);
      const __m256bh converted = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(valid, xr + i));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i), reinterpret_cast<const __m256i&>(converted));
    }
  }
}

// SnakeBeta (snake_beta_simd.h: the instructions of SnakeBetaPerChannelAvx512, so its bits) of each
// row's `in` values, rounded as ToBf16RowsAvx512 rounds; the inputs past `in` are zeros (a masked
// load's zero lanes give SnakeBeta(0) = 0).
void SnakeBetaToBf16RowsAvx512(const float* x, int64_t rows, int64_t in, int64_t width,
                               const SnakeBetaChannels& activation, uint16_t* out) {
  using Lanes = snake_simd::Avx512Lanes;
  const SnakeSlowSinFn slow_sin = SnakeSlowSin;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * in;
    uint16_t* o = out + r * width;
    for (int64_t i = 0; i < width; i += Lanes::kWidth) {
      const int64_t n = in - i;
      __m512 y;
      if (n >= Lanes::kWidth) {
        y = snake_simd::SnakeValue<Lanes, false, true>(xr + i, Lanes::TailMask(0), activation.alpha + i,
                                                        activation.inv_beta + i, slow_sin);
      } else if (n > 0) {
        y = snake_simd::SnakeValue<Lanes, true, true>(xr + i, Lanes::TailMask(n), activation.alpha + i,
                                                       activation.inv_beta + i, slow_sin);
      } else {
        y = _mm512_setzero_ps();
      }
      const __m256bh converted = _mm512_cvtneps_pbh(y);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i), reinterpret_cast<const __m256i&>(converted));
    }
  }
}

}  // namespace qwen3tts::nn
