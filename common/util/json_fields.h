// Typed access to JSON configuration files with errors that name the file and the field path,
// e.g. "config.json: field 'talker_config.hidden_size': expected integer, got string".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace qwen3tts {

// Parses a JSON file; INVALID_ARGUMENT with the parser's message (and byte offset) on bad JSON.
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);

// A view of one JSON object inside a file. Required getters fail when the key is missing or null;
// the overloads with a default return it for a missing or null key but still reject a wrong type.
class JsonFields {
 public:
  JsonFields(const nlohmann::json* object, std::string file, std::string path = "");

  // INVALID_ARGUMENT unless the viewed value is an object.
  absl::Status CheckIsObject() const;

  bool Has(const std::string& key) const;  // present and not null

  absl::StatusOr<int64_t> Int(const std::string& key) const;
  absl::StatusOr<int64_t> Int(const std::string& key, int64_t default_value) const;
  absl::StatusOr<double> Double(const std::string& key) const;
  absl::StatusOr<double> Double(const std::string& key, double default_value) const;
  absl::StatusOr<bool> Bool(const std::string& key) const;
  absl::StatusOr<bool> Bool(const std::string& key, bool default_value) const;
  absl::StatusOr<std::string> String(const std::string& key) const;
  absl::StatusOr<std::string> String(const std::string& key, const std::string& default_value) const;
  absl::StatusOr<std::vector<int64_t>> IntList(const std::string& key) const;
  absl::StatusOr<std::vector<int64_t>> IntList(const std::string& key,
                                               const std::vector<int64_t>& default_value) const;
  // An object mapping names to integers (e.g. spk_id); missing/null gives an empty map.
  absl::StatusOr<std::map<std::string, int64_t>> IntMap(const std::string& key) const;
  // Nested object; NOT an error when missing: returns nullopt.
  absl::StatusOr<std::optional<JsonFields>> OptionalObject(const std::string& key) const;
  absl::StatusOr<JsonFields> Object(const std::string& key) const;

  const nlohmann::json& json() const { return *object_; }
  const std::string& file() const { return file_; }
  // "file: field 'a.b.key'" for error messages.
  std::string Where(const std::string& key) const;

 private:
  const nlohmann::json* Find(const std::string& key) const;
  absl::Status TypeError(const std::string& key, const char* expected) const;

  const nlohmann::json* object_;
  std::string file_;
  std::string path_;
};

}  // namespace qwen3tts
