#include "services/common/flags.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"

namespace qwen3tts {

namespace {

std::string KeyName(std::string flag) {
  std::replace(flag.begin(), flag.end(), '-', '_');
  return flag;
}

std::string EnvName(const std::string& flag) {
  std::string env = "QWEN3TTS_" + KeyName(flag);
  for (char& c : env) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return env;
}

std::string FormatNumber(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string RangeText(const FlagSpec& s) {
  return "[" + FormatNumber(s.min) + ", " + FormatNumber(s.max) + "]";
}

}  // namespace

FlagSpec FlagSpec::String(std::string name, std::string default_value) {
  FlagSpec s;
  s.name = std::move(name);
  s.default_value = std::move(default_value);
  return s;
}

FlagSpec FlagSpec::Required(std::string name) {
  FlagSpec s = String(std::move(name));
  s.required = true;
  return s;
}

FlagSpec FlagSpec::OneOf(std::string name, std::vector<std::string> choices, std::string default_value) {
  FlagSpec s = String(std::move(name), std::move(default_value));
  s.choices = std::move(choices);
  return s;
}

FlagSpec FlagSpec::Int(std::string name, int64_t default_value, int64_t min, int64_t max) {
  FlagSpec s;
  s.name = std::move(name);
  s.type = Type::kInt;
  s.default_value = std::to_string(default_value);
  s.min = static_cast<double>(min);
  s.max = static_cast<double>(max);
  return s;
}

FlagSpec FlagSpec::Double(std::string name, double default_value, double min, double max) {
  FlagSpec s;
  s.name = std::move(name);
  s.type = Type::kDouble;
  s.default_value = FormatNumber(default_value);
  s.min = min;
  s.max = max;
  return s;
}

FlagSpec FlagSpec::Bool(std::string name, bool default_value) {
  FlagSpec s;
  s.name = std::move(name);
  s.type = Type::kBool;
  s.default_value = default_value ? "true" : "false";
  return s;
}

Flags::Flags(int argc, char** argv, const std::vector<std::string>& allowed) {
  ParseArgs(argc, argv, allowed);
  if (ok() && !config_path_.empty()) LoadConfig(config_path_, allowed);
}

Flags::Flags(int argc, char** argv, const std::vector<FlagSpec>& specs) {
  std::vector<std::string> allowed;
  for (const FlagSpec& s : specs) allowed.push_back(s.name);
  ParseArgs(argc, argv, allowed);
  if (!ok()) return;
  for (const FlagSpec& s : specs) {
    if (values_.count(s.name) != 0) continue;
    if (const char* env = std::getenv(EnvName(s.name).c_str()); env != nullptr) {
      values_[s.name] = env;
      sources_[s.name] = "$" + EnvName(s.name);
    }
  }
  if (!config_path_.empty()) LoadConfig(config_path_, allowed);
  if (ok()) Validate(specs);
}

void Flags::ParseArgs(int argc, char** argv, const std::vector<std::string>& allowed) {
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
      config_path_ = argv[++i];
    } else {
      values_[name] = argv[++i];
      sources_[name] = "--" + name;
    }
  }
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
    if (!item.first.IsScalar()) {
      error_ = path + ": keys must be plain names";
      return;
    }
    const std::string key = item.first.as<std::string>();
    std::string flag = key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    if (std::find(allowed.begin(), allowed.end(), flag) == allowed.end()) {
      std::vector<std::string> names;
      for (const std::string& a : allowed) names.push_back(KeyName(a));
      error_ = path + ": unknown key '" + key + "' (allowed: " + absl::StrJoin(names, ", ") + ")";
      return;
    }
    if (!item.second.IsScalar()) {
      error_ = path + ": key '" + key + "' must be a single value";
      return;
    }
    if (values_.count(flag) == 0) {  // flags and environment win
      values_[flag] = item.second.as<std::string>();
      sources_[flag] = path + ": " + key;
    }
  }
}

void Flags::Validate(const std::vector<FlagSpec>& specs) {
  for (const FlagSpec& s : specs) {
    auto it = values_.find(s.name);
    if (it == values_.end()) {
      if (s.required) {
        error_ = "missing required setting '" + KeyName(s.name) + "' (flag --" + s.name + ", environment " +
                 EnvName(s.name) + ", or config file key)";
        return;
      }
      if (!s.default_value.empty()) values_[s.name] = s.default_value;
      continue;
    }
    const std::string& value = it->second;
    const std::string where = sources_[s.name];
    switch (s.type) {
      case FlagSpec::Type::kString:
        if (!s.choices.empty() && std::find(s.choices.begin(), s.choices.end(), value) == s.choices.end()) {
          error_ = where + ": '" + value + "' is not one of " + absl::StrJoin(s.choices, ", ");
          return;
        }
        break;
      case FlagSpec::Type::kInt: {
        int64_t v = 0;
        if (!absl::SimpleAtoi(value, &v)) {
          error_ = where + ": expected an integer in " + RangeText(s) + ", got '" + value + "'";
          return;
        }
        if (v < s.min || v > s.max) {
          error_ = where + ": " + value + " is out of range " + RangeText(s);
          return;
        }
        break;
      }
      case FlagSpec::Type::kDouble: {
        double v = 0;
        if (!absl::SimpleAtod(value, &v) || !std::isfinite(v)) {
          error_ = where + ": expected a number in " + RangeText(s) + ", got '" + value + "'";
          return;
        }
        if (v < s.min || v > s.max) {
          error_ = where + ": " + value + " is out of range " + RangeText(s);
          return;
        }
        break;
      }
      case FlagSpec::Type::kBool: {
        bool v = false;
        if (!absl::SimpleAtob(value, &v)) {
          error_ = where + ": expected true or false, got '" + value + "'";
          return;
        }
        break;
      }
    }
  }
}

int64_t Flags::GetInt(const std::string& name) const {
  int64_t v = 0;
  return absl::SimpleAtoi(Get(name), &v) ? v : 0;
}

double Flags::GetDouble(const std::string& name) const {
  double v = 0;
  return absl::SimpleAtod(Get(name), &v) ? v : 0;
}

bool Flags::GetBool(const std::string& name) const {
  bool v = false;
  return absl::SimpleAtob(Get(name), &v) && v;
}

std::string Flags::Usage(const std::string& program, const std::vector<FlagSpec>& specs) {
  std::string out = "usage: " + program + " [--config FILE.yaml]";
  for (const FlagSpec& s : specs) {
    out += s.required ? " --" + s.name + " VALUE" : " [--" + s.name + " " +
                                                       (s.default_value.empty() ? "VALUE" : s.default_value) + "]";
  }
  return out + "\nEvery flag can also be set as QWEN3TTS_<NAME> in the environment or as a key of the config file.";
}

}  // namespace qwen3tts
