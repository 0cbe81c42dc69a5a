// nn::SnakeBetaChannelsFirst / ChannelsLast against the activation's definition
// (x + inv_beta * sin(alpha * x)^2) evaluated in double precision and by ATen's tensor ops (the
// decoder's previous form), both layouts, every tail length, arguments beyond the kernel's own
// reduction, and one element's bits independent of where it sits.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "common/nn/snake_beta.h"

namespace qwen3tts::nn {
namespace {

// As the reference implementation computes it: the argument alpha * x rounded to float32 (for large
// arguments that rounding alone moves sin far more than any sin error), the rest exact.
double Reference(float x, float alpha, float inv_beta) {
  const float argument = alpha * x;
  const double s = std::sin(static_cast<double>(argument));
  return static_cast<double>(x) + static_cast<double>(inv_beta) * s * s;
}

// sin^2 within a few float ulps (of 1), scaled by inv_beta, plus the final rounding of y.
double Tolerance(double reference, float inv_beta) {
  return 4.0 * std::numeric_limits<float>::epsilon() * (std::fabs(inv_beta) + std::fabs(reference));
}

struct Case {
  int64_t channels, steps;
  std::vector<float> x, alpha, inv_beta;  // x: [channels, steps]
};

Case RandomCase(int64_t channels, int64_t steps, float scale, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::uniform_real_distribution<float> alpha(0.2f, 8.0f), inv_beta(0.05f, 3.0f);
  Case c{channels, steps, {}, {}, {}};
  for (int64_t i = 0; i < channels * steps; ++i) c.x.push_back(normal(gen));
  for (int64_t i = 0; i < channels; ++i) {
    c.alpha.push_back(alpha(gen));
    c.inv_beta.push_back(inv_beta(gen));
  }
  return c;
}

std::vector<float> ChannelsFirst(const Case& c) {
  std::vector<float> y(c.x.size());
  SnakeBetaChannelsFirst(c.x.data(), y.data(), c.channels, c.steps, c.alpha.data(), c.inv_beta.data(), c.channels);
  return y;
}

// The same activations laid out [steps, channels]; returned in [channels, steps] order.
std::vector<float> ChannelsLast(const Case& c) {
  std::vector<float> xt(c.x.size()), yt(c.x.size()), y(c.x.size());
  for (int64_t ch = 0; ch < c.channels; ++ch) {
    for (int64_t t = 0; t < c.steps; ++t) xt[t * c.channels + ch] = c.x[ch * c.steps + t];
  }
  SnakeBetaChannelsLast(xt.data(), yt.data(), c.steps, c.channels, c.alpha.data(), c.inv_beta.data());
  for (int64_t ch = 0; ch < c.channels; ++ch) {
    for (int64_t t = 0; t < c.steps; ++t) y[ch * c.steps + t] = yt[t * c.channels + ch];
  }
  return y;
}

class SnakeBetaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!SnakeBetaAvailable()) GTEST_SKIP() << "no AVX2 + FMA: the decoder uses its tensor ops";
  }
};

TEST_F(SnakeBetaTest, BothLayoutsMatchTheDefinitionForEveryTailLength) {
  uint32_t seed = 1;
  for (int64_t channels : {1, 3, 8, 19, 96}) {
    for (int64_t steps : {1, 5, 8, 13, 40}) {
      for (float scale : {0.5f, 4.0f, 300.0f}) {  // 300 * alpha reaches the kernel's reduction limit
        const Case c = RandomCase(channels, steps, scale, seed++);
        const std::vector<float> first = ChannelsFirst(c), last = ChannelsLast(c);
        for (int64_t i = 0; i < channels * steps; ++i) {
          const int64_t ch = i / steps;
          const double ref = Reference(c.x[i], c.alpha[ch], c.inv_beta[ch]);
          ASSERT_NEAR(first[i], ref, Tolerance(ref, c.inv_beta[ch]))
              << "channels-first " << channels << "x" << steps << " x=" << c.x[i] << " alpha=" << c.alpha[ch];
          // The two layouts compute each element by the same instructions: the same bits.
          ASSERT_EQ(std::memcmp(&first[i], &last[i], sizeof(float)), 0) << channels << "x" << steps << " " << i;
        }
      }
    }
  }
}

// The AVX-512 kernels (16 lanes) give the AVX2 ones' bits (8 lanes) for every element: full vectors
// of either width, tails of every length, arguments past the reduction (libm) and non-finite ones.
TEST_F(SnakeBetaTest, Avx512KernelsGiveTheAvx2Bits) {
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "no AVX-512F";
  const SnakeSlowSinFn slow_sin = [](float a) { return static_cast<float>(std::sin(static_cast<double>(a))); };
  uint32_t seed = 11;
  for (int64_t n : {1, 7, 8, 9, 15, 16, 17, 31, 33, 96, 1000}) {
    for (float scale : {0.5f, 4.0f, 3000.0f}) {  // 3000 * alpha passes the reduction limit
      Case c = RandomCase(n, 1, scale, seed++);
      c.x[n / 2] = n % 2 == 0 ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
      std::vector<float> narrow(n), wide(n);
      SnakeBetaPerChannelAvx2(c.x.data(), narrow.data(), n, c.alpha.data(), c.inv_beta.data(), slow_sin);
      SnakeBetaPerChannelAvx512(c.x.data(), wide.data(), n, c.alpha.data(), c.inv_beta.data(), slow_sin);
      EXPECT_EQ(std::memcmp(narrow.data(), wide.data(), n * sizeof(float)), 0) << "per channel, n " << n;
      SnakeBetaOneChannelAvx2(c.x.data(), narrow.data(), n, c.alpha[0], c.inv_beta[0], slow_sin);
      SnakeBetaOneChannelAvx512(c.x.data(), wide.data(), n, c.alpha[0], c.inv_beta[0], slow_sin);
      EXPECT_EQ(std::memcmp(narrow.data(), wide.data(), n * sizeof(float)), 0) << "one channel, n " << n;
    }
  }
}

TEST_F(SnakeBetaTest, AgreesWithTheTensorOps) {
  const Case c = RandomCase(96, 1920, 2.0f, 7);
  const at::Tensor x = at::from_blob(const_cast<float*>(c.x.data()), {1, 96, 1920}, at::kFloat);
  const at::Tensor alpha = at::from_blob(const_cast<float*>(c.alpha.data()), {1, 96, 1}, at::kFloat);
  const at::Tensor inv_beta = at::from_blob(const_cast<float*>(c.inv_beta.data()), {1, 96, 1}, at::kFloat);
  const at::Tensor s = at::sin(x * alpha);
  const at::Tensor expected = x + inv_beta * (s * s);
  const std::vector<float> y = ChannelsFirst(c);
  const at::Tensor got = at::from_blob(const_cast<float*>(y.data()), {1, 96, 1920}, at::kFloat);
  // Both are within a few ulps of the exact value; relative to the activation's scale.
  EXPECT_LE((got - expected).abs().max().item<double>(), 1e-5 * expected.abs().max().item<double>());
}

TEST_F(SnakeBetaTest, LargeAndNonFiniteArgumentsTakeLibmSin) {
  Case c{1, 11, {}, {1.5f}, {0.75f}};
  c.x = {1e4f, -2.5e4f, 1e6f, 3.0e7f, 5462.0f, -5461.0f, 0.0f, -0.0f,
         std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
         std::numeric_limits<float>::quiet_NaN()};
  const std::vector<float> y = ChannelsFirst(c);
  for (int i = 0; i < 8; ++i) {
    const double ref = Reference(c.x[i], 1.5f, 0.75f);
    EXPECT_NEAR(y[i], ref, Tolerance(ref, 0.75f)) << "x=" << c.x[i];
  }
  EXPECT_TRUE(std::isnan(y[8]));
  EXPECT_TRUE(std::isnan(y[9]));
  EXPECT_TRUE(std::isnan(y[10]));
}

TEST_F(SnakeBetaTest, AnElementsBitsDoNotDependOnItsPosition) {
  // One value at every position of rows of every length (full vectors and tails): a streaming
  // step's row splits differ from an offline decode's.
  const float alpha = 2.3f, inv_beta = 0.6f;
  for (float v : {0.37f, -1.9f, 812.25f}) {
    std::vector<float> x(29, v), y(29);
    float first = 0;
    for (int64_t steps = 1; steps <= 29; ++steps) {
      SnakeBetaChannelsFirst(x.data(), y.data(), 1, steps, &alpha, &inv_beta, 1);
      if (steps == 1) first = y[0];
      for (int64_t t = 0; t < steps; ++t) ASSERT_EQ(std::memcmp(&y[t], &first, sizeof(float)), 0) << steps << " " << t;
    }
  }
}

}  // namespace
}  // namespace qwen3tts::nn
