// What the CPU offers the hand-vectorized kernels of common/nn, asked once per process.
#pragma once

namespace qwen3tts::nn {

// True where the CPU runs AVX2 and FMA, the instruction sets of the files built with -mavx2 -mfma
// (common/nn/CMakeLists.txt); false on other architectures, where those files are not built.
inline bool CpuHasAvx2Fma() {
#if defined(QWEN3TTS_X86_KERNELS)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

// AMX tile units. CpuHasAmx(unit) is true where the CPU has AMX-TILE and the unit (AMX-BF16 with
// AVX512-BF16; AMX-INT8 with AVX-512 VNNI, BW and VL) and the operating system lets the process use
// the tiles (Linux 5.16+: arch_prctl ARCH_REQ_XCOMP_PERM, asked once). The environment variable
// QWEN3TTS_AMX=0 turns the tiles off (for side-by-side benchmarks, or to keep a service off them).
enum class AmxUnit { kBf16, kInt8 };
bool CpuHasAmx(AmxUnit unit);

}  // namespace qwen3tts::nn
