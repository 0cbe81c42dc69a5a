// Logits processing and sampling statistics.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

#include "common/talker/sampling.h"

namespace qwen3tts {
namespace {

TEST(SamplingTest, GreedyIsArgmaxOfProcessedScores) {
  at::manual_seed(1);
  for (int trial = 0; trial < 20; ++trial) {
    at::Tensor scores = at::randn({300});
    SuppressIds(scores.data_ptr<float>(), {static_cast<int64_t>(scores.argmax().item<int64_t>())});
    at::Generator gen;
    int64_t token = SelectToken(scores, {/*do_sample=*/false, 50, 1.0, 0.9}, gen);
    EXPECT_EQ(token, scores.argmax().item<int64_t>());
    EXPECT_TRUE(std::isfinite(scores[token].item<float>()));
  }
}

TEST(SamplingTest, TopKNeverEmitsOutsideTheTopK) {
  at::manual_seed(2);
  at::Tensor scores = at::randn({500}) * 3;
  const int64_t k = 7;
  std::set<int64_t> top;
  at::Tensor idx = std::get<1>(at::topk(scores, k));
  for (int64_t i = 0; i < k; ++i) top.insert(idx[i].item<int64_t>());
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(123);
  std::set<int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    int64_t t = SelectToken(scores, {true, k, 1.0, 1.5}, gen);
    EXPECT_EQ(top.count(t), 1u) << t;
    seen.insert(t);
  }
  EXPECT_GT(seen.size(), 1u);  // it does sample, not argmax
}

TEST(SamplingTest, TopPKeepsTheSmallestSetReachingTheMass) {
  // Probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.7 keeps {0, 1}; top_p 0.85 keeps {0, 1, 2}.
  at::Tensor scores = at::log(at::tensor({0.5, 0.3, 0.15, 0.05}, at::kFloat));
  for (auto [top_p, allowed] : {std::pair<double, size_t>{0.7, 2}, {0.85, 3}, {1.0, 4}, {0.4, 1}}) {
    at::Tensor warped = WarpScores(scores, {true, 0, top_p, 1.0});
    EXPECT_EQ(static_cast<size_t>(at::isfinite(warped).sum().item<int64_t>()), allowed) << top_p;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
    for (int i = 0; i < 500; ++i) {
      int64_t t = SelectToken(scores, {true, 0, top_p, 1.0}, gen);
      EXPECT_LT(static_cast<size_t>(t), allowed) << top_p;
    }
  }
}

// A temperature near 0 (any positive value passes validation) is the greedy limit: the draw is the
// argmax, never a NaN distribution (which made at::multinomial throw).
TEST(SamplingTest, TinyTemperatureSamplesTheArgmax) {
  at::Tensor scores = at::tensor({1.5f, 7.0f, -3.0f, 6.5f, -INFINITY});
  for (double temperature : {5.7e-39, 1e-30, 1e-6}) {
    at::Tensor warped = WarpScores(scores, {true, 0, 1.0, temperature});
    EXPECT_FALSE(at::isnan(warped).any().item<bool>()) << temperature;
    EXPECT_EQ(warped[1].item<float>(), 0.0f);
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(SelectToken(scores, {true, 3, 0.9, temperature}, gen), 1) << temperature;
  }
}

TEST(SamplingTest, SeededDrawsAreReproducible) {
  at::Tensor scores = at::randn({1000});
  auto draw = [&](uint64_t seed) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    std::vector<int64_t> out;
    for (int i = 0; i < 50; ++i) out.push_back(SelectToken(scores, {true, 50, 0.9, 0.9}, gen));
    return out;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

TEST(SamplingTest, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  at::Tensor scores = at::tensor({2.0f, -2.0f, 1.0f});
  ApplyRepetitionPenalty(scores.data_ptr<float>(), {0, 1}, 2.0);
  EXPECT_FLOAT_EQ(scores[0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(scores[1].item<float>(), -4.0f);
  EXPECT_FLOAT_EQ(scores[2].item<float>(), 1.0f);  // not generated before: unchanged
}

// The warpers as the reference's Hugging Face TemperatureLogitsWarper, TopKLogitsWarper and
// TopPLogitsWarper compute them, in tensor ops: the definition the raw-row code must match.
at::Tensor ReferenceWarp(const at::Tensor& scores_in, const SamplingParams& p) {
  at::Tensor scores = (scores_in - scores_in.max()) / p.temperature;
  const int64_t vocab = scores.size(0);
  if (p.top_k > 0 && p.top_k < vocab) {
    at::Tensor kth = std::get<0>(at::topk(scores, p.top_k)).select(0, p.top_k - 1);
    scores = scores.masked_fill(scores < kth, -INFINITY);
  }
  if (p.top_p < 1.0) {
    auto [sorted, order] = at::sort(scores, /*dim=*/0, /*descending=*/false);
    at::Tensor cumulative = at::softmax(sorted, 0).cumsum(0);
    at::Tensor remove_sorted = cumulative <= (1.0 - p.top_p);
    remove_sorted.index_put_({-1}, false);
    at::Tensor remove = at::zeros_like(remove_sorted).scatter(0, order, remove_sorted);
    scores = scores.masked_fill(remove, -INFINITY);
  }
  return scores;
}

TEST(SamplingTest, WarpersMatchTheirTensorDefinitions) {
  at::manual_seed(11);
  const std::vector<SamplingParams> settings = {
      {true, 50, 1.0, 0.9}, {true, 0, 0.8, 1.0}, {true, 20, 0.95, 0.7}, {true, 1, 0.5, 1.3}, {true, 0, 1.0, 0.05}};
  for (int trial = 0; trial < 10; ++trial) {
    at::Tensor scores = at::randn({2048}) * (1 + trial);
    for (const SamplingParams& p : settings) {
      at::Tensor expected = ReferenceWarp(scores, p);
      at::Tensor got = WarpScores(scores, p);
      // The same tokens survive (ties and rounding at a boundary are vanishingly unlikely with
      // random scores), with the same values.
      EXPECT_TRUE(at::equal(at::isfinite(got), at::isfinite(expected))) << "top_k " << p.top_k << " top_p " << p.top_p;
      at::Tensor kept = at::isfinite(expected);
      EXPECT_TRUE(at::allclose(got.masked_select(kept), expected.masked_select(kept), 1e-5, 1e-5));
    }
  }
}

// The draw follows softmax(warped scores): frequencies over many seeded draws.
TEST(SamplingTest, DrawFrequenciesFollowTheDistribution) {
  const std::vector<double> probabilities = {0.5, 0.25, 0.15, 0.07, 0.03};
  std::vector<float> logs;
  for (double p : probabilities) logs.push_back(static_cast<float>(std::log(p)));
  at::Tensor scores = at::tensor(logs, at::kFloat);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const int draws = 40000;
  std::vector<int> counts(probabilities.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[SelectToken(scores, {true, 0, 1.0, 1.0}, gen)];
  for (size_t i = 0; i < probabilities.size(); ++i) {
    // 5 standard deviations of a binomial proportion.
    const double sd = std::sqrt(probabilities[i] * (1 - probabilities[i]) / draws);
    EXPECT_NEAR(counts[i] / static_cast<double>(draws), probabilities[i], 5 * sd) << "token " << i;
  }
}

TEST(SamplingTest, RejectsOutOfRangeParameters) {
  EXPECT_FALSE(ValidateSamplingParams({true, 50, 1.0, 0.0}, "sampling").ok());
  EXPECT_FALSE(ValidateSamplingParams({true, -1, 1.0, 1.0}, "sampling").ok());
  EXPECT_FALSE(ValidateSamplingParams({true, 50, 1.5, 1.0}, "sampling").ok());
  EXPECT_FALSE(ValidateSamplingParams({true, 50, NAN, 1.0}, "sampling").ok());
  auto status = ValidateSamplingParams({true, 50, 0.0, 1.0}, "sampling");
  EXPECT_NE(status.message().find("sampling.top_p"), std::string::npos);
  EXPECT_TRUE(ValidateSamplingParams({false, 0, 1.0, 0.9}, "sampling").ok());
}

}  // namespace
}  // namespace qwen3tts
