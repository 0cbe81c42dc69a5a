// Safetensors reading (mmap, validated header) and writing.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}
// then the raw little-endian tensor bytes; offsets are relative to the end of the header.
#pragma once

#include <ATen/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace qwen3tts {

enum class StDType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// "F32" <-> StDType; the name list in errors is the set of supported dtypes.
absl::StatusOr<StDType> ParseStDType(std::string_view name);
const char* StDTypeName(StDType dtype);
size_t StDTypeSize(StDType dtype);
c10::ScalarType ToScalarType(StDType dtype);
absl::StatusOr<StDType> FromScalarType(c10::ScalarType type);

struct TensorEntry {
  std::string name;
  StDType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the data section
  uint64_t end = 0;
};

// Parses and validates a header (the JSON text only). `data_size` is the size of the data
// section, used to reject out-of-range offsets. `file` is used in error messages only.
// Exposed separately so that it can be fuzzed without files.
absl::StatusOr<std::vector<TensorEntry>> ParseSafetensorsHeader(
    std::string_view header_json, uint64_t data_size, const std::string& file,
    std::map<std::string, std::string>* metadata = nullptr);

// One .safetensors file, memory-mapped read-only for its whole lifetime.
class SafetensorsFile {
 public:
  static absl::StatusOr<std::shared_ptr<const SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool Has(const std::string& name) const { return entries_.count(name) != 0; }
  const TensorEntry* Find(const std::string& name) const;

  // Copies the tensor out of the mapping, converted to `dtype` (its stored dtype when unset).
  // NOT_FOUND naming the file when the name is absent.
  absl::StatusOr<at::Tensor> Load(const std::string& name,
                                  std::optional<c10::ScalarType> dtype = std::nullopt) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section inside the mapping
  std::map<std::string, TensorEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors (any supported dtype, made contiguous) to `path` atomically
// (temporary file + fsync + rename).
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace qwen3tts
