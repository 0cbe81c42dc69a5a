#include "common/util/json_fields.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"

namespace qwen3tts {

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  nlohmann::json parsed = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    // Re-parse with exceptions only to obtain the position for the message.
    try {
      nlohmann::json ignored = nlohmann::json::parse(*text);
      (void)ignored;
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number overflow
      return absl::InvalidArgumentError(absl::StrCat(path, ": invalid JSON: ", e.what()));
    }
    return absl::InvalidArgumentError(absl::StrCat(path, ": invalid JSON"));
  }
  return parsed;
}

JsonFields::JsonFields(const nlohmann::json* object, std::string file, std::string path)
    : object_(object), file_(std::move(file)), path_(std::move(path)) {}

absl::Status JsonFields::CheckIsObject() const {
  if (object_ == nullptr || !object_->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": ", path_.empty() ? "top level" : absl::StrCat("field '", path_, "'"),
                     ": expected a JSON object"));
  }
  return absl::OkStatus();
}

std::string JsonFields::Where(const std::string& key) const {
  return absl::StrCat(file_, ": field '", path_.empty() ? key : absl::StrCat(path_, ".", key), "'");
}

const nlohmann::json* JsonFields::Find(const std::string& key) const {
  if (object_ == nullptr || !object_->is_object()) return nullptr;
  auto it = object_->find(key);
  if (it == object_->end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonFields::Has(const std::string& key) const { return Find(key) != nullptr; }

absl::Status JsonFields::TypeError(const std::string& key, const char* expected) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return absl::InvalidArgumentError(absl::StrCat(Where(key), ": missing"));
  return absl::InvalidArgumentError(
      absl::StrCat(Where(key), ": expected ", expected, ", got ", v->type_name()));
}

absl::StatusOr<int64_t> JsonFields::Int(const std::string& key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr || !v->is_number_integer()) return TypeError(key, "integer");
  return v->get<int64_t>();
}
absl::StatusOr<int64_t> JsonFields::Int(const std::string& key, int64_t default_value) const {
  if (!Has(key)) return default_value;
  return Int(key);
}

absl::StatusOr<double> JsonFields::Double(const std::string& key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr || !v->is_number()) return TypeError(key, "number");
  return v->get<double>();
}
absl::StatusOr<double> JsonFields::Double(const std::string& key, double default_value) const {
  if (!Has(key)) return default_value;
  return Double(key);
}

absl::StatusOr<bool> JsonFields::Bool(const std::string& key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr || !v->is_boolean()) return TypeError(key, "boolean");
  return v->get<bool>();
}
absl::StatusOr<bool> JsonFields::Bool(const std::string& key, bool default_value) const {
  if (!Has(key)) return default_value;
  return Bool(key);
}

absl::StatusOr<std::string> JsonFields::String(const std::string& key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr || !v->is_string()) return TypeError(key, "string");
  return v->get<std::string>();
}
absl::StatusOr<std::string> JsonFields::String(const std::string& key,
                                               const std::string& default_value) const {
  if (!Has(key)) return default_value;
  return String(key);
}

absl::StatusOr<std::vector<int64_t>> JsonFields::IntList(const std::string& key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr || !v->is_array()) return TypeError(key, "array of integers");
  std::vector<int64_t> out;
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_number_integer()) {
      return absl::InvalidArgumentError(absl::StrCat(Where(key), "[", i, "]: expected integer, got ",
                                                     (*v)[i].type_name()));
    }
    out.push_back((*v)[i].get<int64_t>());
  }
  return out;
}
absl::StatusOr<std::vector<int64_t>> JsonFields::IntList(
    const std::string& key, const std::vector<int64_t>& default_value) const {
  if (!Has(key)) return default_value;
  return IntList(key);
}

absl::StatusOr<std::map<std::string, int64_t>> JsonFields::IntMap(const std::string& key) const {
  std::map<std::string, int64_t> out;
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return out;
  if (!v->is_object()) return TypeError(key, "object of integers");
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_number_integer()) {
      return absl::InvalidArgumentError(absl::StrCat(Where(key), ".", it.key(),
                                                     ": expected integer, got ",
                                                     it.value().type_name()));
    }
    out[it.key()] = it.value().get<int64_t>();
  }
  return out;
}

absl::StatusOr<std::optional<JsonFields>> JsonFields::OptionalObject(const std::string& key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return std::optional<JsonFields>();
  if (!v->is_object()) return TypeError(key, "object");
  return std::optional<JsonFields>(
      JsonFields(v, file_, path_.empty() ? key : absl::StrCat(path_, ".", key)));
}

absl::StatusOr<JsonFields> JsonFields::Object(const std::string& key) const {
  absl::StatusOr<std::optional<JsonFields>> sub = OptionalObject(key);
  if (!sub.ok()) return sub.status();
  if (!sub->has_value()) return TypeError(key, "object");
  return **sub;
}

}  // namespace qwen3tts
