// Service configuration: command-line flags (--name value), environment variables
// (QWEN3TTS_<NAME>, e.g. QWEN3TTS_MODEL_DIR) and an optional YAML config file (--config FILE)
// whose keys are the flag names with '_' for '-' (model_dir: /models/x). Precedence: flag, then
// environment, then file, then the documented default. Unknown keys, non-scalar values, wrong types
// and out-of-range values are rejected at start-up with the key's path in the message.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace qwen3tts {

// One configuration key: its name in flag form ("model-dir"), type, allowed range or values, and
// default ("" = none).
struct FlagSpec {
  enum class Type { kString, kInt, kDouble, kBool };
  std::string name;
  Type type = Type::kString;
  std::string default_value;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  std::vector<std::string> choices;  // kString: the allowed values (empty = any)
  bool required = false;

  static FlagSpec String(std::string name, std::string default_value = "");
  static FlagSpec Required(std::string name);
  static FlagSpec OneOf(std::string name, std::vector<std::string> choices, std::string default_value);
  static FlagSpec Int(std::string name, int64_t default_value, int64_t min, int64_t max);
  static FlagSpec Double(std::string name, double default_value, double min, double max);
  static FlagSpec Bool(std::string name, bool default_value);
};

class Flags {
 public:
  // Untyped: every value is a string, no environment variables (the CLI's sub-commands).
  Flags(int argc, char** argv, const std::vector<std::string>& allowed);
  // Typed and validated, with QWEN3TTS_<NAME> environment overrides (the services).
  Flags(int argc, char** argv, const std::vector<FlagSpec>& specs);

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  // Typed getters for keys declared with that type (validated at construction); a key without a
  // value or default reads as 0 / false.
  int64_t GetInt(const std::string& name) const;
  double GetDouble(const std::string& name) const;
  bool GetBool(const std::string& name) const;

  // "usage: ..." text listing every key with its default.
  static std::string Usage(const std::string& program, const std::vector<FlagSpec>& specs);

 private:
  void ParseArgs(int argc, char** argv, const std::vector<std::string>& allowed);
  void LoadConfig(const std::string& path, const std::vector<std::string>& allowed);
  void Validate(const std::vector<FlagSpec>& specs);

  std::map<std::string, std::string> values_;
  // Where each value came from ("--threads", "$QWEN3TTS_THREADS", "talker.yaml: threads"), so
  // that an error names the place to fix.
  std::map<std::string, std::string> sources_;
  std::string config_path_;
  std::string error_;
};

}  // namespace qwen3tts
