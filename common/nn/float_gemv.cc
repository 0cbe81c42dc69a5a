#include "common/nn/float_gemv.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <type_traits>

#include "common/nn/float_dot.h"
#include "common/nn/parallel.h"

namespace qwen3tts::nn {

namespace {

inline float WeightValue(float w) { return w; }
inline float WeightValue(uint16_t bfloat16_bits) {
  const uint32_t bits = static_cast<uint32_t>(bfloat16_bits) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

template <typename Weight>
void GemvRangeScalar(const GemvProblem<Weight>& p, int64_t begin, int64_t end) {
  const int64_t padded = (p.in + 7) & ~int64_t{7};
  for (int64_t o = begin; o < end; ++o) {
    const Weight* w = p.w + o * p.in;
    for (int64_t r = 0; r < p.rows; ++r) {
      const float* x = p.x + r * p.ldx;
      float t[8] = {};
      // The padding lanes take part (0 * 0 added), exactly as the masked vector loads do.
      for (int64_t i = 0; i < padded; ++i) {
        t[i & 7] = i < p.in ? std::fma(x[i], WeightValue(w[i]), t[i & 7]) : std::fma(0.0f, 0.0f, t[i & 7]);
      }
      p.y[r * p.ldy + o] = ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
    }
  }
}

}  // namespace

void FloatGemvRangeScalar(const FloatGemvProblem& p, int64_t begin, int64_t end) { GemvRangeScalar(p, begin, end); }
void Bf16GemvRangeScalar(const Bf16GemvProblem& p, int64_t begin, int64_t end) { GemvRangeScalar(p, begin, end); }

namespace {

template <typename Weight>
using RangeFn = void (*)(const GemvProblem<Weight>&, int64_t, int64_t);

// The kernel asked for, or the best the CPU has for kAuto (callers pass kAuto for one it lacks).
template <typename Weight>
RangeFn<Weight> KernelFunction(FloatKernel kernel) {
  constexpr bool kFloatWeights = std::is_same_v<Weight, float>;
  RangeFn<Weight> scalar = nullptr;
  if constexpr (kFloatWeights) {
    scalar = FloatGemvRangeScalar;
  } else {
    scalar = Bf16GemvRangeScalar;
  }
#if defined(QWEN3TTS_X86_KERNELS)
  static const bool has_avx512 = FloatKernelAvailable(FloatKernel::kAvx512);
  static const bool has_avx2 = FloatKernelAvailable(FloatKernel::kAvx2);
  if ((kernel == FloatKernel::kAuto || kernel == FloatKernel::kAvx512) && has_avx512) {
    if constexpr (kFloatWeights) {
      return FloatGemvRangeAvx512;
    } else {
      return Bf16GemvRangeAvx512;
    }
  }
  if (kernel != FloatKernel::kScalar && has_avx2) {
    if constexpr (kFloatWeights) {
      return FloatGemvRangeAvx2;
    } else {
      return Bf16GemvRangeAvx2;
    }
  }
#endif
  (void)kernel;
  return scalar;
}

}  // namespace

bool FloatKernelAvailable(FloatKernel kernel) {
  switch (kernel) {
    case FloatKernel::kScalar:
    case FloatKernel::kAuto: return true;
    case FloatKernel::kAvx2:
#if defined(QWEN3TTS_X86_KERNELS)
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
      return false;
#endif
    case FloatKernel::kAvx512:
#if defined(QWEN3TTS_X86_KERNELS)
      return FloatKernelAvailable(FloatKernel::kAvx2) && __builtin_cpu_supports("avx512f");
#else
      return false;
#endif
  }
  return false;
}

int64_t FloatGemvMaxRows() {
  static const int64_t rows = FloatKernelAvailable(FloatKernel::kAvx512) ? 128 : kFloatGemvMaxRows;
  return rows;
}

namespace {

FloatKernel ChosenKernel(FloatKernel kernel) { return FloatKernelAvailable(kernel) ? kernel : FloatKernel::kAuto; }

// y's rows hold one value per weight row: problem.ldy is the output count.
template <typename Weight>
void RunProblem(const GemvProblem<Weight>& problem, RangeFn<Weight> range, int threads) {
  const int64_t out = problem.ldy;
  if (problem.rows == 0 || out == 0) return;
  // Output rows are split between threads; each weight row is read once per pass of 4 (AVX2,
  // scalar) or 8 (AVX-512) activation rows.
  ParallelFor(out, /*grain=*/64, [&](int64_t begin, int64_t end) { range(problem, begin, end); }, threads);
}

}  // namespace

void FloatGemvInto(const float* w, int64_t out, int64_t in, const float* x, int64_t rows, float* y,
                   FloatKernel kernel, int threads) {
  RunProblem(FloatGemvProblem{w, in, x, in, rows, y, out}, KernelFunction<float>(ChosenKernel(kernel)), threads);
}

void Bf16GemvInto(const c10::BFloat16* w, int64_t out, int64_t in, const float* x, int64_t rows, float* y,
                  FloatKernel kernel, int threads) {
  static_assert(sizeof(c10::BFloat16) == sizeof(uint16_t), "bfloat16 is its 16 bits");
  RunProblem(Bf16GemvProblem{reinterpret_cast<const uint16_t*>(w), in, x, in, rows, y, out},
             KernelFunction<uint16_t>(ChosenKernel(kernel)), threads);
}

void FloatGemvStridedInto(const float* w, int64_t out, int64_t in, const float* x, int64_t x_stride, int64_t rows,
                          float* y, int threads) {
  TORCH_CHECK(x_stride > 0, "FloatGemvStridedInto: row stride ", x_stride, " must be > 0");
  RunProblem(FloatGemvProblem{w, in, x, x_stride, rows, y, out}, KernelFunction<float>(FloatKernel::kAuto), threads);
}

at::Tensor FloatGemv(const at::Tensor& w, const at::Tensor& x_in, FloatKernel kernel) {
  TORCH_CHECK((w.scalar_type() == at::kFloat || w.scalar_type() == at::kBFloat16) && w.dim() == 2 && w.is_contiguous(),
              "FloatGemv: weight must be a contiguous float32 or bfloat16 matrix");
  TORCH_CHECK(x_in.dim() == 2 && x_in.size(1) == w.size(1), "FloatGemv: input ", x_in.sizes(), " does not match weight ", w.sizes());
  at::Tensor x = x_in.to(at::kFloat).contiguous();
  const int64_t out = w.size(0), in = w.size(1), rows = x.size(0);
  at::Tensor y = at::empty({rows, out}, x.options());
  if (w.scalar_type() == at::kBFloat16) {
    Bf16GemvInto(w.data_ptr<c10::BFloat16>(), out, in, x.data_ptr<float>(), rows, y.data_ptr<float>(), kernel);
  } else {
    FloatGemvInto(w.data_ptr<float>(), out, in, x.data_ptr<float>(), rows, y.data_ptr<float>(), kernel);
  }
  return y;
}

}  // namespace qwen3tts::nn
