// Tile kernels behind Int8Gemv (int8_gemv.h), one per instruction set. Internal to common/nn.
//
// Packed weights (Int8Weight::packed): output rows in tiles of kInt8TileOutputs = 16, inputs in
// blocks of 32; for each tile and block kInt8TileBlockBytes = 512 bytes: for each quad k of the
// block (its inputs 4k..4k+3), the 16 outputs' four weights, each stored as w + 128. Outputs past
// the last row and inputs past the last column are weights 0 (bytes 128).
//
// Why this layout: the earlier row kernel dotted one weight row with one activation row and, as the
// activation scale changes every 32 inputs, converted and scaled each 32-input partial sum: six
// instructions per 32 multiply-adds and row, compute-bound at ~47 G MAC/s per core for prefills
// and batches. Here one VNNI instruction multiplies 16 outputs' quads by one broadcast activation
// quad (u8 x s8: hence w + 128), eight of them add a block's exact integer dot products for 16
// outputs, and one convert + one FMA scale them: 256 multiply-adds per 10 instructions.
//
// Every kernel computes, for output rows o < out of tiles [tile_begin, tile_end) and activation rows
// r < rows: y[r * ldy + o] = w_scale[o] * acc, where acc starts at +0 and for each block b in order
// acc = fma(float(dot_b), xs[r * blocks + b], acc), dot_b the exact integer dot product of weight row
// o's block b with xq's block b of row r. Same bits on every kernel and for any batch.
#pragma once

#include <cstdint>

namespace qwen3tts::nn {

constexpr int64_t kInt8TileOutputs = 16;
constexpr int64_t kInt8TileBlockBytes = 512;  // 8 quads x 16 outputs x 4 weights

struct Int8GemvProblem {
  const uint8_t* w;       // packed [tiles, blocks, 8, 16, 4], weights + 128
  const float* w_scale;   // [out]
  int64_t out, blocks;
  const int8_t* xq;   // [rows, blocks * 32], zero past the input width
  const int32_t* xc;  // [rows, blocks]: -128 * the sum of the block's xq (undoes the weights' +128)
  const float* xs;    // [rows, blocks] block scales
  int64_t rows;
  float* y;  // [rows, ldy]
  int64_t ldy;
};

void Int8GemvTilesScalar(const Int8GemvProblem& p, int64_t tile_begin, int64_t tile_end);
void Int8GemvTilesAvx2(const Int8GemvProblem& p, int64_t tile_begin, int64_t tile_end);
void Int8GemvTilesAvx512Vnni(const Int8GemvProblem& p, int64_t tile_begin, int64_t tile_end);

}  // namespace qwen3tts::nn
