// The AMX bfloat16 convolution product (common/nn/bf16_tiles.h): what it computes, and that a row's
// result does not depend on the rows around it (what lets the codec decoder stream exactly and put
// several frames, and several streams, in one pass). These run only where the CPU has AMX-BF16 tiles the process may use.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "common/nn/bf16_tiles.h"
#include "common/nn/snake_beta.h"

namespace qwen3tts::nn {
namespace {

#define SKIP_WITHOUT_TILES()                                                              \
  if (!AmxBf16Available()) GTEST_SKIP() << "this CPU (or operating system) offers no AMX-BF16 tiles"

// y [rows, out] in double from the bfloat16 roundings of w [out, taps * in] and x [steps, in].
at::Tensor Reference(const at::Tensor& w, const at::Tensor& x, const at::Tensor& bias, int64_t taps, int64_t dilation,
                     int64_t rows) {
  const int64_t out = w.size(0), in = x.size(1);
  const at::Tensor wd = w.to(at::kBFloat16).to(at::kDouble).view({out, taps, in});
  const at::Tensor xd = x.to(at::kBFloat16).to(at::kDouble);
  at::Tensor y = bias.to(at::kDouble).unsqueeze(0).repeat({rows, 1});
  for (int64_t j = 0; j < taps; ++j) y += at::mm(xd.narrow(0, j * dilation, rows), wd.select(1, j).t());
  return y;
}

// A random convolution of `steps` input steps, packed and rounded for the tiles.
struct RandomConvolution {
  RandomConvolution(int64_t steps, int64_t in, int64_t out, int64_t taps)
      : x(at::randn({steps, in})),
        w(at::randn({out, taps * in}) * 0.1),
        bias(at::randn({out})),
        packed(PackBf16TileWeight(w, taps, in)) {
    ToBf16Steps(x.data_ptr<float>(), steps, in, packed.width, &rounded);
  }
  at::Tensor x, w, bias;
  Bf16TileWeight packed;
  Bf16Steps rounded;
};

TEST(Bf16Tiles, StepsAreRoundedToTheNearestBfloat16AndPadded) {
  SKIP_WITHOUT_TILES();
  at::manual_seed(3);
  const int64_t steps = 5, in = 45, width = Bf16TileWidth(in);
  at::Tensor x = at::randn({steps, in}) * 100;
  x[0][0] = 1.00390625f;   // exactly between 1 and the next bfloat16: ties to even (1)
  x[0][1] = 1.01171875f;   // between 1.0078125 and 1.015625: ties to even (1.015625)
  x[1][2] = -0.0f;
  Bf16Steps rounded;
  ToBf16Steps(x.data_ptr<float>(), steps, in, width, &rounded);
  ASSERT_EQ(rounded.width, width);
  ASSERT_GE(rounded.values.size(), static_cast<size_t>((steps + kBf16TileRows) * width));
  const at::Tensor expected = x.to(at::kBFloat16);
  for (int64_t t = 0; t < steps; ++t) {
    for (int64_t i = 0; i < width; ++i) {
      uint16_t want = 0;
      if (i < in) std::memcpy(&want, expected[t][i].data_ptr(), sizeof(want));
      EXPECT_EQ(rounded.values[t * width + i], want) << "step " << t << " input " << i;
    }
  }
  for (size_t i = steps * width; i < rounded.values.size(); ++i) EXPECT_EQ(rounded.values[i], 0) << i;
}

// A streaming convolution keeps its history rounded: steps after already-rounded context are the
// steps of the whole float32 input rounded at once (the context copied as is, the new steps rounded,
// the zero padding after both), so keeping the history rounded changes no sample.
TEST(Bf16Tiles, StepsAfterRoundedContextAreTheWholeInputRounded) {
  SKIP_WITHOUT_TILES();
  at::manual_seed(4);
  const int64_t in = 45, width = Bf16TileWidth(in);
  for (const auto& [context_steps, steps] : std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {6, 2}, {2, 7}, {54, 32}}) {
    SCOPED_TRACE(testing::Message() << context_steps << " context steps, " << steps << " new");
    at::Tensor x = at::randn({context_steps + steps, in}) * 10;
    Bf16Steps whole, context, after;
    ToBf16Steps(x.data_ptr<float>(), context_steps + steps, in, width, &whole);
    ToBf16Steps(x.data_ptr<float>(), context_steps, in, width, &context);
    after.values.assign(7, 0xffff);  // stale contents are overwritten
    ToBf16StepsAfter(context.values.data(), context_steps, x.data_ptr<float>() + context_steps * in, steps, in, width,
                     &after);
    EXPECT_EQ(after.steps, context_steps + steps);
    EXPECT_EQ(after.width, width);
    EXPECT_EQ(after.values, whole.values);
  }
}

// SnakeBeta on the way into the rounded steps: the activation's own bits (SnakeBetaChannelsLast),
// then rounded as ever, after the context and before the zero padding; x is not changed. Widths
// with a partial vector of 16 inputs, and arguments past the kernel's own reduction (libm's sin).
TEST(Bf16Tiles, StepsWithSnakeBetaAreTheActivationsRounded) {
  SKIP_WITHOUT_TILES();
  if (!SnakeBetaAvailable()) GTEST_SKIP() << "no AVX2 + FMA";
  at::manual_seed(8);
  for (int64_t in : {45, 96}) {
    const int64_t width = Bf16TileWidth(in);
    const at::Tensor alpha = at::rand({in}) * 2 + 0.1, inv_beta = at::rand({in}) + 0.5;
    const SnakeBetaChannels activation{alpha.data_ptr<float>(), inv_beta.data_ptr<float>()};
    for (const auto& [context_steps, steps] : std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {6, 2}, {54, 33}}) {
      SCOPED_TRACE(testing::Message() << "in " << in << ", " << context_steps << " context steps, " << steps << " new");
      at::Tensor x = at::randn({steps, in}) * 10;
      x[0][1] = 30000.0f;  // alpha * x past 8192
      const at::Tensor x_before = x.clone();
      Bf16Steps context;
      ToBf16Steps(at::randn({context_steps, in}).data_ptr<float>(), context_steps, in, width, &context);
      at::Tensor activated = at::empty({steps, in});
      SnakeBetaChannelsLast(x.data_ptr<float>(), activated.data_ptr<float>(), steps, in, alpha.data_ptr<float>(),
                            inv_beta.data_ptr<float>());
      Bf16Steps fused, separate;
      ToBf16StepsAfter(context.values.data(), context_steps, x.data_ptr<float>(), steps, in, width, &fused,
                       &activation);
      ToBf16StepsAfter(context.values.data(), context_steps, activated.data_ptr<float>(), steps, in, width, &separate);
      EXPECT_EQ(fused.steps, context_steps + steps);
      EXPECT_EQ(fused.values, separate.values);
      EXPECT_TRUE(at::equal(x, x_before));
    }
  }
}

// Input widths with whole and partial 32-input chunks; taps and dilations of the decoder's
// convolutions; rows below, at and past the tiles' 16 and 32; outputs in whole and partial tiles of
// 16, one output (the decoder's last convolution), and results written ldy apart.
TEST(Bf16Tiles, ConvolutionRowsAreTheProductOfTheRoundedOperands) {
  SKIP_WITHOUT_TILES();
  at::manual_seed(5);
  for (int64_t in : {8, 40, 96}) {
    for (auto [taps, dilation] : {std::pair<int64_t, int64_t>{1, 1}, {2, 1}, {7, 1}, {7, 3}}) {
      for (int64_t out : {1, 16, 70}) {
        for (int64_t rows : {1, 5, 16, 17, 33, 50}) {
          const int64_t ldy = out + 3;
          RandomConvolution c(rows + (taps - 1) * dilation, in, out, taps);
          at::Tensor y = at::full({rows, ldy}, std::numeric_limits<float>::quiet_NaN());
          Bf16ConvRowsInto(c.packed, c.rounded, rows, dilation, c.bias.data_ptr<float>(), y.data_ptr<float>(), ldy);
          const at::Tensor expected = Reference(c.w, c.x, c.bias, taps, dilation, rows);
          // Float32 sums of exact products: the error is float32 rounding of the running sums.
          const at::Tensor magnitude =
              at::mm(c.x.to(at::kDouble).abs().narrow(0, 0, rows), at::ones({in, out}, at::kDouble)) * taps * 0.1 * 4;
          const at::Tensor error = (y.narrow(1, 0, out).to(at::kDouble) - expected).abs();
          EXPECT_TRUE(error.le(magnitude * 1e-5 + 1e-6).all().item<bool>())
              << "in " << in << " taps " << taps << " dilation " << dilation << " out " << out << " rows " << rows
              << " max error " << error.max().item<double>();
          EXPECT_TRUE(y.narrow(1, out, ldy - out).isnan().all().item<bool>()) << "wrote past out";
        }
      }
    }
  }
}

// Each output row gives the same bits whether it is computed alone, in a tile of 16 with others, at
// another position of a group, or in the last partial group: a streaming decode (a few rows per
// call) equals the offline one (all rows at once).
TEST(Bf16Tiles, ARowGivesTheSameBitsWhereverItSits) {
  SKIP_WITHOUT_TILES();
  at::manual_seed(7);
  const int64_t in = 72, out = 40, taps = 7, dilation = 3, rows = 45;
  RandomConvolution c(rows + (taps - 1) * dilation, in, out, taps);
  at::Tensor all = at::empty({rows, out});
  Bf16ConvRowsInto(c.packed, c.rounded, rows, dilation, c.bias.data_ptr<float>(), all.data_ptr<float>(), out);
  for (int64_t first : {0, 1, 7, 16, 30}) {
    for (int64_t count : {1, 3, 15}) {
      if (first + count > rows) continue;
      const int64_t sub_steps = count + (taps - 1) * dilation;
      Bf16Steps part;
      ToBf16Steps(c.x.narrow(0, first, sub_steps).contiguous().data_ptr<float>(), sub_steps, in, c.packed.width,
                  &part);
      at::Tensor y = at::empty({count, out});
      Bf16ConvRowsInto(c.packed, part, count, dilation, c.bias.data_ptr<float>(), y.data_ptr<float>(), out);
      EXPECT_TRUE(at::equal(y, all.narrow(0, first, count))) << "rows " << first << ".." << first + count;
    }
  }
}

// Streams of `rows` rows each (own random steps, the first stream's weight for all) through one
// Bf16ConvPartsInto call: every row has the bits of the stream's own call, and nothing is written
// past `out`. With add_to_output, each stream's y starts with random values and ends with those
// plus its own call's product (float32 sums: what adding the product afterwards gives).
void ExpectStreamsTogetherGiveTheirOwnBits(const std::vector<int64_t>& rows, int64_t in, int64_t out, int64_t taps,
                                           int64_t dilation, int64_t seed, bool add_to_output = false) {
  const int64_t ldy = out + 2;
  std::vector<RandomConvolution> streams;
  for (size_t i = 0; i < rows.size(); ++i) {
    at::manual_seed(seed + static_cast<int64_t>(i));
    streams.emplace_back(rows[i] + (taps - 1) * dilation, in, out, taps);
  }
  const RandomConvolution& first = streams.front();
  std::vector<at::Tensor> together, alone, before;
  std::vector<Bf16ConvPart> parts;
  for (size_t i = 0; i < rows.size(); ++i) {
    together.push_back(at::full({rows[i], ldy}, std::numeric_limits<float>::quiet_NaN()));
    if (add_to_output) together.back().narrow(1, 0, out).copy_(at::randn({rows[i], out}) * 3);
    before.push_back(together.back().clone());
    alone.push_back(at::full({rows[i], ldy}, std::numeric_limits<float>::quiet_NaN()));
    parts.push_back(Bf16ConvPart{&streams[i].rounded, rows[i], together.back().data_ptr<float>()});
    Bf16ConvRowsInto(first.packed, streams[i].rounded, rows[i], dilation, first.bias.data_ptr<float>(),
                     alone.back().data_ptr<float>(), ldy);
  }
  Bf16ConvPartsInto(first.packed, parts.data(), static_cast<int64_t>(parts.size()), dilation,
                    first.bias.data_ptr<float>(), ldy, add_to_output);
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "taps " << taps << " dilation " << dilation << " stream " << i
                                      << (add_to_output ? " (added to y)" : ""));
    const at::Tensor expected =
        add_to_output ? before[i].narrow(1, 0, out) + alone[i].narrow(1, 0, out) : alone[i].narrow(1, 0, out);
    EXPECT_TRUE(at::equal(together[i].narrow(1, 0, out), expected));
    EXPECT_TRUE(together[i].narrow(1, out, ldy - out).isnan().all().item<bool>()) << "wrote past out";
    if (rows[i] > 0) {
      EXPECT_FALSE(together[i].narrow(1, 0, out).isnan().any().item<bool>());
    }
  }
}

// Several streams' rows in one call (each its own steps, row count and output; none too).
TEST(Bf16Tiles, StreamsTakenTogetherGiveTheirOwnBits) {
  SKIP_WITHOUT_TILES();
  ExpectStreamsTogetherGiveTheirOwnBits({4, 0, 33, 1, 16}, /*in=*/72, /*out=*/40, /*taps=*/7, /*dilation=*/3,
                                        /*seed=*/20);
}

// The products added to what the outputs hold (the decoder's residual connections), in whole and
// partial tiles of rows and outputs, and through the stacked segment of few-row streams.
TEST(Bf16Tiles, ProductsAddedToTheOutputsAreTheirSums) {
  SKIP_WITHOUT_TILES();
  ExpectStreamsTogetherGiveTheirOwnBits({4, 0, 33, 1, 16, 32}, /*in=*/72, /*out=*/40, /*taps=*/1, /*dilation=*/1,
                                        /*seed=*/60, /*add_to_output=*/true);
  ExpectStreamsTogetherGiveTheirOwnBits({4, 1, 2, 0, 4, 3, 20, 1}, /*in=*/40, /*out=*/64, /*taps=*/7, /*dilation=*/3,
                                        /*seed=*/70, /*add_to_output=*/true);
}

// Streams of fewer rows than a tile group (a streamed frame's first convolutions) are stacked into
// one segment, their rows between the parts dropped: each stream still gets its own call's bits.
// Short receptive fields (the upsampling products: 2 taps) and long ones.
TEST(Bf16Tiles, FewRowStreamsStackedGiveTheirOwnBits) {
  SKIP_WITHOUT_TILES();
  for (const auto& [taps, dilation] : std::vector<std::pair<int64_t, int64_t>>{{2, 1}, {7, 1}, {3, 2}}) {
    ExpectStreamsTogetherGiveTheirOwnBits({4, 1, 2, 0, 4, 3, 20, 1, 4, 4}, /*in=*/40, /*out=*/50, taps, dilation,
                                          /*seed=*/40);
  }
}

}  // namespace
}  // namespace qwen3tts::nn
