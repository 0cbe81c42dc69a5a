#include "common/nn/float_gemv.h"

#include <ATen/ATen.h>

#include <cmath>

#include "common/nn/float_dot.h"
#include "common/nn/parallel.h"

namespace qwen3tts::nn {

void FloatGemvRangeScalar(const FloatGemvProblem& p, int64_t begin, int64_t end) {
  const int64_t padded = (p.in + 7) & ~int64_t{7};
  for (int64_t o = begin; o < end; ++o) {
    const float* w = p.w + o * p.in;
    for (int64_t r = 0; r < p.rows; ++r) {
      const float* x = p.x + r * p.ldx;
      float t[8] = {};
      // The padding lanes take part (0 * 0 added), exactly as the masked vector loads do.
      for (int64_t i = 0; i < padded; ++i) {
        t[i & 7] = i < p.in ? std::fma(x[i], w[i], t[i & 7]) : std::fma(0.0f, 0.0f, t[i & 7]);
      }
      p.y[r * p.ldy + o] = ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
    }
  }
}

namespace {

using RangeFn = void (*)(const FloatGemvProblem&, int64_t, int64_t);

RangeFn KernelFunction(FloatKernel kernel) {
#if defined(QWEN3TTS_X86_KERNELS)
  switch (kernel) {
    case FloatKernel::kScalar: return FloatGemvRangeScalar;
    case FloatKernel::kAvx2: return FloatGemvRangeAvx2;
    case FloatKernel::kAuto: break;
  }
  static const RangeFn best = FloatKernelAvailable(FloatKernel::kAvx2) ? FloatGemvRangeAvx2 : FloatGemvRangeScalar;
  return best;
#else
  (void)kernel;
  return FloatGemvRangeScalar;
#endif
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
  }
  return false;
}

namespace {

// y's rows hold one value per weight row: problem.ldy is the output count.
void RunProblem(const FloatGemvProblem& problem, FloatKernel kernel, int threads) {
  const int64_t out = problem.ldy;
  if (problem.rows == 0 || out == 0) return;
  const RangeFn range = KernelFunction(FloatKernelAvailable(kernel) ? kernel : FloatKernel::kAuto);
  // Output rows are split between threads; each weight row is read once per kFloatDotMaxRows
  // activation rows.
  ParallelFor(out, /*grain=*/64, [&](int64_t begin, int64_t end) { range(problem, begin, end); }, threads);
}

}  // namespace

void FloatGemvInto(const float* w, int64_t out, int64_t in, const float* x, int64_t rows, float* y,
                   FloatKernel kernel, int threads) {
  RunProblem(FloatGemvProblem{w, in, x, in, rows, y, out}, kernel, threads);
}

void FloatGemvStridedInto(const float* w, int64_t out, int64_t in, const float* x, int64_t x_stride, int64_t rows,
                          float* y, int threads) {
  TORCH_CHECK(x_stride > 0, "FloatGemvStridedInto: row stride ", x_stride, " must be > 0");
  RunProblem(FloatGemvProblem{w, in, x, x_stride, rows, y, out}, FloatKernel::kAuto, threads);
}

at::Tensor FloatGemv(const at::Tensor& w, const at::Tensor& x_in, FloatKernel kernel) {
  TORCH_CHECK(w.scalar_type() == at::kFloat && w.dim() == 2 && w.is_contiguous(), "FloatGemv: weight must be a contiguous float32 matrix");
  TORCH_CHECK(x_in.dim() == 2 && x_in.size(1) == w.size(1), "FloatGemv: input ", x_in.sizes(), " does not match weight ", w.sizes());
  at::Tensor x = x_in.to(at::kFloat).contiguous();
  const int64_t out = w.size(0), in = w.size(1), rows = x.size(0);
  at::Tensor y = at::empty({rows, out}, x.options());
  FloatGemvInto(w.data_ptr<float>(), out, in, x.data_ptr<float>(), rows, y.data_ptr<float>(), kernel);
  return y;
}

}  // namespace qwen3tts::nn
