// Golden-vector test support: locating the golden directory, iterating manifest cases and
// comparing tensors with the tolerances the manifest lists.
//
// The directory comes from QWEN3TTS_GOLDEN_DIR, else ../shared/golden beside the checkout.
// Nothing here knows the visible cases: every suite iterates whatever manifest.json lists.
#pragma once

#include <ATen/Tensor.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tensor/safetensors.h"
#include "nlohmann/json.hpp"

namespace qwen3tts::testing {

std::string GoldenDir();
// Absolute path of a file named relative to the golden directory (as the manifest names them).
std::string GoldenPath(const std::string& relative);

struct Tolerance {
  bool exact = false;
  double atol = 0.0;
  double rtol = 0.0;
};

// One manifest entry with lazy access to its tensor file.
class GoldenCase {
 public:
  explicit GoldenCase(nlohmann::json entry);
  const std::string& id() const { return id_; }
  const std::string& mode() const { return mode_; }
  const nlohmann::json& json() const { return entry_; }
  // Model directory (absolute) when the entry names one, else "".
  std::string ModelDir() const;
  // Tensors the manifest lists for this case.
  std::vector<std::string> TensorNames() const;
  bool HasTensor(const std::string& name) const;
  Tolerance ToleranceOf(const std::string& name) const;
  // Loads a listed tensor from the case file (stored dtype). Fails when the file or tensor is missing.
  absl::StatusOr<at::Tensor> Tensor(const std::string& name) const;
  // Loads and checks the manifest's shape too.
  absl::StatusOr<at::Tensor> TensorChecked(const std::string& name) const;

 private:
  nlohmann::json entry_;
  std::string id_, mode_;
  mutable std::shared_ptr<const SafetensorsFile> file_;
};

// Parsed manifest.json; a failure to read it is reported by the tests that use it.
absl::StatusOr<nlohmann::json> LoadManifest();

// Ids of manifest cases whose mode is one of `modes` (all cases when empty). When the manifest
// cannot be read, returns the single id "<manifest unreadable>" so that the suite fails loudly
// instead of silently running nothing.
std::vector<std::string> CaseIdsWithModes(const std::vector<std::string>& modes);
// Looks a case up by id; the status explains what is wrong with the manifest otherwise.
absl::StatusOr<GoldenCase> FindCase(const std::string& id);

// Element-wise comparison with the manifest's tolerance: |a-e| <= atol + rtol*|e|, non-finite
// entries must match exactly (same inf sign / both NaN). The failure message gives the shape,
// max abs diff, worst index and the number of mismatches.
::testing::AssertionResult TensorsMatch(const at::Tensor& actual, const at::Tensor& expected,
                                        const Tolerance& tolerance, const std::string& what);

// gtest parameter-name printer: case ids with non-alphanumerics replaced by '_'.
std::string SanitizeTestName(const std::string& id);

}  // namespace qwen3tts::testing

// For INSTANTIATE_TEST_SUITE_P over case ids.
#define QWEN3TTS_GOLDEN_CASE_NAMER                                          \
  [](const ::testing::TestParamInfo<std::string>& info) {                  \
    return ::qwen3tts::testing::SanitizeTestName(info.param);               \
  }
