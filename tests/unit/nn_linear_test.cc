// Linear layers as decoding steps use them: the float32 few-rows kernel and the int8 and int4
// kernels (quantized weights, activations quantized per block of 32), against at::linear as the
// definition.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "common/nn/float_gemv.h"
#include "common/nn/int8_gemv.h"
#include "common/nn/transformer.h"

namespace qwen3tts::nn {
namespace {

at::Tensor RandomWeight(int64_t out, int64_t in, int64_t seed) {
  at::manual_seed(seed);
  at::Tensor w = at::randn({out, in}) * 0.05;
  w[0].zero_();  // an all-zero row must not divide by zero
  return w;
}

TEST(Int8Weights, QuantizationErrorIsAtMostHalfAStepPerRow) {
  at::Tensor w = RandomWeight(37, 203, 1);
  Int8Weight q = QuantizeInt8(w);
  ASSERT_EQ(Int8Values(q).scalar_type(), at::kChar);
  EXPECT_LE(Int8Values(q).abs().max().item<int>(), 127);
  EXPECT_TRUE(at::equal(Int8Values(q).to(at::kFloat) * q.scale.unsqueeze(1), DequantizeInt8(q)));
  at::Tensor error = (DequantizeInt8(q) - w).abs();
  at::Tensor half_step = q.scale.unsqueeze(1) / 2 + 1e-7;
  EXPECT_TRUE(error.le(half_step).all().item<bool>());
  EXPECT_EQ(DequantizeInt8(q)[0].abs().max().item<float>(), 0.0f);
}

// Per block of 32: levels -8..7, a bfloat16 scale fitted to the block (least squares over a few
// candidate steps), so the block's squared error is no larger than plain max/7 rounding's (up to
// the scale's bfloat16 rounding) and smaller overall.
TEST(Int4Weights, FittedBlockScalesBeatMaxScaledRounding) {
  at::Tensor w = RandomWeight(37, 203, 2);
  w[5].narrow(0, 32, 32).mul_(50);  // one block with large weights: only its own scale grows
  Int4Weight q = QuantizeInt4(w);
  at::Tensor values = Int4Values(q), scales = Int4Scales(q);
  ASSERT_EQ(values.scalar_type(), at::kChar);
  EXPECT_LE(values.max().item<int>(), 7);
  EXPECT_GE(values.min().item<int>(), -8);
  ASSERT_EQ(scales.sizes(), (std::vector<int64_t>{37, 7}));  // blocks of 32: 203 -> 7
  EXPECT_TRUE(at::equal(scales, scales.to(at::kBFloat16).to(at::kFloat)));  // stored as bfloat16
  at::Tensor per_input = scales.repeat_interleave(32, 1).narrow(1, 0, 203);
  EXPECT_TRUE(at::equal(values.to(at::kFloat) * per_input, DequantizeInt4(q)));
  EXPECT_GT(scales[5][1].item<float>(), 10 * scales[5][0].item<float>());
  EXPECT_EQ(DequantizeInt4(q)[0].abs().max().item<float>(), 0.0f);

  // Plain rounding with step max|w_block| / 7 (bfloat16), as the definition to beat.
  at::Tensor padded = at::zeros({37, 7 * 32});
  padded.narrow(1, 0, 203).copy_(w);
  at::Tensor blocks = padded.view({37, 7, 32});
  at::Tensor plain_step = (std::get<0>(blocks.abs().max(2, true)) / 7).to(at::kBFloat16).to(at::kFloat);
  at::Tensor plain = at::where(plain_step > 0, at::clamp(at::round(blocks / plain_step), -7, 7) * plain_step,
                               at::zeros_like(blocks));
  at::Tensor plain_error = (plain - blocks).pow(2).sum(2);
  at::Tensor fitted = at::zeros({37, 7 * 32});
  fitted.narrow(1, 0, 203).copy_(DequantizeInt4(q));
  at::Tensor fitted_error = (fitted.view({37, 7, 32}) - blocks).pow(2).sum(2);
  EXPECT_TRUE(fitted_error.le(plain_error * 1.05 + 1e-12).all().item<bool>());
  EXPECT_LT(fitted_error.sum().item<float>(), 0.9 * plain_error.sum().item<float>());
}

// The activation quantization the int8 and int4 kernels apply: per block of `block` inputs (32;
// int4-g128: 128), q = round(x * 127 / max|x_block|), written with tensor ops as the definition the
// kernels are checked against.
at::Tensor QuantizedActivations(const at::Tensor& x, at::Tensor* step, int64_t block = 32) {
  const int64_t rows = x.size(0), in = x.size(1), blocks = (in + block - 1) / block;
  at::Tensor padded = at::zeros({rows, blocks * block});
  padded.narrow(1, 0, in).copy_(x);
  at::Tensor max_abs = std::get<0>(padded.view({rows, blocks, block}).abs().max(/*dim=*/2, /*keepdim=*/true));
  at::Tensor q =
      at::round(padded.view({rows, blocks, block}) * at::where(max_abs > 0, 127.0 / max_abs, at::zeros_like(max_abs)));
  *step = (max_abs / 127.0).expand({rows, blocks, block}).reshape({rows, blocks * block}).narrow(1, 0, in);
  return (q * (max_abs / 127.0)).view({rows, blocks * block}).narrow(1, 0, in);
}

// QuantizeInt8Rows (blocks of 32, correction -128 x the block's sum of q) and QuantizeInt4Rows
// (blocks of 32 or 128, correction -8 x the sum) against the definition, field by field: q, the
// block scales and the corrections, for widths with only full blocks, a partial last block and
// fewer inputs than one block (the padding must be zeros).
TEST(Int8Activations, QuantizedRowsMatchTheDefinitionForEveryWidth) {
  struct Case {
    int64_t block;
    int32_t zero_point;
  };
  for (const Case c : {Case{32, 128}, Case{32, 8}, Case{128, 8}}) {
    Int8Rows rows;
    for (int64_t in : {1, 5, 31, 32, 33, 64, 95, 96, 100, 127, 128, 129, 300}) {
      at::manual_seed(in);
      at::Tensor x = at::randn({3, in});
      x[1][in - 1] = -9;  // a block whose largest magnitude is negative
      if (c.zero_point == 128) {
        QuantizeInt8Rows(x.data_ptr<float>(), 3, in, &rows);
      } else {
        QuantizeInt4Rows(x.data_ptr<float>(), 3, in, &rows, c.block);
      }
      const int64_t block = c.block, blocks = (in + block - 1) / block;
      ASSERT_EQ(rows.rows, 3);
      ASSERT_EQ(rows.blocks, blocks);
      ASSERT_EQ(rows.block_inputs, block);
      ASSERT_EQ(rows.zero_point, c.zero_point);
      at::Tensor padded = at::zeros({3, blocks * block});
      padded.narrow(1, 0, in).copy_(x);
      at::Tensor by_block = padded.view({3, blocks, block});
      at::Tensor max_abs = std::get<0>(by_block.abs().max(/*dim=*/2));
      at::Tensor q = at::round(by_block * (127.0 / max_abs).unsqueeze(2)).to(at::kChar).view({3, blocks * block});
      at::Tensor got_q = at::from_blob(rows.q.data(), {3, blocks * block}, at::kChar);
      EXPECT_TRUE(at::equal(got_q, q)) << "block " << block << " in " << in;
      at::Tensor got_scale = at::from_blob(rows.scale.data(), {3, blocks}, at::kFloat);
      EXPECT_TRUE(at::equal(got_scale, max_abs / 127.0f)) << "block " << block << " in " << in;
      at::Tensor got_correction = at::from_blob(rows.correction.data(), {3, blocks}, at::kInt);
      EXPECT_TRUE(at::equal(got_correction,
                            (q.view({3, blocks, block}).to(at::kInt).sum(2) * -c.zero_point).to(at::kInt)))
          << "block " << block << " in " << in;
    }
  }
}

// int4-g128: one fitted bfloat16 scale per 128 inputs (a partial last block zero-padded), the same
// levels and the same dequantization rule as int4.
TEST(Int4Weights, G128KeepsOneScalePer128Inputs) {
  at::Tensor w = RandomWeight(37, 300, 3);
  w[5].narrow(0, 128, 128).mul_(50);  // one block with large weights: only its own scale grows
  Int4Weight q = QuantizeInt4(w, kInt4G128Block);
  EXPECT_EQ(q.block_inputs, kInt4G128Block);
  at::Tensor values = Int4Values(q), scales = Int4Scales(q);
  EXPECT_LE(values.max().item<int>(), 7);
  EXPECT_GE(values.min().item<int>(), -8);
  ASSERT_EQ(scales.sizes(), (std::vector<int64_t>{37, 3}));  // 300 -> 3 blocks
  EXPECT_TRUE(at::equal(scales, scales.to(at::kBFloat16).to(at::kFloat)));
  at::Tensor per_input = scales.repeat_interleave(128, 1).narrow(1, 0, 300);
  EXPECT_TRUE(at::equal(values.to(at::kFloat) * per_input, DequantizeInt4(q)));
  EXPECT_GT(scales[5][1].item<float>(), 10 * scales[5][0].item<float>());
  EXPECT_EQ(DequantizeInt4(q)[0].abs().max().item<float>(), 0.0f);
  // Fitted: within half a step of every weight but the clipped extremes, i.e. the error of
  // rounding to the block's levels, on average well under the step.
  at::Tensor error = (DequantizeInt4(q) - w).abs();
  EXPECT_LT(error.mean().item<float>(), 0.5 * per_input.mean().item<float>());
  // 4.25 bits per weight: (out rounded up to 16) x blocks x (64 x 16 bytes of nibbles + 32 of scales).
  EXPECT_EQ(q.packed.numel(), 48 * 3 * (1024 + 32) / 16);
  EXPECT_THROW(QuantizeInt4(w, 64), c10::Error);
}

// Blocks so small that 127 / max|x| overflows float32 (below ~3.7e-37) count as zeros: with a zero
// among them the overflowed inverse made 0 x inf = NaN, whose integer conversion put INT_MIN into the
// block's correction and garbage into every output of the row.
TEST(Int8Activations, VanishinglySmallBlocksGiveZeroNotGarbage) {
  at::Tensor w = RandomWeight(20, 64, 11);
  Int8Weight q = QuantizeInt8(w);
  at::Tensor x = at::randn({2, 64});
  x[0].narrow(0, 0, 32).fill_(1e-38f);
  x[0][7] = 0;
  Int8Rows rows;
  QuantizeInt8Rows(x.data_ptr<float>(), 2, 64, &rows);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(rows.q[i], 0) << i;
  EXPECT_EQ(rows.correction[0], 0);
  EXPECT_TRUE(std::isfinite(rows.scale[0]));
  at::Tensor y = Int8Gemv(q, x);
  at::Tensor second_block_only = x.clone();
  second_block_only[0].narrow(0, 0, 32).zero_();
  EXPECT_TRUE(at::allclose(y, Int8Gemv(q, second_block_only), 0, 1e-30));
  // The other row is untouched by its neighbour's tiny block.
  EXPECT_TRUE(at::equal(y[1], Int8Gemv(q, x.narrow(0, 1, 1))[0]));
}

// The two weight formats behind the same kernels' contract (int8_gemv.h).
struct Int8Format {
  static constexpr int64_t kBlock = 32;
  static Int8Weight Quantize(const at::Tensor& w) { return QuantizeInt8(w); }
  static at::Tensor Dequantize(const Int8Weight& w) { return DequantizeInt8(w); }
  static at::Tensor Gemv(const Int8Weight& w, const at::Tensor& x, Int8Kernel k = Int8Kernel::kAuto) {
    return Int8Gemv(w, x, k);
  }
};
template <int64_t kBlockInputs>
struct Int4Format {
  static constexpr int64_t kBlock = kBlockInputs;
  static Int4Weight Quantize(const at::Tensor& w) { return QuantizeInt4(w, kBlockInputs); }
  static at::Tensor Dequantize(const Int4Weight& w) { return DequantizeInt4(w); }
  static at::Tensor Gemv(const Int4Weight& w, const at::Tensor& x, Int8Kernel k = Int8Kernel::kAuto) {
    return Int4Gemv(w, x, k);
  }
};

template <typename Format>
class QuantizedWeights : public ::testing::Test {};
using Formats = ::testing::Types<Int8Format, Int4Format<32>, Int4Format<kInt4G128Block>>;
struct FormatNames {  // test names: QuantizedWeights/int8.*, QuantizedWeights/int4.*, QuantizedWeights/int4_g128.*
  template <typename Format>
  static std::string GetName(int) {
    return std::is_same_v<Format, Int8Format> ? "int8" : Format::kBlock == 32 ? "int4" : "int4_g128";
  }
};
TYPED_TEST_SUITE(QuantizedWeights, Formats, FormatNames);

// Input widths with full blocks only, a partial last block, fewer inputs than a block, odd block
// counts; row counts on both sides of the kernels' 4- and 8-row passes; 67 outputs (a partial tile).
TYPED_TEST(QuantizedWeights, GemvIsTheExactProductOfTheQuantizedOperandsAndRowsAreIndependent) {
  for (int64_t in : {8, 203, 256, 1000, 1024}) {
    auto q = TypeParam::Quantize(RandomWeight(67, in, in));
    at::Tensor dense = TypeParam::Dequantize(q).to(at::kDouble);
    for (int64_t rows : {1, 2, 3, 4, 5, 9, 19}) {
      at::Tensor x = at::randn({rows, in});
      x[0][in / 2] = 40;  // an outlier only costs its own block precision
      at::Tensor y = TypeParam::Gemv(q, x);
      at::Tensor step;
      at::Tensor xq = QuantizedActivations(x, &step, TypeParam::kBlock).to(at::kDouble);
      at::Tensor expected = at::linear(xq, dense);
      // Float rounding only: the block sums are exact integers scaled once each.
      EXPECT_TRUE(at::allclose(y.to(at::kDouble), expected, 1e-5, 1e-4))
          << "in " << in << " rows " << rows << " max diff " << (y - expected).abs().max().item<double>();
      // Against the unquantized activations the error is bounded by half a step per input.
      at::Tensor bound = at::linear(step.to(at::kDouble) / 2, dense.abs()) + 1e-4;
      at::Tensor to_float_input = (y.to(at::kDouble) - at::linear(x.to(at::kDouble), dense)).abs();
      EXPECT_TRUE(to_float_input.le(bound).all().item<bool>()) << "in " << in << " rows " << rows;
      // Each row alone gives exactly what it gave in the batch: batched decoding = solo decoding.
      for (int64_t r = 0; r < rows; ++r) {
        EXPECT_TRUE(at::equal(TypeParam::Gemv(q, x.narrow(0, r, 1)), y.narrow(0, r, 1))) << "in " << in << " row " << r;
      }
    }
  }
}

// The scalar, AVX2, AVX-512 VNNI and AMX kernels give the same bits, so results do not depend on
// the CPU.
TYPED_TEST(QuantizedWeights, EveryKernelTheCpuHasGivesTheSameBits) {
  // Widths: a partial block, whole blocks, both. Rows: one (its own kernels) and counts beyond each
  // kernel's rows per pass (AVX2 4; AVX-512 int8 4, int4 6, 8 for streaming; AMX 16, more in
  // passes of equal rows, the last shifted back), with every remainder. Outputs: 70 is five tiles
  // of 16, the last partial (AVX-512 int8: a group of 3, then 2; int4: 2, 2, 1); 200 is 13 tiles,
  // whole groups and a single tile.
  for (int64_t out : {70, 200}) {
    for (int64_t in : {8, 96, 203, 1024}) {
      auto q = TypeParam::Quantize(RandomWeight(out, in, in + out));
      for (int64_t rows : {1, 2, 3, 5, 6, 8, 9, 16, 17, 35}) {
        at::Tensor x = at::randn({rows, in});
        at::Tensor scalar = TypeParam::Gemv(q, x, Int8Kernel::kScalar);
        EXPECT_TRUE(at::equal(TypeParam::Gemv(q, x, Int8Kernel::kAuto), scalar)) << in << " " << rows;
        for (Int8Kernel k : {Int8Kernel::kAvx2, Int8Kernel::kAvx512Vnni, Int8Kernel::kAmx}) {
          if (!Int8KernelAvailable(k)) continue;
          EXPECT_TRUE(at::equal(TypeParam::Gemv(q, x, k), scalar))
              << "kernel " << static_cast<int>(k) << " out " << out << " in " << in << " rows " << rows;
        }
      }
    }
  }
}

// A convolution's rows read in place (overlapping windows of quantized steps, nn::Int8RowsView)
// give the bits of the same rows copied out, on every kernel, and outputs ldy apart leave the
// columns between them alone. 40 channels: each step's last block is zero-padded, as in the copy.
TEST(Int8RowsView, OverlappingWindowsEqualTheRowsCopiedOut) {
  constexpr int64_t kOut = 70, kLdy = 2 * kOut;
  for (int64_t channels : {32, 40, 96}) {
    for (int64_t taps : {1, 3, 7}) {
      for (int64_t rows : {1, 5, 9, 17}) {
        const int64_t steps = rows + taps - 1;
        Int8Rows per_step;
        QuantizeInt8Rows(at::randn({steps, channels}).data_ptr<float>(), steps, channels, &per_step);
        const int64_t blocks = per_step.blocks, width = blocks * kInt8ActivationBlock;
        Int8Rows copied;
        copied.rows = rows;
        copied.blocks = taps * blocks;
        for (int64_t r = 0; r < rows; ++r) {
          copied.q.insert(copied.q.end(), per_step.q.begin() + r * width, per_step.q.begin() + (r + taps) * width);
          copied.scale.insert(copied.scale.end(), per_step.scale.begin() + r * blocks,
                              per_step.scale.begin() + (r + taps) * blocks);
          copied.correction.insert(copied.correction.end(), per_step.correction.begin() + r * blocks,
                                   per_step.correction.begin() + (r + taps) * blocks);
        }
        const Int8Weight w = QuantizeInt8(RandomWeight(kOut, taps * width, channels + taps));
        at::Tensor expected = at::empty({rows, kOut});
        Int8GemvRowsInto(w, copied, expected.data_ptr<float>(), Int8Kernel::kScalar);
        const Int8RowsView windows{per_step.q.data(), per_step.scale.data(), per_step.correction.data(),
                                   rows,              taps * blocks,         width,
                                   blocks};
        for (Int8Kernel k : {Int8Kernel::kScalar, Int8Kernel::kAvx2, Int8Kernel::kAvx512Vnni}) {
          if (!Int8KernelAvailable(k)) continue;
          at::Tensor y = at::full({rows, kLdy}, std::numeric_limits<float>::quiet_NaN());
          Int8GemvRowsViewInto(w, windows, y.data_ptr<float>(), kLdy, k);
          EXPECT_TRUE(at::equal(y.narrow(1, 0, kOut), expected))
              << "kernel " << static_cast<int>(k) << " channels " << channels << " taps " << taps << " rows " << rows;
          EXPECT_TRUE(y.narrow(1, kOut, kOut).isnan().all().item<bool>());
        }
      }
    }
  }
}

TYPED_TEST(QuantizedWeights, NonFiniteActivationsGiveNanOutputsNotGarbage) {
  auto q = TypeParam::Quantize(RandomWeight(16, 64, 5));
  at::Tensor x = at::randn({2, 64});
  x[0][3] = std::numeric_limits<float>::quiet_NaN();
  x[1][40] = std::numeric_limits<float>::infinity();
  at::Tensor y = TypeParam::Gemv(q, x);
  EXPECT_TRUE(y.isnan().all().item<bool>());
}

TEST(LinearLayer, Float32DecodingPathMatchesAtLinear) {
  at::Tensor w = RandomWeight(96, 130, 3);
  at::Tensor b = at::randn({96});
  Linear linear(w, b);
  const int64_t max_rows = FloatGemvMaxRows();
  for (int64_t rows : std::vector<int64_t>{1, 3, 16, max_rows, max_rows + 1, max_rows + 8}) {  // FloatGemv, then GEMM
    at::Tensor x = at::randn({rows, 130});
    EXPECT_TRUE(at::allclose(linear(x), at::linear(x, w, b), 1e-5, 1e-5)) << rows;
  }
  at::Tensor x3 = at::randn({2, 3, 130});  // leading dimensions are kept
  EXPECT_EQ(linear(x3).sizes(), (std::vector<int64_t>{2, 3, 96}));
  EXPECT_TRUE(at::allclose(linear(x3), at::linear(x3, w, b), 1e-5, 1e-5));
  EXPECT_EQ(linear.bytes(), (96 * 130 + 96) * 4);
}

TEST(LinearLayer, Int8QuantizedLayerIsCloseToFloat32AndQuarterTheBytes) {
  at::Tensor w = RandomWeight(96, 130, 4);
  at::Tensor b = at::randn({96});
  Linear linear(w, b);
  linear.QuantizeInt8();
  // int8 weights packed in blocks of 32 inputs (130 -> 160), float scales, float bias
  EXPECT_EQ(linear.bytes(), 96 * 160 + 96 * 4 + 96 * 4);
  EXPECT_EQ(linear.out_features(), 96);
  Int8Weight q = QuantizeInt8(w);
  for (int64_t rows : {1, 5, 16, 17, 40}) {  // the int8 kernel for any number of rows
    at::Tensor x = at::randn({rows, 130});
    EXPECT_TRUE(at::equal(linear(x), Int8Gemv(q, x) + b)) << rows;
    // The quantization error itself stays small relative to the float32 layer.
    at::Tensor exact = at::linear(x, w, b);
    EXPECT_LT(((linear(x) - exact).norm() / exact.norm()).item<float>(), 0.02) << rows;
  }
}

TEST(LinearLayer, Int4QuantizedLayerIsCloseToFloat32AndUnderAFifthOfTheBytes) {
  at::Tensor w = RandomWeight(96, 130, 5);
  at::Tensor b = at::randn({96});
  Linear linear(w, b);
  linear.Quantize(LinearQuantization::kInt4);
  // 6 tiles of 16 outputs x 5 blocks of 32 inputs x 288 bytes (scales inside), float bias
  EXPECT_EQ(linear.bytes(), 6 * 5 * 288 + 96 * 4);
  EXPECT_EQ(linear.out_features(), 96);
  Int4Weight q = QuantizeInt4(w);
  for (int64_t rows : {1, 5, 17, 40}) {
    at::Tensor x = at::randn({rows, 130});
    EXPECT_TRUE(at::equal(linear(x), Int4Gemv(q, x) + b)) << rows;
    at::Tensor exact = at::linear(x, w, b);
    EXPECT_LT(((linear(x) - exact).norm() / exact.norm()).item<float>(), 0.15) << rows;
    at::Tensor into = at::empty({rows, 96});
    linear.Into(x.data_ptr<float>(), rows, into.data_ptr<float>());
    EXPECT_TRUE(at::equal(into, linear(x))) << rows;
  }
}

// Layers sharing an input (a block's q, k and v): IntoEach gives each output the bits of the layer's
// own Into, whether the input is quantized once for all (every layer int8, or every one int4) or
// each layer takes its own path (float32, or formats mixed); biases included.
TEST(LinearLayer, IntoEachGivesEveryLayerItsOwnIntoBits) {
  const std::vector<LinearQuantization> formats = {LinearQuantization::kNone, LinearQuantization::kInt8,
                                                   LinearQuantization::kInt4};
  for (LinearQuantization first : formats) {
    for (LinearQuantization second : formats) {
      Linear a(RandomWeight(70, 130, 21), at::randn({70}));
      Linear b(RandomWeight(40, 130, 22), at::Tensor());
      Linear c(RandomWeight(96, 130, 23), at::randn({96}));
      a.Quantize(first);
      b.Quantize(first);
      c.Quantize(second);
      for (int64_t rows : {1, 3, 9}) {
        at::Tensor x = at::randn({rows, 130});
        at::Tensor ya = at::empty({rows, 70}), yb = at::empty({rows, 40}), yc = at::empty({rows, 96});
        Linear::IntoEach(x.data_ptr<float>(), rows,
                         {{&a, ya.data_ptr<float>()}, {&b, yb.data_ptr<float>()}, {&c, yc.data_ptr<float>()}});
        for (auto [layer, y] : {std::pair{&a, ya}, std::pair{&b, yb}, std::pair{&c, yc}}) {
          at::Tensor own = at::empty_like(y);
          layer->Into(x.data_ptr<float>(), rows, own.data_ptr<float>());
          EXPECT_TRUE(at::equal(y, own)) << static_cast<int>(first) << " " << static_cast<int>(second) << " rows "
                                         << rows;
        }
      }
    }
  }
}

// bfloat16 weights: float32 arithmetic on the exactly widened weights, half the bytes. A few rows
// take the row kernel, more the GEMM of the widened weight; the float32 bias stays float32.
TEST(LinearLayer, BFloat16LayerComputesTheWidenedWeightsInFloat32AndHalvesTheBytes) {
  at::Tensor w = RandomWeight(96, 130, 8);
  at::Tensor b = at::randn({96});
  Linear linear(w, b);
  linear.Quantize(LinearQuantization::kBFloat16);
  EXPECT_EQ(linear.bytes(), 96 * 130 * 2 + 96 * 4);
  EXPECT_EQ(linear.out_features(), 96);
  const at::Tensor widened = w.to(at::kBFloat16).to(at::kFloat);
  const int64_t max_rows = FloatGemvMaxRows();
  for (int64_t rows : std::vector<int64_t>{1, 3, max_rows, max_rows + 1, max_rows + 8}) {
    EXPECT_TRUE(linear.TakesRows(rows) == (rows <= max_rows)) << rows;
    at::Tensor x = at::randn({rows, 130});
    at::Tensor y = linear(x);
    ASSERT_EQ(y.scalar_type(), at::kFloat);
    if (rows <= max_rows) {
      EXPECT_TRUE(at::equal(y, FloatGemv(widened, x) + b)) << rows;
    } else {
      EXPECT_TRUE(at::allclose(y, at::linear(x, widened, b), 1e-5, 1e-5)) << rows;
    }
    at::Tensor into = at::empty({rows, 96});
    linear.Into(x.data_ptr<float>(), rows, into.data_ptr<float>());
    EXPECT_TRUE(at::equal(into, y)) << rows;
  }
}

// kBFloat16WhereExact: a weight whose every value is a bfloat16 (a bfloat16 checkpoint widened at
// load) is kept in bfloat16 with the float32 layer's exact results; any other weight stays float32.
TEST(LinearLayer, BFloat16WhereExactHalvesOnlyWeightsThatLoseNothing) {
  at::Tensor b = at::randn({96});
  at::Tensor exact_w = RandomWeight(96, 130, 9).to(at::kBFloat16).to(at::kFloat);
  Linear as_float32(exact_w, b), kept(exact_w, b);
  kept.Quantize(LinearQuantization::kBFloat16WhereExact);
  EXPECT_EQ(kept.bytes(), 96 * 130 * 2 + 96 * 4);
  for (int64_t rows : std::vector<int64_t>{1, 5, FloatGemvMaxRows(), FloatGemvMaxRows() + 8}) {
    at::Tensor x = at::randn({rows, 130});
    EXPECT_TRUE(at::equal(kept(x), as_float32(x))) << rows;
  }
  at::Tensor inexact_w = RandomWeight(96, 130, 10);
  ASSERT_FALSE(at::equal(inexact_w.to(at::kBFloat16).to(at::kFloat), inexact_w));
  Linear unchanged(inexact_w, b);
  unchanged.Quantize(LinearQuantization::kBFloat16WhereExact);
  EXPECT_EQ(unchanged.bytes(), (96 * 130 + 96) * 4);
  at::Tensor x = at::randn({3, 130});
  EXPECT_TRUE(at::equal(unchanged(x), Linear(inexact_w, b)(x)));
}

// The bfloat16 row kernels give exactly the float32 kernels' bits for the widened matrix, on every
// kernel the CPU has, for widths with and without a partial last group of 8.
TEST(FloatGemv, BFloat16WeightsGiveTheBitsOfTheWidenedFloat32Weights) {
  for (int64_t in : {3, 13, 64, 203, 1024}) {
    at::Tensor w16 = RandomWeight(23, in, 30 + in).to(at::kBFloat16);
    at::Tensor widened = w16.to(at::kFloat);
    for (int64_t rows : {1, 4, 6, 9, 17}) {
      at::Tensor x = at::randn({rows, in});
      at::Tensor expected = FloatGemv(widened, x, FloatKernel::kScalar);
      EXPECT_TRUE(at::equal(FloatGemv(w16, x, FloatKernel::kScalar), expected)) << in << " " << rows;
      EXPECT_TRUE(at::equal(FloatGemv(w16, x, FloatKernel::kAuto), expected)) << in << " " << rows;
      for (FloatKernel k : {FloatKernel::kAvx2, FloatKernel::kAvx512}) {
        if (!FloatKernelAvailable(k)) continue;
        EXPECT_TRUE(at::equal(FloatGemv(w16, x, k), expected)) << in << " " << rows << " kernel " << static_cast<int>(k);
      }
      at::Tensor into = at::empty({rows, 23});
      Bf16GemvInto(w16.data_ptr<c10::BFloat16>(), 23, in, x.data_ptr<float>(), rows, into.data_ptr<float>(),
                   FloatKernel::kAuto, /*threads=*/2);
      EXPECT_TRUE(at::equal(into, expected)) << in << " " << rows;
    }
  }
}

// Widths with whole groups of 8 inputs, a partial last group, fewer inputs than a group; output
// counts on both sides of the kernel's 4 outputs per pass; rows on both sides of its 4 rows.
TEST(FloatGemv, MatchesTheProductInDoubleAndRowsAreIndependent) {
  for (int64_t in : {3, 8, 203, 1024}) {
    at::Tensor w = RandomWeight(67, in, 10 + in);
    for (int64_t rows : {1, 2, 3, 4, 5, 9, 33}) {
      at::Tensor x = at::randn({rows, in});
      at::Tensor y = FloatGemv(w, x);
      ASSERT_EQ(y.sizes(), (std::vector<int64_t>{rows, 67}));
      at::Tensor exact = at::linear(x.to(at::kDouble), w.to(at::kDouble));
      // float32 accumulation over `in` products of magnitude ~0.05: rounding only.
      EXPECT_TRUE(at::allclose(y.to(at::kDouble), exact, 1e-5, 1e-5))
          << "in " << in << " rows " << rows << " max diff " << (y - exact).abs().max().item<double>();
      // A row alone gives exactly what it gave among others (batched decoding = solo decoding),
      // and an output row exactly what it gave in another split of the outputs.
      for (int64_t r = 0; r < rows; ++r) {
        EXPECT_TRUE(at::equal(FloatGemv(w, x.narrow(0, r, 1)), y.narrow(0, r, 1))) << "in " << in << " row " << r;
      }
      at::Tensor tail = w.narrow(0, 61, 6).contiguous();
      EXPECT_TRUE(at::equal(FloatGemv(tail, x), y.narrow(1, 61, 6))) << "in " << in << " rows " << rows;
    }
  }
}

// Strided rows (a convolution's overlapping windows of time-major input, read in place) give the
// same bits as the same rows copied out contiguously.
TEST(FloatGemv, StridedOverlappingRowsEqualTheRowsCopiedOut) {
  for (int64_t channels : {3, 8, 96}) {
    for (int64_t taps : {1, 2, 7}) {
      const int64_t width = taps * channels;
      at::Tensor w = RandomWeight(37, width, 5 * channels + taps);
      for (int64_t rows : {1, 4, 9}) {
        at::Tensor steps = at::randn({rows + taps - 1, channels});
        at::Tensor windows = steps.unfold(0, taps, 1).permute({0, 2, 1}).reshape({rows, width});  // copied out
        at::Tensor y = at::empty({rows, 37});
        FloatGemvStridedInto(w.data_ptr<float>(), 37, width, steps.data_ptr<float>(), channels, rows,
                             y.data_ptr<float>());
        EXPECT_TRUE(at::equal(y, FloatGemv(w, windows))) << channels << " " << taps << " " << rows;
      }
    }
  }
}

// The scalar, AVX2 and AVX-512 kernels give the same bits: one accumulation order on every CPU.
// Rows on both sides of each kernel's rows per pass (4, 8), outputs with a tail of 2.
TEST(FloatGemv, EveryKernelTheCpuHasGivesTheSameBits) {
  for (int64_t in : {5, 203, 1024}) {
    at::Tensor w = RandomWeight(70, in, in + 2);
    for (int64_t rows : {1, 4, 6, 8, 9, 17}) {
      at::Tensor x = at::randn({rows, in});
      at::Tensor scalar = FloatGemv(w, x, FloatKernel::kScalar);
      EXPECT_TRUE(at::equal(FloatGemv(w, x, FloatKernel::kAuto), scalar)) << in << " " << rows;
      for (FloatKernel k : {FloatKernel::kAvx2, FloatKernel::kAvx512}) {
        if (!FloatKernelAvailable(k)) continue;
        EXPECT_TRUE(at::equal(FloatGemv(w, x, k), scalar)) << in << " " << rows << " kernel " << static_cast<int>(k);
      }
    }
  }
}

TEST(FloatGemv, NonFiniteInputsPropagateAndEmptyShapesWork) {
  at::Tensor w = RandomWeight(9, 40, 6);
  at::Tensor x = at::randn({2, 40});
  x[0][7] = std::numeric_limits<float>::quiet_NaN();
  at::Tensor y = FloatGemv(w, x);
  EXPECT_TRUE(y[0].isnan().all().item<bool>());  // row 0 of w is zero, 0 * NaN is still NaN
  EXPECT_FALSE(y[1].isnan().any().item<bool>());
  EXPECT_EQ(FloatGemv(w, at::zeros({0, 40})).sizes(), (std::vector<int64_t>{0, 9}));
  EXPECT_THROW(FloatGemv(w, at::zeros({1, 41})), std::exception);  // width mismatch is a bug, caught
}

}  // namespace
}  // namespace qwen3tts::nn
