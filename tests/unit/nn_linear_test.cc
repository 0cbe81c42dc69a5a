// Linear layers as decoding steps use them: the float32 matrix-vector path and the int8
// weight-only kernel, against at::linear as the definition.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

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
  ASSERT_EQ(q.q.scalar_type(), at::kChar);
  EXPECT_LE(q.q.abs().max().item<int>(), 127);
  at::Tensor error = (DequantizeInt8(q) - w).abs();
  at::Tensor half_step = q.scale.unsqueeze(1) / 2 + 1e-7;
  EXPECT_TRUE(error.le(half_step).all().item<bool>());
  EXPECT_EQ(DequantizeInt8(q)[0].abs().max().item<float>(), 0.0f);
}

// Input widths that exercise the unrolled loop, the 8-wide tail and the scalar tail; row counts on
// both sides of the kernel's 4-row pass.
TEST(Int8Weights, GemvMatchesTheDequantizedProductAndRowsAreIndependent) {
  for (int64_t in : {8, 203, 256, 1000}) {
    Int8Weight q = QuantizeInt8(RandomWeight(67, in, in));
    at::Tensor dense = DequantizeInt8(q);
    for (int64_t rows : {1, 2, 3, 4, 5, 9}) {
      at::Tensor x = at::randn({rows, in});
      at::Tensor y = Int8Gemv(q, x);
      at::Tensor expected = at::linear(x.to(at::kDouble), dense.to(at::kDouble)).to(at::kFloat);
      EXPECT_TRUE(at::allclose(y, expected, 1e-5, 1e-5)) << "in " << in << " rows " << rows << " max diff "
                                                         << (y - expected).abs().max().item<float>();
      // Each row alone gives exactly what it gave in the batch: batched decoding = solo decoding.
      for (int64_t r = 0; r < rows; ++r) {
        EXPECT_TRUE(at::equal(Int8Gemv(q, x.narrow(0, r, 1)), y.narrow(0, r, 1))) << "in " << in << " row " << r;
      }
    }
  }
}

TEST(LinearLayer, Float32DecodingPathMatchesAtLinear) {
  at::Tensor w = RandomWeight(96, 130, 3);
  at::Tensor b = at::randn({96});
  Linear linear(w, b);
  for (int64_t rows : {1, 3, 16, 17, 40}) {  // the matrix-vector path up to 16 rows, GEMM beyond
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
  EXPECT_EQ(linear.bytes(), 96 * 130 + 96 * 4 + 96 * 4);  // int8 weight, float scales, float bias
  EXPECT_EQ(linear.out_features(), 96);
  Int8Weight q = QuantizeInt8(w);
  for (int64_t rows : {1, 5, 16, 17, 40}) {  // int8 kernel up to 16 rows, dequantized GEMM beyond
    at::Tensor x = at::randn({rows, 130});
    at::Tensor expected = at::linear(x, DequantizeInt8(q), b);
    EXPECT_TRUE(at::allclose(linear(x), expected, 1e-4, 1e-4)) << rows;
    // The quantization error itself stays small relative to the float32 layer.
    at::Tensor exact = at::linear(x, w, b);
    EXPECT_LT(((linear(x) - exact).norm() / exact.norm()).item<float>(), 0.02) << rows;
  }
}

}  // namespace
}  // namespace qwen3tts::nn
