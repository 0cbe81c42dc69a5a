// libFuzzer target: the YAML config file of services/common/flags.h (--config FILE). The bytes
// are written to a temp file and loaded through both Flags constructors (untyped and typed with
// every FlagSpec kind). Must never crash or throw: a bad file is an error() message.
#include <unistd.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "services/common/flags.h"

namespace {

const std::vector<qwen3tts::FlagSpec>& Specs() {
  using qwen3tts::FlagSpec;
  static const std::vector<FlagSpec> specs = {
      FlagSpec::String("model-dir", "/models/x"),
      FlagSpec::Required("listen"),
      FlagSpec::OneOf("dtype", {"float32", "bfloat16"}, "float32"),
      FlagSpec::Int("threads", 1, 1, 256),
      FlagSpec::Int("max-batch", 8, 0, INT64_MAX),
      FlagSpec::Double("temperature", 0.9, 0.0, 10.0),
      FlagSpec::Double("timeout-s", 30.0, -1e300, 1e300),
      FlagSpec::Bool("json-logs", false),
  };
  return specs;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // The environment must not feed values into the typed constructor.
  for (const auto& s : Specs()) {
    std::string env = "QWEN3TTS_" + s.name;
    for (char& c : env) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ::unsetenv(env.c_str());
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/qwen3tts_flags_fuzz_" + std::to_string(::getpid()) + ".yaml";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);

  std::string arg0 = "fuzz", arg1 = "--config", arg2 = path;
  char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};

  std::vector<std::string> allowed;
  for (const auto& s : Specs()) allowed.push_back(s.name);
  qwen3tts::Flags untyped(3, argv, allowed);
  if (untyped.ok()) {
    for (const auto& name : allowed) (void)untyped.Get(name);
  } else if (untyped.error().empty()) {
    std::abort();
  }

  qwen3tts::Flags typed(3, argv, Specs());
  if (typed.ok()) {
    for (const auto& s : Specs()) {
      switch (s.type) {
        case qwen3tts::FlagSpec::Type::kInt: {
          const int64_t v = typed.GetInt(s.name);
          if (static_cast<double>(v) < s.min || static_cast<double>(v) > s.max) std::abort();
          break;
        }
        case qwen3tts::FlagSpec::Type::kDouble: {
          const double v = typed.GetDouble(s.name);
          if (!(v >= s.min && v <= s.max)) std::abort();
          break;
        }
        case qwen3tts::FlagSpec::Type::kBool:
          (void)typed.GetBool(s.name);
          break;
        case qwen3tts::FlagSpec::Type::kString:
          if (s.required && !typed.Has(s.name)) std::abort();
          break;
      }
    }
  }
  return 0;
}
