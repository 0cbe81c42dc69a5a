// Logits processing and token selection as the reference's Hugging Face generate() applies them:
// repetition penalty over previously generated tokens, suppressed ids, minimum length (EOS
// masked), then for sampling temperature -> top-k -> top-p and a draw from the softmax; greedy
// picks the argmax of the processed scores.
#pragma once

#include <ATen/Tensor.h>
#include <ATen/core/Generator.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace qwen3tts {

struct SamplingParams {
  bool do_sample = true;
  int64_t top_k = 50;         // 0 = disabled
  double top_p = 1.0;         // 1.0 = disabled
  double temperature = 0.9;   // > 0
};

// INVALID_ARGUMENT naming `field_prefix`.field and the allowed range.
absl::Status ValidateSamplingParams(const SamplingParams& p, const char* field_prefix);

// The per-token work runs on a raw float32 row of scores [vocab] (a decoding step selects 16
// tokens per frame and allocates nothing; at:: ops would allocate a tensor each). SamplingScratch
// holds what top-k and top-p need, reused from call to call (it only grows).
struct SamplingScratch {
  std::vector<float> values;
  std::vector<int32_t> order;
};

// In place: score / penalty if > 0 else score * penalty, once for each id in `distinct_ids`
// (the previously generated tokens, each listed once).
void ApplyRepetitionPenalty(float* scores, const std::vector<int64_t>& distinct_ids, double penalty);
// Sets the given ids to -inf.
void SuppressIds(float* scores, const std::vector<int64_t>& ids);

// Temperature, top-k and top-p warpers in HF order, in place (shifted so that the largest score
// is 0 before dividing by the temperature; see sampling.cc).
void WarpScores(float* scores, int64_t vocab, const SamplingParams& params, SamplingScratch* scratch);
// The argmax (first of equal maxima) when !do_sample; otherwise warps `scores` in place and draws
// from their softmax with one uniform number from `generator` (undefined: the global CPU
// generator), so a seeded generator gives reproducible draws.
int64_t SelectToken(float* scores, int64_t vocab, const SamplingParams& params, at::Generator& generator,
                    SamplingScratch* scratch);

// Tensor forms of the above for tests and tools: scores [vocab], not modified.
int64_t SelectToken(const at::Tensor& scores, const SamplingParams& params, at::Generator& generator);
at::Tensor WarpScores(const at::Tensor& scores, const SamplingParams& params);

}  // namespace qwen3tts
