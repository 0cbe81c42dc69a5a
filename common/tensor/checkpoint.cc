#include "common/tensor/checkpoint.h"

#include <ATen/ATen.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/file_util.h"
#include "common/util/json_fields.h"
#include "common/util/status_macros.h"

namespace qwen3tts {

namespace {
constexpr char kIndexFile[] = "model.safetensors.index.json";
constexpr char kSingleFile[] = "model.safetensors";
}  // namespace

absl::StatusOr<Checkpoint> Checkpoint::Open(const std::string& path) {
  Checkpoint ckpt;
  ckpt.path_ = path;
  if (!IsDirectory(path)) {
    ASSIGN_OR_RETURN(std::shared_ptr<const SafetensorsFile> file, SafetensorsFile::Open(path));
    for (const auto& [name, entry] : file->entries()) ckpt.index_[name] = file.get();
    ckpt.files_.push_back(std::move(file));
    return ckpt;
  }

  const std::string index_path = JoinPath(path, kIndexFile);
  if (PathExists(index_path)) {
    ASSIGN_OR_RETURN(nlohmann::json index, ReadJsonFile(index_path));
    JsonFields fields(&index, index_path);
    RETURN_IF_ERROR(fields.CheckIsObject());
    ASSIGN_OR_RETURN(JsonFields weight_map, fields.Object("weight_map"));
    std::map<std::string, const SafetensorsFile*> shard_by_name;
    for (auto it = weight_map.json().begin(); it != weight_map.json().end(); ++it) {
      if (!it.value().is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(weight_map.Where(it.key()), ": expected a shard file name"));
      }
      const std::string shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos || shard == ".." || shard.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(weight_map.Where(it.key()), ": shard '", shard, "' must be a plain file name"));
      }
      if (shard_by_name.count(shard) == 0) {
        ASSIGN_OR_RETURN(std::shared_ptr<const SafetensorsFile> file,
                         SafetensorsFile::Open(JoinPath(path, shard)));
        shard_by_name[shard] = file.get();
        ckpt.files_.push_back(std::move(file));
      }
      const SafetensorsFile* file = shard_by_name[shard];
      if (!file->Has(it.key())) {
        return absl::InvalidArgumentError(absl::StrCat(index_path, ": tensor '", it.key(),
                                                       "' is mapped to ", shard,
                                                       " but that shard does not contain it"));
      }
      ckpt.index_[it.key()] = file;
    }
    return ckpt;
  }

  const std::string single = JoinPath(path, kSingleFile);
  if (!PathExists(single)) {
    return absl::NotFoundError(
        absl::StrCat(path, ": neither ", kIndexFile, " nor ", kSingleFile, " found"));
  }
  return Open(single);
}

const TensorEntry* Checkpoint::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second->Find(name);
}

std::vector<std::string> Checkpoint::Names() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& [name, file] : index_) names.push_back(name);
  return names;
}

std::vector<std::string> Checkpoint::NamesWithPrefix(const std::string& prefix) const {
  std::vector<std::string> names;
  for (auto it = index_.lower_bound(prefix); it != index_.end() && absl::StartsWith(it->first, prefix);
       ++it) {
    names.push_back(it->first);
  }
  return names;
}

absl::StatusOr<at::Tensor> Checkpoint::Load(const std::string& name, c10::ScalarType dtype) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat(path_, ": checkpoint has no tensor '", name, "'"));
  }
  return it->second->Load(name, dtype);
}

absl::StatusOr<at::Tensor> Checkpoint::LoadShaped(const std::string& name,
                                                  const std::vector<int64_t>& shape,
                                                  c10::ScalarType dtype) const {
  const TensorEntry* entry = Find(name);
  if (entry == nullptr) {
    return absl::NotFoundError(absl::StrCat(path_, ": checkpoint has no tensor '", name, "'"));
  }
  if (entry->shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": tensor '", name, "' has shape [", absl::StrJoin(entry->shape, ", "),
        "], the config implies [", absl::StrJoin(shape, ", "), "]"));
  }
  return Load(name, dtype);
}

uint64_t Checkpoint::StoredBytes() const {
  uint64_t total = 0;
  for (const auto& [name, file] : index_) {
    const TensorEntry* e = file->Find(name);
    total += e->end - e->begin;
  }
  return total;
}

}  // namespace qwen3tts
