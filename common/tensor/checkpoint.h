// The weights of one model directory: a single model.safetensors, or sharded files listed by
// model.safetensors.index.json ({"weight_map": {tensor name: shard file}}).
#pragma once

#include <ATen/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor/safetensors.h"

namespace qwen3tts {

class Checkpoint {
 public:
  // `path` is a directory (index file preferred, else model.safetensors) or a .safetensors file.
  static absl::StatusOr<Checkpoint> Open(const std::string& path);

  bool Has(const std::string& name) const { return index_.count(name) != 0; }
  const TensorEntry* Find(const std::string& name) const;
  // Names in sorted order.
  std::vector<std::string> Names() const;
  // Names that start with `prefix` (e.g. "talker.model.layers.0.").
  std::vector<std::string> NamesWithPrefix(const std::string& prefix) const;

  // Loads a tensor converted to `dtype` (float32 by default: BF16 checkpoints are widened).
  // NOT_FOUND naming the checkpoint and tensor when absent.
  absl::StatusOr<at::Tensor> Load(const std::string& name,
                                  c10::ScalarType dtype = c10::ScalarType::Float) const;
  // Like Load, but also checks the shape; INVALID_ARGUMENT naming the tensor, the expected and
  // the actual shape when they differ.
  absl::StatusOr<at::Tensor> LoadShaped(const std::string& name, const std::vector<int64_t>& shape,
                                        c10::ScalarType dtype = c10::ScalarType::Float) const;

  const std::string& path() const { return path_; }
  // Total bytes of all tensors as stored.
  uint64_t StoredBytes() const;

 private:
  std::string path_;
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> index_;
};

}  // namespace qwen3tts
