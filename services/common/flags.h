// Command-line flags (--name value) with an optional YAML config file (--config FILE) whose keys
// are the flag names with '_' for '-' (model_dir: /models/x). Flags override the file. Unknown
// keys and non-scalar values are rejected with the key's path.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace qwen3tts {

class Flags {
 public:
  Flags(int argc, char** argv, const std::vector<std::string>& allowed);
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }

 private:
  void LoadConfig(const std::string& path, const std::vector<std::string>& allowed);
  std::map<std::string, std::string> values_;
  std::string error_;
};

}  // namespace qwen3tts
