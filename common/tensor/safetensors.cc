#include "common/tensor/safetensors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace qwen3tts {
namespace {

struct DTypeRow {
  StDType dtype;
  const char* name;
  size_t size;
  c10::ScalarType scalar;
};

constexpr DTypeRow kDTypes[] = {
    {StDType::kF64, "F64", 8, c10::ScalarType::Double},
    {StDType::kF32, "F32", 4, c10::ScalarType::Float},
    {StDType::kF16, "F16", 2, c10::ScalarType::Half},
    {StDType::kBF16, "BF16", 2, c10::ScalarType::BFloat16},
    {StDType::kI64, "I64", 8, c10::ScalarType::Long},
    {StDType::kI32, "I32", 4, c10::ScalarType::Int},
    {StDType::kI16, "I16", 2, c10::ScalarType::Short},
    {StDType::kI8, "I8", 1, c10::ScalarType::Char},
    {StDType::kU8, "U8", 1, c10::ScalarType::Byte},
    {StDType::kBool, "BOOL", 1, c10::ScalarType::Bool},
};

const DTypeRow& Row(StDType dtype) {
  for (const DTypeRow& row : kDTypes) {
    if (row.dtype == dtype) return row;
  }
  return kDTypes[1];
}

std::string SupportedDTypes() {
  std::vector<std::string> names;
  for (const DTypeRow& row : kDTypes) names.push_back(row.name);
  return absl::StrJoin(names, ", ");
}

// The header may not be absurdly large: the format's reference implementation caps it at 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

}  // namespace

absl::StatusOr<StDType> ParseStDType(std::string_view name) {
  for (const DTypeRow& row : kDTypes) {
    if (name == row.name) return row.dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype '", std::string(name), "' (supported: ", SupportedDTypes(), ")"));
}

const char* StDTypeName(StDType dtype) { return Row(dtype).name; }
size_t StDTypeSize(StDType dtype) { return Row(dtype).size; }
c10::ScalarType ToScalarType(StDType dtype) { return Row(dtype).scalar; }

absl::StatusOr<StDType> FromScalarType(c10::ScalarType type) {
  for (const DTypeRow& row : kDTypes) {
    if (row.scalar == type) return row.dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("tensor dtype ", c10::toString(type), " cannot be stored (supported: ",
                   SupportedDTypes(), ")"));
}

absl::StatusOr<std::vector<TensorEntry>> ParseSafetensorsHeader(
    std::string_view header_json, uint64_t data_size, const std::string& file,
    std::map<std::string, std::string>* metadata) {
  nlohmann::json header = nlohmann::json::parse(header_json.begin(), header_json.end(), nullptr,
                                                /*allow_exceptions=*/false);
  if (header.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": safetensors header is not valid JSON"));
  }
  if (!header.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": safetensors header must be a JSON object"));
  }
  std::vector<TensorEntry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": tensor '", name, "': ", why));
    };
    if (name == "__metadata__") {
      if (!v.is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(file, ": __metadata__ must be an object"));
      }
      if (metadata != nullptr) {
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (m.value().is_string()) (*metadata)[m.key()] = m.value().get<std::string>();
        }
      }
      continue;
    }
    if (!v.is_object()) return bad("entry must be an object");
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) return bad("missing string field 'dtype'");
    absl::StatusOr<StDType> dtype = ParseStDType(dt->get<std::string>());
    if (!dtype.ok()) return bad(std::string(dtype.status().message()));
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) return bad("missing array field 'shape'");
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned()) {
      return bad("'data_offsets' must be [begin, end] with non-negative integers");
    }
    TensorEntry entry;
    entry.name = name;
    entry.dtype = *dtype;
    uint64_t numel = 1;
    for (const nlohmann::json& d : *sh) {
      if (!d.is_number_unsigned()) return bad("shape entries must be non-negative integers");
      uint64_t dim = d.get<uint64_t>();
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim)) {
        return bad("shape overflows");
      }
      numel *= dim;
      entry.shape.push_back(static_cast<int64_t>(dim));
    }
    entry.begin = (*off)[0].get<uint64_t>();
    entry.end = (*off)[1].get<uint64_t>();
    if (entry.begin > entry.end || entry.end > data_size) {
      return bad(absl::StrCat("data_offsets [", entry.begin, ", ", entry.end,
                              "] out of range (data section has ", data_size, " bytes)"));
    }
    uint64_t elem = StDTypeSize(entry.dtype);
    if (numel > std::numeric_limits<uint64_t>::max() / elem || numel * elem != entry.end - entry.begin) {
      return bad(absl::StrCat("byte size ", entry.end - entry.begin, " does not match shape [",
                              absl::StrJoin(entry.shape, ","), "] of ", StDTypeName(entry.dtype)));
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<std::shared_ptr<const SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": file not found"));
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat(path, ": fstat failed: ", std::strerror(errno)));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": truncated safetensors file (", size, " bytes, need at least 8)"));
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) {
    return absl::InternalError(absl::StrCat(path, ": mmap failed: ", std::strerror(errno)));
  }
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->map_ = static_cast<const uint8_t*>(map);
  file->map_size_ = size;

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | file->map_[i];
  if (header_len > kMaxHeaderBytes || header_len > size - 8) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_len,
                                                   " exceeds the file size ", size,
                                                   " (truncated or not a safetensors file)"));
  }
  file->data_ = file->map_ + 8 + header_len;
  std::string_view header(reinterpret_cast<const char*>(file->map_ + 8), header_len);
  ASSIGN_OR_RETURN(std::vector<TensorEntry> entries,
                   ParseSafetensorsHeader(header, size - 8 - header_len, path, &file->metadata_));
  for (TensorEntry& e : entries) {
    std::string name = e.name;
    file->entries_.emplace(std::move(name), std::move(e));
  }
  return std::shared_ptr<const SafetensorsFile>(std::move(file));
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_size_);
}

const TensorEntry* SafetensorsFile::Find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

absl::StatusOr<at::Tensor> SafetensorsFile::Load(const std::string& name,
                                                 std::optional<c10::ScalarType> dtype) const {
  const TensorEntry* e = Find(name);
  if (e == nullptr) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor named '", name, "'"));
  }
  // from_blob does not copy; the result is always a fresh copy (it outlives the mapping and is
  // aligned), made by the conversion itself when there is one (no second full-size temporary).
  at::Tensor view = at::from_blob(const_cast<uint8_t*>(data_ + e->begin), e->shape,
                                  at::TensorOptions().dtype(ToScalarType(e->dtype)));
  if (dtype.has_value() && *dtype != view.scalar_type()) return view.to(*dtype);
  return view.clone();
}

absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    ASSIGN_OR_RETURN(StDType dtype, FromScalarType(tensor.scalar_type()));
    at::Tensor t = tensor.contiguous();
    uint64_t bytes = static_cast<uint64_t>(t.numel()) * StDTypeSize(dtype);
    header[name] = {{"dtype", std::string(StDTypeName(dtype))},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(std::move(t));
  }
  std::string header_text = header.dump();
  // Pad with spaces to 8-byte alignment so that data is aligned in a mapping (the format allows it).
  while ((header_text.size() % 8) != 0) header_text.push_back(' ');

  std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat(tmp, ": cannot create: ", std::strerror(errno)));
  }
  auto write_all = [fd](const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  uint8_t len_bytes[8];
  uint64_t len = header_text.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>(len >> (8 * i));
  bool ok = write_all(len_bytes, 8) && write_all(header_text.data(), header_text.size());
  for (const at::Tensor& t : contiguous) {
    if (!ok) break;
    ok = write_all(t.data_ptr(), t.numel() * t.element_size());
  }
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat(path, ": write failed: ", why));
  }
  return absl::OkStatus();
}

}  // namespace qwen3tts
