#include "tests/support/golden.h"

#include <ATen/ATen.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/file_util.h"
#include "common/util/json_fields.h"

namespace qwen3tts::testing {

namespace {
constexpr char kManifestUnreadable[] = "<manifest unreadable>";
}

std::string GoldenDir() {
  const char* env = std::getenv("QWEN3TTS_GOLDEN_DIR");
  if (env != nullptr && *env != '\0') return env;
  return QWEN3TTS_DEFAULT_GOLDEN_DIR;
}

std::string GoldenPath(const std::string& relative) { return JoinPath(GoldenDir(), relative); }

absl::StatusOr<nlohmann::json> LoadManifest() {
  absl::StatusOr<nlohmann::json> manifest = ReadJsonFile(GoldenPath("manifest.json"));
  if (!manifest.ok()) return manifest.status();
  if (!manifest->contains("cases") || !(*manifest)["cases"].is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(GoldenPath("manifest.json"), ": no 'cases' array"));
  }
  return manifest;
}

std::vector<std::string> CaseIdsWithModes(const std::vector<std::string>& modes) {
  absl::StatusOr<nlohmann::json> manifest = LoadManifest();
  if (!manifest.ok()) return {kManifestUnreadable};
  std::vector<std::string> ids;
  for (const nlohmann::json& entry : (*manifest)["cases"]) {
    std::string mode = entry.value("mode", "");
    bool wanted = modes.empty();
    for (const std::string& m : modes) wanted = wanted || (m == mode);
    if (wanted) ids.push_back(entry.value("id", ""));
  }
  return ids;
}

absl::StatusOr<GoldenCase> FindCase(const std::string& id) {
  absl::StatusOr<nlohmann::json> manifest = LoadManifest();
  if (!manifest.ok()) return manifest.status();
  for (const nlohmann::json& entry : (*manifest)["cases"]) {
    if (entry.value("id", "") == id) return GoldenCase(entry);
  }
  return absl::NotFoundError(absl::StrCat("case '", id, "' not in ", GoldenPath("manifest.json")));
}

GoldenCase::GoldenCase(nlohmann::json entry)
    : entry_(std::move(entry)), id_(entry_.value("id", "")), mode_(entry_.value("mode", "")) {}

std::string GoldenCase::ModelDir() const {
  if (!entry_.contains("model_dir") || !entry_["model_dir"].is_string()) return "";
  return GoldenPath(entry_["model_dir"].get<std::string>());
}

std::vector<std::string> GoldenCase::TensorNames() const {
  std::vector<std::string> names;
  if (entry_.contains("tensors") && entry_["tensors"].is_object()) {
    for (auto it = entry_["tensors"].begin(); it != entry_["tensors"].end(); ++it) {
      names.push_back(it.key());
    }
  }
  return names;
}

bool GoldenCase::HasTensor(const std::string& name) const {
  return entry_.contains("tensors") && entry_["tensors"].contains(name);
}

Tolerance GoldenCase::ToleranceOf(const std::string& name) const {
  Tolerance tol;
  if (!HasTensor(name)) {
    tol.exact = true;
    return tol;
  }
  const nlohmann::json& t = entry_["tensors"][name]["tolerance"];
  if (t.is_string()) {
    tol.exact = (t.get<std::string>() == "exact");
  } else if (t.is_object()) {
    tol.atol = t.value("atol", 0.0);
    tol.rtol = t.value("rtol", 0.0);
  } else {
    tol.exact = true;
  }
  return tol;
}

absl::StatusOr<at::Tensor> GoldenCase::Tensor(const std::string& name) const {
  if (!file_) {
    if (!entry_.contains("file") || !entry_["file"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("case '", id_, "': manifest names no file"));
    }
    absl::StatusOr<std::shared_ptr<const SafetensorsFile>> f =
        SafetensorsFile::Open(GoldenPath(entry_["file"].get<std::string>()));
    if (!f.ok()) return f.status();
    file_ = *f;
  }
  return file_->Load(name);
}

absl::StatusOr<at::Tensor> GoldenCase::TensorChecked(const std::string& name) const {
  absl::StatusOr<at::Tensor> t = Tensor(name);
  if (!t.ok()) return t.status();
  if (HasTensor(name) && entry_["tensors"][name].contains("shape")) {
    std::vector<int64_t> shape = entry_["tensors"][name]["shape"].get<std::vector<int64_t>>();
    if (t->sizes().vec() != shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "case '", id_, "': tensor '", name, "' has shape [", absl::StrJoin(t->sizes(), ","),
          "], manifest says [", absl::StrJoin(shape, ","), "]"));
    }
  }
  return t;
}

::testing::AssertionResult TensorsMatch(const at::Tensor& actual_in, const at::Tensor& expected_in,
                                        const Tolerance& tol, const std::string& what) {
  if (actual_in.sizes() != expected_in.sizes()) {
    return ::testing::AssertionFailure()
           << what << ": shape [" << absl::StrJoin(actual_in.sizes(), ",") << "] vs expected ["
           << absl::StrJoin(expected_in.sizes(), ",") << "]";
  }
  if (tol.exact && !at::isFloatingType(expected_in.scalar_type())) {
    at::Tensor a = actual_in.to(at::kLong).contiguous().view(-1);
    at::Tensor e = expected_in.to(at::kLong).contiguous().view(-1);
    at::Tensor diff = a.ne(e);
    int64_t mismatches = diff.sum().item<int64_t>();
    if (mismatches == 0) return ::testing::AssertionSuccess();
    int64_t first = diff.nonzero()[0][0].item<int64_t>();
    return ::testing::AssertionFailure()
           << what << ": " << mismatches << " of " << e.numel() << " values differ; first at flat index "
           << first << ": got " << a[first].item<int64_t>() << ", expected " << e[first].item<int64_t>();
  }
  at::Tensor a = actual_in.to(at::kDouble).contiguous().view(-1);
  at::Tensor e = expected_in.to(at::kDouble).contiguous().view(-1);
  const double* ap = a.data_ptr<double>();
  const double* ep = e.data_ptr<double>();
  int64_t n = e.numel();
  int64_t mismatches = 0, worst = -1;
  double worst_excess = 0.0, max_abs = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double x = ap[i], y = ep[i];
    if (!std::isfinite(y) || !std::isfinite(x)) {
      bool same = (std::isnan(x) && std::isnan(y)) || (x == y);
      if (!same) {
        ++mismatches;
        if (worst < 0 || worst_excess < INFINITY) { worst = i; worst_excess = INFINITY; }
      }
      continue;
    }
    double d = std::fabs(x - y);
    max_abs = std::max(max_abs, d);
    double allowed = tol.exact ? 0.0 : tol.atol + tol.rtol * std::fabs(y);
    if (d > allowed) {
      ++mismatches;
      if (d - allowed > worst_excess || worst < 0) { worst_excess = d - allowed; worst = i; }
    }
  }
  if (mismatches == 0) {
    return ::testing::AssertionSuccess() << what << ": max abs diff " << max_abs;
  }
  return ::testing::AssertionFailure()
         << what << " (shape [" << absl::StrJoin(expected_in.sizes(), ",") << "]): " << mismatches
         << " of " << n << " values outside atol " << tol.atol << " rtol " << tol.rtol
         << "; max abs diff (finite) " << max_abs << "; worst at flat index " << worst << ": got "
         << ap[worst] << ", expected " << ep[worst];
}

std::string SanitizeTestName(const std::string& id) {
  std::string out;
  for (char c : id) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  if (out.empty()) out = "unnamed";
  return out;
}

}  // namespace qwen3tts::testing
