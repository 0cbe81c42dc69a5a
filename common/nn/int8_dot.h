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
  const int8_t* xq;   // rows of blocks * 32 bytes, ldq apart; zero past the input width
  const int32_t* xc;  // rows of blocks, ldb apart: -128 * the sum of the block's xq (undoes the weights' +128)
  const float* xs;    // rows of blocks, ldb apart: block scales
  int64_t rows;
  float* y;  // [rows, ldy]
  int64_t ldy;
  // Row strides of xq (bytes) and of xc and xs (elements). Rows may overlap: a convolution's
  // receptive fields are windows of its quantized steps (ldq = one step's bytes).
  int64_t ldq, ldb;
};

// Int4 weights (Int4Weight::packed): the same tiles of 16 outputs, and blocks of
// 32 * sub_blocks inputs that share one scale per output (sub_blocks 1: "int4", one scale per 32
// inputs; 4: "int4-g128", one per 128). Per tile and block, Int4BlockBytes(sub_blocks) bytes: for
// each 32 inputs of the block (a part), four 64-byte vectors, vector v holding the part's quad v in
// its bytes' low nibbles and quad v + 4 in their high nibbles (16 outputs x 4 weights, each stored
// as q + 8 in [0, 15]; a nibble past the last row or column is 8, weight 0), then the 16 outputs'
// block scales as bfloat16. Unpacking a vector is one AND for the low quads and a shift + AND for
// the high ones, and the quads stay in the int8 kernels' order. Activations are quantized per
// block of the same width (one scale, one correction per block). The integer dot products start at
// xc = -8 * the sum of the block's xq (undoing the + 8); for each block b in order
// acc = fma(float(dot_b), xs[r * ldb + b] * s_b(o), acc), and y[r * ldy + o] = acc.
constexpr int64_t kInt4PartBytes = 256;  // 32 inputs: 4 x 64 bytes of nibbles
constexpr int64_t kInt4ScaleBytes = 32;  // 16 bfloat16 scales
constexpr int64_t Int4BlockBytes(int64_t sub_blocks) { return sub_blocks * kInt4PartBytes + kInt4ScaleBytes; }
constexpr int64_t Int4ScaleOffset(int64_t sub_blocks) { return sub_blocks * kInt4PartBytes; }

struct Int4GemvProblem {
  const uint8_t* w;  // packed [tiles, blocks, Int4BlockBytes(sub_blocks)]
  int64_t out, blocks;
  int64_t sub_blocks;  // 32-input parts per block: 1 or 4
  const int8_t* xq;    // as Int8GemvProblem, blocks * 32 * sub_blocks bytes per row
  const int32_t* xc;   // as Int8GemvProblem, -8 * the sum of the block's xq
  const float* xs;
  int64_t rows;
  float* y;
  int64_t ldy;
  int64_t ldq, ldb;
};

// The first pass over a tile reads its weights from memory. With two or more activation rows the
// loop holds more address streams (each row's quads, corrections and scales) and the hardware
// prefetcher alone let the weight stream fall to about half the bandwidth one row gets (one
// thread, 48 MB of int8 weights, AVX-512: 1.75 ms for 1 row, 3.1-4.2 ms for 2, 1.7 ms with a
// software prefetch this far ahead). One row streams at full speed without it (prefetching 1-2 KB
// ahead slowed it down), and later passes over the same tile find it in cache: the int8 SIMD
// kernels and the AVX-512 int4 kernel prefetch in a tile's first pass of two or more rows, and the
// AVX-512 kernels' later passes (more than 8 rows: prefills) prefetch the next tile group's weights
// (int8_dot_avx512vnni.cc: ForEachPass). (The float32 row kernel, four weight rows per pass, only
// got slower with a prefetch.)
constexpr int64_t kInt8PrefetchBytes = 8192;

void Int8GemvTilesScalar(const Int8GemvProblem& p, int64_t tile_begin, int64_t tile_end);
void Int8GemvTilesAvx2(const Int8GemvProblem& p, int64_t tile_begin, int64_t tile_end);
void Int8GemvTilesAvx512Vnni(const Int8GemvProblem& p, int64_t tile_begin, int64_t tile_end);
void Int4GemvTilesScalar(const Int4GemvProblem& p, int64_t tile_begin, int64_t tile_end);
void Int4GemvTilesAvx2(const Int4GemvProblem& p, int64_t tile_begin, int64_t tile_end);
void Int4GemvTilesAvx512Vnni(const Int4GemvProblem& p, int64_t tile_begin, int64_t tile_end);
// AMX-INT8 tiles for int4-g128 products of kInt4AmxMinRows rows or more; anything else goes to the
// AVX-512 VNNI kernel (int4_tiles_amx.cc). Measured, one core, 3072x1024 and 1024x3072 on cached
// weights, tiles against VNNI (ms): 2 rows 0.039-0.044 against 0.046, 3 rows 0.041-0.046 against
// 0.050-0.052, 4 rows 0.043-0.049 against 0.057, 8 rows 0.053-0.059 against 0.084-0.097, 16 rows
// 0.072-0.095 against 0.160-0.194. Below 4 rows the talker's steps wait on weights from the
// last-level cache rather than on the products (a VNNI variant 1.2-1.3x faster at 2-3 rows left
// the talker's step times unchanged: bench/RESULTS.md), so the VNNI kernel keeps them.
constexpr int kInt4AmxMinRows = 4;
void Int4GemvTilesAmx(const Int4GemvProblem& p, int64_t tile_begin, int64_t tile_end);

}  // namespace qwen3tts::nn
