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

}  // namespace qwen3tts::nn
