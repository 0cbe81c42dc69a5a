// Minimal --name value command-line parsing for the service binaries.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace qwen3tts {

class Flags {
 public:
  Flags(int argc, char** argv, const std::vector<std::string>& allowed) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      std::string name = arg.rfind("--", 0) == 0 ? arg.substr(2) : "";
      bool known = false;
      for (const std::string& a : allowed) known = known || a == name;
      if (!known) {
        error_ = "unknown argument '" + arg + "'";
        return;
      }
      if (i + 1 >= argc) {
        error_ = "--" + name + " needs a value";
        return;
      }
      values_[name] = argv[++i];
    }
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }

 private:
  std::map<std::string, std::string> values_;
  std::string error_;
};

}  // namespace qwen3tts
