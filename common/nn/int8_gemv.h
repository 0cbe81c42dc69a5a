// Int8 and int4 matrix-vector products for decoding steps.
//
// A decoding step multiplies one row per sequence by every weight matrix, so its cost is the bytes
// of weights streamed from memory: int8 weights (one scale per output row) stream a quarter of the
// bytes of float32. Converting each weight to float before its multiply made the kernel
// compute-bound at two thirds of memory bandwidth (16.6 of 34 GB/s, 8 GB/s for 4 rows), so the
// activations are quantized too, per block of 32 inputs (dynamic quantization, as llama.cpp's
// Q8 activations): each block's products are an exact integer dot product, and only the block sums
// are scaled and accumulated in float32. Prefills and batched steps multiply many rows by the same
// weights: the weights are packed so that one pass computes 16 outputs for up to 8 rows.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <vector>

namespace qwen3tts::nn {

// Symmetric per-output-row quantization of a float32 weight [out, in]:
// q = round(w / scale) in [-127, 127], scale = max|w_row| / 127 (1 for an all-zero row). The values
// are kept only in the kernels' packed layout (common/nn/int8_dot.h: tiles of 16 output rows,
// blocks of 32 inputs, padded with zeros).
struct Int8Weight {
  at::Tensor packed;  // uint8, the tiles
  at::Tensor scale;   // float32 [out]
  int64_t out = 0, in = 0;
};
Int8Weight QuantizeInt8(const at::Tensor& weight);
at::Tensor Int8Values(const Int8Weight& w);      // int8 [out, in], q
at::Tensor DequantizeInt8(const Int8Weight& w);  // float32 [out, in], q * scale

constexpr int64_t kInt8ActivationBlock = 32;

// 4-bit weights (int4): per output row and block of 32 inputs, q = round(w / s) in [-8, 7] with s
// fitted to the block (least squares for the rounding at a few candidate steps around
// max|w_block| / 7.5, the smallest squared error wins; 0 for an all-zero block) and rounded to
// bfloat16, so a block's scale is stored in 2 bytes and a weight costs 4.5 bits: 0.56x the bytes
// of int8. The fit cuts the first-step logits error on the golden models from 15.4 % (max / 7
// steps) to 11.7 %, for ~1.5 s more load time on the 0.6B talker. Why: one
// stream's decoding step is bound by memory bandwidth (the code predictor's 5 layers are read 15
// times per frame and do not fit the L3 cache). Activations are quantized as for int8, so the
// block products stay exact integers; only the scales differ.
//
// int4-g128: the same with blocks of 128 inputs, for weights and activations alike (4.25 bits per
// weight). Why: a batched step's products (8 sequences, prefills) are bound by instructions, not
// memory, and every block's integer sums must be converted and scaled; with 128-input blocks the
// AMX-INT8 tile unit adds a block's products for up to 16 rows in two instructions, and the
// vector epilogue runs once per 128 inputs instead of 4 times (int4_tiles_amx.cc). It costs
// accuracy: coarser scales for weights and activations (bench/RESULTS.md).
constexpr int64_t kInt4G128Block = 128;
struct Int4Weight {
  at::Tensor packed;  // uint8: per tile of 16 outputs and block of inputs, weights + scales (int8_dot.h)
  int64_t out = 0, in = 0;
  int64_t block_inputs = kInt8ActivationBlock;  // 32 or kInt4G128Block
};
// block_inputs: 32 (int4) or kInt4G128Block (int4-g128).
Int4Weight QuantizeInt4(const at::Tensor& weight, int64_t block_inputs = kInt8ActivationBlock);
at::Tensor Int4Values(const Int4Weight& w);      // int8 [out, in], q
at::Tensor Int4Scales(const Int4Weight& w);      // float32 [out, blocks], s
at::Tensor DequantizeInt4(const Int4Weight& w);  // float32 [out, in], q * s of the weight's block

// Which kernel runs. Every kernel returns the same bits (the integer parts are exact and the
// float order is fixed, common/nn/int8_dot.h); kAuto picks the fastest the CPU has, and so does a
// kernel the CPU lacks.
// kAmx is the AVX-512 VNNI kernel plus AMX-INT8 tiles for int4-g128 products of several rows (the
// formats and row counts the tiles do not pay for take the VNNI kernel); available where the CPU
// has AMX-INT8 and the operating system lets the process use it (QWEN3TTS_AMX=0 turns it off).
enum class Int8Kernel { kAuto, kScalar, kAvx2, kAvx512Vnni, kAmx };
bool Int8KernelAvailable(Int8Kernel kernel);

// y[r, :] = x[r, :] W^T for the rows of x ([rows, in] float32, contiguous) -> [rows, out] float32,
// with x quantized per block of kInt8ActivationBlock inputs (int4-g128: kInt4G128Block):
// q = round(x * 127 / max|x_block|).
// A row's quantization and accumulation order do not depend on the other rows, so its result does
// not depend on what it is batched with.
at::Tensor Int8Gemv(const Int8Weight& w, const at::Tensor& x, Int8Kernel kernel = Int8Kernel::kAuto);
// The same for int4 weights: activations quantized the same way, and every kernel the same bits.
at::Tensor Int4Gemv(const Int4Weight& w, const at::Tensor& x, Int8Kernel kernel = Int8Kernel::kAuto);

// Activation rows quantized as Int8Gemv quantizes them, for callers that assemble their rows from
// already-quantized pieces: a convolution quantizes each input step once, and its rows (unfolded
// input) reuse the quantized steps, copied or read in place (Int8RowsView below). Quantizing the
// unfolded rows would do that work `kernel` times, as much as the products themselves for narrow
// layers.
struct Int8Rows {
  std::vector<int8_t> q;            // rows x (blocks * block_inputs), zero past the input width
  std::vector<float> scale;         // rows x blocks
  std::vector<int32_t> correction;  // rows x blocks: -zero_point * the block's sum of q
  int64_t rows = 0, blocks = 0;
  int32_t zero_point = 128;         // what the packed weights add to each weight: int8 128, int4 8
  int64_t block_inputs = kInt8ActivationBlock;  // int4-g128: kInt4G128Block
};
void QuantizeInt8Rows(const float* x, int64_t rows, int64_t in, Int8Rows* out);
// y [x.rows, out] = the int8 product of the quantized rows (x.blocks must cover w.in exactly).
void Int8GemvRowsInto(const Int8Weight& w, const Int8Rows& x, float* y, Int8Kernel kernel = Int8Kernel::kAuto);
// The same for int4 weights: rows quantized once (the same q and scales as for int8, the int4
// correction) feed several products, as the layers of a transformer block that share an input
// (q, k and v; gate and up) do. Int4GemvInto is QuantizeInt4Rows + Int4GemvRowsInto. block_inputs:
// the weights' (Int4Weight::block_inputs).
void QuantizeInt4Rows(const float* x, int64_t rows, int64_t in, Int8Rows* out,
                      int64_t block_inputs = kInt8ActivationBlock);
void Int4GemvRowsInto(const Int4Weight& w, const Int8Rows& x, float* y, Int8Kernel kernel = Int8Kernel::kAuto);

// Quantized rows read in place: row r's blocks * 32 bytes start at q + r * q_stride, its scales
// and corrections at scale + r * block_stride and correction + r * block_stride. Rows may overlap,
// so a convolution's rows (each output step's receptive field, `taps` consecutive input steps) are
// windows of its quantized steps, with no unfolded copy: q_stride is one step's bytes and blocks
// is taps times a step's blocks.
struct Int8RowsView {
  const int8_t* q;
  const float* scale;
  const int32_t* correction;
  int64_t rows, blocks, q_stride, block_stride;
};
// y rows ldy apart: y[r * ldy + o] for o < w.out.
void Int8GemvRowsViewInto(const Int8Weight& w, const Int8RowsView& x, float* y, int64_t ldy,
                          Int8Kernel kernel = Int8Kernel::kAuto);

// The same product on raw float32 rows: x [rows, in] and y [rows, out] contiguous (the transformer's
// decoding step keeps its own buffers and allocates nothing).
void Int8GemvInto(const Int8Weight& w, const float* x, int64_t rows, float* y, Int8Kernel kernel = Int8Kernel::kAuto);
void Int4GemvInto(const Int4Weight& w, const float* x, int64_t rows, float* y, Int8Kernel kernel = Int8Kernel::kAuto);

}  // namespace qwen3tts::nn
