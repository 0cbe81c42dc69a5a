#include "services/common/flags.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

namespace qwen3tts {

Flags::Flags(int argc, char** argv, const std::vector<std::string>& allowed) {
  std::string config;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string name = arg.rfind("--", 0) == 0 ? arg.substr(2) : "";
    const bool known = name == "config" || std::find(allowed.begin(), allowed.end(), name) != allowed.end();
    if (!known) {
      error_ = "unknown argument '" + arg + "'";
      return;
    }
    if (i + 1 >= argc) {
      error_ = "--" + name + " needs a value";
      return;
    }
    if (name == "config") {
      config = argv[++i];
    } else {
      values_[name] = argv[++i];
    }
  }
  if (!config.empty()) LoadConfig(config, allowed);
}

void Flags::LoadConfig(const std::string& path, const std::vector<std::string>& allowed) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    error_ = path + ": " + e.what();
    return;
  }
  if (root.IsNull()) return;
  if (!root.IsMap()) {
    error_ = path + ": expected a mapping of settings";
    return;
  }
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    std::string flag = key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    if (std::find(allowed.begin(), allowed.end(), flag) == allowed.end()) {
      std::string names;
      for (std::string a : allowed) {
        std::replace(a.begin(), a.end(), '-', '_');
        names += (names.empty() ? "" : ", ") + a;
      }
      error_ = path + ": unknown key '" + key + "' (allowed: " + names + ")";
      return;
    }
    if (!item.second.IsScalar()) {
      error_ = path + ": key '" + key + "' must be a single value";
      return;
    }
    if (values_.count(flag) == 0) values_[flag] = item.second.as<std::string>();  // flags win
  }
}

}  // namespace qwen3tts
