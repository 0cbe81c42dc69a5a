#include "common/nn/snake_beta.h"

#include <algorithm>
#include <cmath>

#include "common/nn/cpu_features.h"
#include "common/nn/parallel.h"

namespace qwen3tts::nn {
namespace {

#if defined(QWEN3TTS_X86_KERNELS)
// The widest kernels the CPU has (both give the same bits).
struct SnakeKernels {
  decltype(&SnakeBetaOneChannelAvx2) one_channel;
  decltype(&SnakeBetaPerChannelAvx2) per_channel;
};
const SnakeKernels& Kernels() {
  static const SnakeKernels kernels = __builtin_cpu_supports("avx512f")
                                          ? SnakeKernels{SnakeBetaOneChannelAvx512, SnakeBetaPerChannelAvx512}
                                          : SnakeKernels{SnakeBetaOneChannelAvx2, SnakeBetaPerChannelAvx2};
  return kernels;
}
#endif

}  // namespace

float SnakeSlowSin(float a) { return static_cast<float>(std::sin(static_cast<double>(a))); }

bool SnakeBetaAvailable() { return CpuHasAvx2Fma(); }

void SnakeBetaChannelsFirst(const float* x, float* y, int64_t rows, int64_t steps, const float* alpha,
                            const float* inv_beta, int64_t channels) {
#if defined(QWEN3TTS_X86_KERNELS)
  const auto one_channel = Kernels().one_channel;
  ParallelFor(rows, SnakeRowsPerChunk(steps), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t c = r % channels;
      one_channel(x + r * steps, y + r * steps, steps, alpha[c], inv_beta[c], SnakeSlowSin);
    }
  });
#else
  (void)x, (void)y, (void)rows, (void)steps, (void)alpha, (void)inv_beta, (void)channels;
#endif
}

void SnakeBetaChannelsLast(const float* x, float* y, int64_t steps, int64_t channels, const float* alpha,
                           const float* inv_beta) {
#if defined(QWEN3TTS_X86_KERNELS)
  const auto per_channel = Kernels().per_channel;
  ParallelFor(steps, SnakeRowsPerChunk(channels), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      per_channel(x + t * channels, y + t * channels, channels, alpha, inv_beta, SnakeSlowSin);
    }
  });
#else
  (void)x, (void)y, (void)steps, (void)channels, (void)alpha, (void)inv_beta;
#endif
}

}  // namespace qwen3tts::nn
