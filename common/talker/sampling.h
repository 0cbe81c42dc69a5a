// Logits processing and token selection, exactly as the reference's Hugging Face generate()
// applies them: repetition penalty over previously generated tokens, suppressed ids, minimum
// length (EOS masked), then for sampling temperature -> top-k -> top-p and a multinomial draw;
// greedy picks the argmax of the processed scores.
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

// In place on scores [vocab] (float32): score / penalty if > 0 else score * penalty, for every id
// in `previous` (each id once).
void ApplyRepetitionPenalty(at::Tensor& scores, const std::vector<int64_t>& previous, double penalty);
// Sets the given ids to -inf.
void SuppressIds(at::Tensor& scores, const std::vector<int64_t>& ids);

// Temperature, top-k and top-p warpers (HF order) followed by a multinomial draw, or argmax when
// !do_sample. `scores` are the processed scores [vocab]; `generator` may be undefined (global RNG).
int64_t SelectToken(const at::Tensor& scores, const SamplingParams& params, at::Generator& generator);
// The warped scores used for sampling (exposed for tests).
at::Tensor WarpScores(const at::Tensor& scores, const SamplingParams& params);

}  // namespace qwen3tts
