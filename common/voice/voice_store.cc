#include "common/voice/voice_store.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/tensor/safetensors.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

namespace fs = std::filesystem;
constexpr char kSuffix[] = ".voice.safetensors";

std::string NewId() {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  static const char* hex = "0123456789abcdef";
  std::string id = "v_";
  uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) id.push_back(hex[(i < 8 ? a >> (4 * i) : b >> (4 * (i - 8))) & 15]);
  return id;
}

absl::StatusOr<StoredVoice> ReadVoice(const std::string& path, const std::string& id) {
  ASSIGN_OR_RETURN(std::shared_ptr<const SafetensorsFile> file, SafetensorsFile::Open(path));
  StoredVoice v;
  v.id = id;
  const auto& meta = file->metadata();
  auto get = [&](const char* key) {
    auto it = meta.find(key);
    return it == meta.end() ? std::string() : it->second;
  };
  v.display_name = get("display_name");
  v.reference_text = get("reference_text");
  v.x_vector_only = get("x_vector_only") == "true";
  (void)absl::SimpleAtod(get("reference_seconds"), &v.reference_seconds);
  (void)absl::SimpleAtoi(get("create_time_unix_seconds"), &v.create_time_unix_seconds);
  ASSIGN_OR_RETURN(v.speaker_embedding, file->Load("speaker_embedding", at::kFloat));
  if (file->Has("reference_codes")) {
    ASSIGN_OR_RETURN(v.reference_codes, file->Load("reference_codes", at::kLong));
  }
  return v;
}

}  // namespace

absl::Status VoiceStore::ValidateId(const std::string& id) {
  if (id.empty() || id.size() > 64) return absl::InvalidArgumentError("voice_id must be 1 to 64 characters");
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
      return absl::InvalidArgumentError("voice_id may contain only letters, digits, '_' and '-'");
    }
  }
  return absl::OkStatus();
}

std::string VoiceStore::PathOf(const std::string& id) const { return (fs::path(dir_) / (id + kSuffix)).string(); }

absl::StatusOr<std::unique_ptr<VoiceStore>> VoiceStore::Open(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(dir, ": cannot create the voice directory: ", ec.message()));
  std::unique_ptr<VoiceStore> store(new VoiceStore(dir));
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) {
      fs::remove(entry.path(), ec);  // an interrupted write: never visible as a voice
      continue;
    }
    const std::string suffix = kSuffix;
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string id = name.substr(0, name.size() - suffix.size());
    if (!ValidateId(id).ok()) continue;
    absl::StatusOr<StoredVoice> voice = ReadVoice(entry.path().string(), id);
    if (!voice.ok()) return absl::DataLossError(absl::StrCat(entry.path().string(), ": unreadable voice: ", voice.status().message()));
    store->voices_[id] = *voice;
  }
  if (ec) return absl::PermissionDeniedError(absl::StrCat(dir, ": cannot list: ", ec.message()));
  return store;
}

absl::StatusOr<StoredVoice> VoiceStore::Create(StoredVoice v) {
  v.id = NewId();
  v.create_time_unix_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<std::pair<std::string, at::Tensor>> tensors = {{"speaker_embedding", v.speaker_embedding.to(at::kFloat).contiguous()}};
  if (v.reference_codes.defined()) tensors.emplace_back("reference_codes", v.reference_codes.to(at::kLong).contiguous());
  std::map<std::string, std::string> meta = {{"display_name", v.display_name},
                                             {"reference_text", v.reference_text},
                                             {"x_vector_only", v.x_vector_only ? "true" : "false"},
                                             {"reference_seconds", absl::StrCat(v.reference_seconds)},
                                             {"create_time_unix_seconds", absl::StrCat(v.create_time_unix_seconds)}};
  RETURN_IF_ERROR(WriteSafetensors(PathOf(v.id), tensors, meta));
  // The rename is durable only once the directory entry is on disk.
  int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  std::lock_guard<std::mutex> lock(mu_);
  voices_[v.id] = v;
  return v;
}

absl::StatusOr<StoredVoice> VoiceStore::Get(const std::string& id) const {
  RETURN_IF_ERROR(ValidateId(id));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = voices_.find(id);
  if (it == voices_.end()) return absl::NotFoundError(absl::StrCat("voice '", id, "' not found"));
  return it->second;
}

std::vector<StoredVoice> VoiceStore::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StoredVoice> out;
  for (const auto& [id, v] : voices_) out.push_back(v);
  return out;
}

absl::Status VoiceStore::Delete(const std::string& id) {
  RETURN_IF_ERROR(ValidateId(id));
  std::lock_guard<std::mutex> lock(mu_);
  if (voices_.erase(id) == 0) return absl::NotFoundError(absl::StrCat("voice '", id, "' not found"));
  std::error_code ec;
  fs::remove(PathOf(id), ec);
  if (ec) return absl::InternalError(absl::StrCat("voice '", id, "': cannot delete: ", ec.message()));
  return absl::OkStatus();
}

}  // namespace qwen3tts
