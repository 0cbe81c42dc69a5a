// Cloned voices persisted in a directory, one safetensors file per voice (speaker embedding,
// reference codes, metadata). Writes are crash-safe: temporary file, fsync, rename, fsync of the
// directory, so a voice is either entirely there or not at all; leftovers of interrupted writes
// are removed at start-up. Voice ids are validated before they touch the filesystem.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace qwen3tts {

struct StoredVoice {
  std::string id;
  std::string display_name;
  std::string reference_text;
  bool x_vector_only = false;
  double reference_seconds = 0;
  int64_t create_time_unix_seconds = 0;
  at::Tensor speaker_embedding;  // float32 [hidden]
  at::Tensor reference_codes;    // int64 [frames, 16]; undefined with x_vector_only
};

class VoiceStore {
 public:
  // Creates the directory if needed and loads every stored voice.
  static absl::StatusOr<std::unique_ptr<VoiceStore>> Open(const std::string& dir);

  // INVALID_ARGUMENT unless the id is 1-64 characters of [A-Za-z0-9_-].
  static absl::Status ValidateId(const std::string& id);

  // Assigns a fresh id, writes the voice durably, returns it with the id set.
  absl::StatusOr<StoredVoice> Create(StoredVoice voice);
  absl::StatusOr<StoredVoice> Get(const std::string& id) const;
  std::vector<StoredVoice> List() const;
  absl::Status Delete(const std::string& id);

 private:
  explicit VoiceStore(std::string dir) : dir_(std::move(dir)) {}
  std::string PathOf(const std::string& id) const;

  std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, StoredVoice> voices_;
};

}  // namespace qwen3tts
