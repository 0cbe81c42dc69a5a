// libFuzzer target: the safetensors header parser must reject any byte string cleanly.
// The first 8 bytes give a pretend data-section size; the rest is the header JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/tensor/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint64_t data_size = 0;
  size_t skip = size < 8 ? size : 8;
  for (size_t i = 0; i < skip; ++i) data_size = (data_size << 8) | data[i];
  std::string_view header(reinterpret_cast<const char*>(data + skip), size - skip);
  auto entries = qwen3tts::ParseSafetensorsHeader(header, data_size % (1u << 20), "fuzz");
  if (entries.ok()) {
    for (const auto& e : *entries) {
      // Invariants the loader relies on.
      if (e.begin > e.end) __builtin_trap();
    }
  }
  return 0;
}
