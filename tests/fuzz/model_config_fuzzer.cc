// libFuzzer target: config.json / speech_tokenizer config.json parsing never crashes on any input.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "common/tensor/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/qwen3tts_config_fuzz_" + std::to_string(::getpid()) + ".json";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  (void)qwen3tts::ParseModelConfig(path);
  (void)qwen3tts::ParseSpeechTokenizerConfig(path);
  (void)qwen3tts::ParseGenerationConfig(path);
  return 0;
}
