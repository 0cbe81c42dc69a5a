#include "common/nn/row_ops.h"

#include <algorithm>
#include <cmath>

#include "common/nn/cpu_features.h"
#include "common/nn/float_gemv.h"
#include "common/nn/parallel.h"

namespace qwen3tts::nn {

namespace {

// The sum of x[i]^2 in double: the mean of squares stays exact to float precision for any width
// (each square of a float is exact in double). Eight partial sums, not one: a single chain of
// double additions waits on each add's latency, ~4 cycles per element, and the norms of a batched
// decoding step see millions of elements (0.6B int4 talker, 8 sequences: ~5 ms of a ~90 ms step,
// hidden-size norms and Qwen3's per-head q/k norms). Eight chains fill two vector registers, and
// the order of a few double additions does not change the float variance.
#if defined(QWEN3TTS_X86_KERNELS)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
double SumOfSquares(const float* x, int64_t n) {
  constexpr int kChains = 8;
  double partial[kChains] = {};
  int64_t i = 0;
  for (; i + kChains <= n; i += kChains) {
    for (int k = 0; k < kChains; ++k) partial[k] += static_cast<double>(x[i + k]) * x[i + k];
  }
  for (int k = 0; i < n; ++i, ++k) partial[k] += static_cast<double>(x[i]) * x[i];
  double sum = 0;
  for (int k = 0; k < kChains; ++k) sum += partial[k];
  return sum;
}

}  // namespace

void RmsNormRows(const float* x, int64_t rows, int64_t n, const float* weight, double eps, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    const double sum = SumOfSquares(xr, n);
    const float variance = static_cast<float>(sum / static_cast<double>(n));
    const float inverse = 1.0f / std::sqrt(variance + static_cast<float>(eps));
    for (int64_t i = 0; i < n; ++i) yr[i] = weight[i] * (xr[i] * inverse);
  }
}

void LayerNormRows(const float* x, int64_t rows, int64_t n, const float* weight, const float* bias, double eps,
                   float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    double sum = 0, sum_sq = 0;
    for (int64_t i = 0; i < n; ++i) sum += xr[i];
    const double mean = sum / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) sum_sq += (xr[i] - mean) * (xr[i] - mean);
    const float mean_f = static_cast<float>(mean);
    const float inverse = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps));
    for (int64_t i = 0; i < n; ++i) {
      const float v = (xr[i] - mean_f) * inverse;
      yr[i] = weight ? (bias ? v * weight[i] + bias[i] : v * weight[i]) : v;
    }
  }
}

void RotateHalf(float* x, int64_t heads, int64_t d, const float* cos, const float* sin) {
  const int64_t half = d / 2;
  for (int64_t h = 0; h < heads; ++h) {
    float* xh = x + h * d;
    for (int64_t i = 0; i < half; ++i) {
      const float a = xh[i], b = xh[i + half];
      xh[i] = a * cos[i] + (-b) * sin[i];
      xh[i + half] = b * cos[i + half] + a * sin[i + half];
    }
  }
}

void SiluMulPortable(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

bool SiluMulAvx2Available() { return CpuHasAvx2Fma(); }

#if !defined(QWEN3TTS_X86_KERNELS)
void SiluMulAvx2(float* gate, const float* up, int64_t n) { SiluMulPortable(gate, up, n); }
#endif

// Why a vector exp: libm's expf, one value at a time, made SwiGLU ~5 % of a batched decoding
// step's CPU (0.6B int4 talker, 8 sequences: ~2.5 million values per step).
void SiluMul(float* gate, const float* up, int64_t n) {
  if (SiluMulAvx2Available()) {
    SiluMulAvx2(gate, up, n);
  } else {
    SiluMulPortable(gate, up, n);
  }
}

void Gelu(float* x, int64_t n) {
  constexpr float kInvSqrt2 = 0.70710678118654752440f;
  for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * kInvSqrt2));
}

void AddScaledRows(float* y, const float* x, const float* scale, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * n;
    const float* xr = x + r * n;
    if (scale) {
      for (int64_t i = 0; i < n; ++i) yr[i] += xr[i] * scale[i];
    } else {
      for (int64_t i = 0; i < n; ++i) yr[i] += xr[i];
    }
  }
}

namespace {

// Heads [g * groups, (g + 1) * groups) against kv head g. Compiled for AVX-512 and AVX2 too: the
// weighted sum of the values (length x d multiply-adds per head) was 4 lanes wide in the baseline
// build.
#if defined(QWEN3TTS_X86_KERNELS)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
void AttendKvHead(const float* q, int64_t groups, int64_t d, const float* keys, const float* values, int64_t length,
                  float* scores, float* out) {
  // Scores of all the group's heads in one pass over the keys: the keys are the "weight" rows.
  FloatGemvInto(keys, length, d, q, groups, scores, FloatKernel::kAuto, /*threads=*/1);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  for (int64_t h = 0; h < groups; ++h) {
    float* s = scores + h * length;
    float max_score = -INFINITY;
    for (int64_t l = 0; l < length; ++l) {
      s[l] *= scale;
      max_score = std::max(max_score, s[l]);
    }
    float sum = 0;
    for (int64_t l = 0; l < length; ++l) {
      s[l] = std::exp(s[l] - max_score);
      sum += s[l];
    }
    const float inverse = 1.0f / sum;
    float* o = out + h * d;
    std::fill(o, o + d, 0.0f);
    for (int64_t l = 0; l < length; ++l) {
      const float p = s[l] * inverse;
      const float* v = values + l * d;
      for (int64_t i = 0; i < d; ++i) o[i] += p * v[i];
    }
  }
}

}  // namespace

void AttendOnePosition(const float* q, int64_t heads, int64_t kv_heads, int64_t d, const float* keys,
                       const float* values, int64_t kv_stride, int64_t length, float* scores, float* out) {
  struct Job {
    const float *q, *keys, *values;
    int64_t groups, d, kv_stride, length;
    float *scores, *out;
    void operator()(int64_t begin, int64_t end) const {
      for (int64_t g = begin; g < end; ++g) {
        AttendKvHead(q + g * groups * d, groups, d, keys + g * kv_stride, values + g * kv_stride, length,
                     scores + g * groups * length, out + g * groups * d);
      }
    }
  };
  const Job job{q, keys, values, heads / kv_heads, d, kv_stride, length, scores, out};
  // Below ~64k multiply-adds a split costs more in hand-over than it saves (the code predictor's
  // 17 positions); the talker's hundreds of positions are worth both cores.
  if (heads * length * d < (int64_t{1} << 16)) {
    job(0, kv_heads);
  } else {
    ParallelFor(kv_heads, /*grain=*/1, job);
  }
}

}  // namespace qwen3tts::nn
