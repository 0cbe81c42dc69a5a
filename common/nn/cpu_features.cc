#include "common/nn/cpu_features.h"

#include <cstdlib>
#include <cstring>

#if defined(QWEN3TTS_X86_KERNELS)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

namespace qwen3tts::nn {
namespace {

#if defined(QWEN3TTS_X86_KERNELS) && defined(__linux__)
// The tile registers' 8 KB of state is off for a process until it asks; the request fails on older
// kernels and where a thread's signal stack is too small for the state. Asked once per process.
bool TilesPermitted() {
  static const bool permitted = [] {
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return permitted;
}

bool DetectAmx(AmxUnit unit) {
  const char* setting = std::getenv("QWEN3TTS_AMX");
  if (setting != nullptr && std::strcmp(setting, "0") == 0) return false;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  constexpr unsigned kAmxBf16 = 1u << 22, kAmxTile = 1u << 24, kAmxInt8 = 1u << 25;
  if ((edx & kAmxTile) == 0) return false;
  const bool unit_present =
      unit == AmxUnit::kBf16
          ? (edx & kAmxBf16) != 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16")
          : (edx & kAmxInt8) != 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  return unit_present && TilesPermitted();
}
#else
bool DetectAmx(AmxUnit) { return false; }
#endif

}  // namespace

bool CpuHasAmx(AmxUnit unit) {
  static const bool bf16 = DetectAmx(AmxUnit::kBf16), int8 = DetectAmx(AmxUnit::kInt8);
  return unit == AmxUnit::kBf16 ? bf16 : int8;
}

}  // namespace qwen3tts::nn
