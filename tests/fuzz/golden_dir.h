// Where the fuzzers find the tiny golden models: $QWEN3TTS_GOLDEN_DIR, else the compiled-in default
// (../shared/golden beside the checkout).
#pragma once

#include <cstdlib>
#include <string>

namespace qwen3tts_fuzz {

inline std::string GoldenModelDir(const char* model) {
  const char* env = std::getenv("QWEN3TTS_GOLDEN_DIR");
  std::string root = (env != nullptr && *env != '\0') ? env : QWEN3TTS_DEFAULT_GOLDEN_DIR;
  return root + "/models/" + model;
}

}  // namespace qwen3tts_fuzz
