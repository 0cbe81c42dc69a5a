#include "common/talker/sampling.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace qwen3tts {
namespace {

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// A uniform double in [0, 1) from 53 random bits of the generator.
double UniformDraw(at::Generator& generator) {
  at::Generator gen = generator.defined() ? generator : at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return static_cast<double>(gen.get<at::CPUGeneratorImpl>()->random64() >> 11) * 0x1.0p-53;
}

int64_t Argmax(const float* scores, int64_t vocab) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i) {
    if (scores[i] > scores[best]) best = i;
  }
  return best;
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& p, const char* prefix) {
  if (!(p.temperature > 0.0) || !std::isfinite(p.temperature) || p.temperature > 100.0) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ".temperature must be in (0, 100], got ", p.temperature));
  }
  if (p.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ".top_k must be >= 0 (0 disables it), got ", p.top_k));
  }
  if (!(p.top_p > 0.0 && p.top_p <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ".top_p must be in (0, 1], got ", p.top_p));
  }
  return absl::OkStatus();
}

void ApplyRepetitionPenalty(float* scores, const std::vector<int64_t>& distinct_ids, double penalty) {
  if (penalty == 1.0) return;
  const float factor = static_cast<float>(penalty);
  for (int64_t id : distinct_ids) scores[id] = scores[id] < 0 ? scores[id] * factor : scores[id] / factor;
}

void SuppressIds(float* scores, const std::vector<int64_t>& ids) {
  for (int64_t id : ids) scores[id] = kMinusInf;
}

void WarpScores(float* scores, int64_t vocab, const SamplingParams& p, SamplingScratch* scratch) {
  // Shifted so that the largest score is 0 before dividing: softmax, top-k and top-p do not change,
  // and a tiny temperature (say 1e-39, which passes validation) sends the other scores to -inf
  // (the greedy limit) instead of overflowing the largest to +inf, whose softmax is NaN.
  const float max = scores[Argmax(scores, vocab)];
  if (!std::isfinite(max)) return;  // nothing may be drawn; the draw falls back to the argmax
  const float temperature = static_cast<float>(p.temperature);
  for (int64_t i = 0; i < vocab; ++i) scores[i] = (scores[i] - max) / temperature;

  if (p.top_k > 0 && p.top_k < vocab) {
    // Keep every score >= the k-th largest (ties at the boundary are kept, as HF does).
    std::vector<float>& values = scratch->values;
    values.assign(scores, scores + vocab);
    std::nth_element(values.begin(), values.begin() + (p.top_k - 1), values.end(), std::greater<float>());
    const float kth = values[p.top_k - 1];
    for (int64_t i = 0; i < vocab; ++i) {
      if (scores[i] < kth) scores[i] = kMinusInf;
    }
  }
  if (p.top_p < 1.0) {
    // HF: sort ascending, cumulative softmax, drop the tokens whose cumulative probability is
    // <= 1 - top_p, always keep the most likely. Tokens at -inf have probability 0 and are dropped
    // already, so only the others are sorted (after top-k, usually a few dozen).
    std::vector<int32_t>& order = scratch->order;
    order.clear();
    for (int64_t i = 0; i < vocab; ++i) {
      if (scores[i] != kMinusInf) order.push_back(static_cast<int32_t>(i));
    }
    std::sort(order.begin(), order.end(),
              [scores](int32_t a, int32_t b) { return scores[a] < scores[b] || (scores[a] == scores[b] && a < b); });
    double total = 0;
    for (int32_t i : order) total += std::exp(static_cast<double>(scores[i]));  // the largest is 0
    const double drop_below = 1.0 - p.top_p;
    double cumulative = 0;
    for (size_t j = 0; j + 1 < order.size(); ++j) {
      cumulative += std::exp(static_cast<double>(scores[order[j]])) / total;
      if (cumulative > drop_below) break;
      scores[order[j]] = kMinusInf;
    }
  }
}

int64_t SelectToken(float* scores, int64_t vocab, const SamplingParams& p, at::Generator& generator,
                    SamplingScratch* scratch) {
  if (!p.do_sample) return Argmax(scores, vocab);
  WarpScores(scores, vocab, p, scratch);
  // Inverse transform sampling of softmax(scores): one uniform number per token drawn.
  double total = 0;
  int64_t last = -1;
  for (int64_t i = 0; i < vocab; ++i) {
    if (scores[i] == kMinusInf) continue;
    total += std::exp(static_cast<double>(scores[i]));
    last = i;
  }
  if (last < 0 || !(total > 0)) return Argmax(scores, vocab);
  const double target = UniformDraw(generator) * total;
  double cumulative = 0;
  for (int64_t i = 0; i < last; ++i) {
    if (scores[i] == kMinusInf) continue;
    cumulative += std::exp(static_cast<double>(scores[i]));
    if (cumulative > target) return i;
  }
  return last;  // the remaining mass (and any rounding) belongs to the last candidate
}

int64_t SelectToken(const at::Tensor& scores, const SamplingParams& p, at::Generator& generator) {
  at::Tensor row = scores.to(at::kFloat).contiguous().clone();
  SamplingScratch scratch;
  return SelectToken(row.data_ptr<float>(), row.numel(), p, generator, &scratch);
}

at::Tensor WarpScores(const at::Tensor& scores, const SamplingParams& p) {
  at::Tensor row = scores.to(at::kFloat).contiguous().clone();
  SamplingScratch scratch;
  WarpScores(row.data_ptr<float>(), row.numel(), p, &scratch);
  return row;
}

}  // namespace qwen3tts
