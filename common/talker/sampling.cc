#include "common/talker/sampling.h"

#include <ATen/ATen.h>

#include <cmath>

#include "absl/strings/str_cat.h"

namespace qwen3tts {

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

void ApplyRepetitionPenalty(at::Tensor& scores, const std::vector<int64_t>& previous, double penalty) {
  if (previous.empty() || penalty == 1.0) return;
  at::Tensor ids = at::tensor(previous, at::kLong);
  at::Tensor picked = scores.index_select(0, ids);
  at::Tensor penalized = at::where(picked < 0, picked * penalty, picked / penalty);
  // index_put_ with duplicate ids writes the same value, so each id is penalized once.
  scores.index_put_({ids}, penalized);
}

void SuppressIds(at::Tensor& scores, const std::vector<int64_t>& ids) {
  if (ids.empty()) return;
  scores.index_fill_(0, at::tensor(ids, at::kLong), -INFINITY);
}

at::Tensor WarpScores(const at::Tensor& scores_in, const SamplingParams& p) {
  // Shifted so that the largest score is 0 before dividing: softmax, top-k and top-p do not change,
  // and a tiny temperature (say 1e-39, which passes validation) sends the other scores to -inf
  // (the greedy limit) instead of overflowing the largest to +inf, whose softmax is NaN.
  at::Tensor scores = (scores_in - scores_in.max()) / p.temperature;
  const int64_t vocab = scores.size(0);
  if (p.top_k > 0 && p.top_k < vocab) {
    // Keep every score >= the k-th largest (ties at the boundary are kept, as HF does).
    at::Tensor kth = std::get<0>(at::topk(scores, p.top_k)).select(0, p.top_k - 1);
    scores = scores.masked_fill(scores < kth, -INFINITY);
  }
  if (p.top_p < 1.0) {
    auto [sorted, order] = at::sort(scores, /*dim=*/0, /*descending=*/false);
    at::Tensor cumulative = at::softmax(sorted, 0).cumsum(0);
    at::Tensor remove_sorted = cumulative <= (1.0 - p.top_p);
    remove_sorted.index_put_({-1}, false);  // always keep the most likely token
    at::Tensor remove = at::zeros_like(remove_sorted).scatter(0, order, remove_sorted);
    scores = scores.masked_fill(remove, -INFINITY);
  }
  return scores;
}

int64_t SelectToken(const at::Tensor& scores, const SamplingParams& p, at::Generator& generator) {
  if (!p.do_sample) return scores.argmax().item<int64_t>();
  at::Tensor probs = at::softmax(WarpScores(scores, p), 0);
  c10::optional<at::Generator> gen;
  if (generator.defined()) gen = generator;
  return at::multinomial(probs, 1, /*replacement=*/false, gen).item<int64_t>();
}

}  // namespace qwen3tts
