#include "common/nn/int8_gemv.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/nn/int8_dot.h"
#include "common/nn/parallel.h"

namespace qwen3tts::nn {

Int8Weight QuantizeInt8(const at::Tensor& weight) {
  at::Tensor w = weight.to(at::kFloat).contiguous();
  at::Tensor max_abs = std::get<0>(w.abs().max(/*dim=*/1));
  at::Tensor scale = at::where(max_abs > 0, max_abs / 127.0, at::ones_like(max_abs));
  at::Tensor q = at::clamp(at::round(w / scale.unsqueeze(1)), -127, 127).to(at::kChar).contiguous();
  return {q, scale.contiguous()};
}

at::Tensor DequantizeInt8(const Int8Weight& w) { return w.q.to(at::kFloat) * w.scale.unsqueeze(1); }

void Int8GemvRangeScalar(const Int8GemvProblem& p, int64_t begin, int64_t end) {
  const int64_t blocks = (p.in + kInt8ActivationBlock - 1) / kInt8ActivationBlock;
  for (int64_t o = begin; o < end; ++o) {
    const int8_t* w = p.w + o * p.in;
    for (int64_t r = 0; r < p.rows; ++r) {
      float acc[2][8] = {};
      for (int64_t b = 0; b < blocks; ++b) {
        for (int lane = 0; lane < 8; ++lane) {
          int32_t quad = 0;
          for (int k = 0; k < 4; ++k) {
            const int64_t i = b * kInt8ActivationBlock + lane * 4 + k;
            if (i < p.in) quad += static_cast<int32_t>(w[i]) * p.xq[r * p.ldq + i];
          }
          acc[b & 1][lane] = std::fma(static_cast<float>(quad), p.xs[r * p.lds + b], acc[b & 1][lane]);
        }
      }
      float t[8];
      for (int lane = 0; lane < 8; ++lane) t[lane] = acc[0][lane] + acc[1][lane];
      const float q0 = t[0] + t[4], q1 = t[1] + t[5], q2 = t[2] + t[6], q3 = t[3] + t[7];
      p.y[r * p.ldy + o] = ((q0 + q2) + (q1 + q3)) * p.w_scale[o];
    }
  }
}

namespace {

using GemvRangeFn = void (*)(const Int8GemvProblem&, int64_t, int64_t);

GemvRangeFn KernelFunction(Int8Kernel kernel) {
#if defined(QWEN3TTS_X86_KERNELS)
  switch (kernel) {
    case Int8Kernel::kScalar: return Int8GemvRangeScalar;
    case Int8Kernel::kAvx2: return Int8GemvRangeAvx2;
    case Int8Kernel::kAvx512Vnni: return Int8GemvRangeAvx512Vnni;
    case Int8Kernel::kAuto: break;
  }
  static const GemvRangeFn best = Int8KernelAvailable(Int8Kernel::kAvx512Vnni) ? Int8GemvRangeAvx512Vnni
                                  : Int8KernelAvailable(Int8Kernel::kAvx2)     ? Int8GemvRangeAvx2
                                                                                : Int8GemvRangeScalar;
  return best;
#else
  (void)kernel;
  return Int8GemvRangeScalar;
#endif
}

// Activations quantized per block of 32 inputs: q = round(x / s), s = max|x_block| / 127. Reused
// buffers (per calling thread): the decoding step allocates nothing here.
struct QuantizedActivations {
  std::vector<int8_t> q;     // rows x ldq, zero beyond `in`
  std::vector<float> scale;  // rows x blocks
  int64_t ldq = 0, blocks = 0;
};

void QuantizeActivations(const float* x, int64_t rows, int64_t in, QuantizedActivations* a) {
  a->blocks = (in + kInt8ActivationBlock - 1) / kInt8ActivationBlock;
  a->ldq = a->blocks * kInt8ActivationBlock;
  a->q.resize(static_cast<size_t>(rows * a->ldq));  // every byte that counts is written below
  a->scale.resize(static_cast<size_t>(rows * a->blocks));
  for (int64_t r = 0; r < rows; ++r) {
    std::fill(a->q.begin() + r * a->ldq + in, a->q.begin() + (r + 1) * a->ldq, 0);  // the padding
    for (int64_t b = 0; b < a->blocks; ++b) {
      const int64_t begin = b * kInt8ActivationBlock, end = std::min(in, begin + kInt8ActivationBlock);
      // Written so that the compiler vectorizes both loops (they were a tenth of an int8 decoding
      // step as scalar code): the largest |x| as the largest magnitude bit pattern (for
      // non-negative floats integer order is float order, and an infinity or NaN is at least the
      // infinity pattern), rounding by the 1.5 * 2^23 shift, which is round-half-to-even like
      // nearbyint for the |v| <= 127 it sees.
      uint32_t max_bits = 0;
      for (int64_t i = begin; i < end; ++i) {
        uint32_t bits;
        std::memcpy(&bits, &x[r * in + i], sizeof(bits));
        max_bits = std::max(max_bits, bits & 0x7fffffffu);
      }
      if (max_bits >= 0x7f800000u) {  // a NaN or infinity makes the row's outputs NaN, as a float product would
        a->scale[r * a->blocks + b] = std::numeric_limits<float>::quiet_NaN();  // whatever q holds
        continue;
      }
      float max_abs;
      std::memcpy(&max_abs, &max_bits, sizeof(max_abs));
      const float inverse = max_abs > 0 ? 127.0f / max_abs : 0.0f;
      a->scale[r * a->blocks + b] = max_abs / 127.0f;
      constexpr float kRoundShift = 12582912.0f;  // 1.5 * 2^23
      for (int64_t i = begin; i < end; ++i) {
        const float q = std::clamp((x[r * in + i] * inverse + kRoundShift) - kRoundShift, -127.0f, 127.0f);
        a->q[r * a->ldq + i] = static_cast<int8_t>(static_cast<int32_t>(q));
      }
    }
  }
}

}  // namespace

bool Int8KernelAvailable(Int8Kernel kernel) {
  switch (kernel) {
    case Int8Kernel::kScalar:
    case Int8Kernel::kAuto: return true;
#if defined(QWEN3TTS_X86_KERNELS)
    case Int8Kernel::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Int8Kernel::kAvx512Vnni:
      return Int8KernelAvailable(Int8Kernel::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512vnni");
#else
    case Int8Kernel::kAvx2:
    case Int8Kernel::kAvx512Vnni: return false;
#endif
  }
  return false;
}

void Int8GemvInto(const Int8Weight& w, const float* x, int64_t rows, float* y, Int8Kernel kernel) {
  const int64_t out = w.q.size(0), in = w.q.size(1);
  if (rows == 0 || out == 0) return;
  thread_local QuantizedActivations activations;
  QuantizeActivations(x, rows, in, &activations);
  const Int8GemvProblem problem{w.q.data_ptr<int8_t>(), w.scale.data_ptr<float>(), in,
                                activations.q.data(),    activations.ldq,            activations.scale.data(),
                                activations.blocks,      rows,                       y,
                                out};
  const GemvRangeFn gemv_range = KernelFunction(Int8KernelAvailable(kernel) ? kernel : Int8Kernel::kAuto);
  // Output rows are split between threads; each weight row is read once for up to
  // kInt8DotMaxRows activation rows.
  ParallelFor(out, /*grain=*/64, [&](int64_t begin, int64_t end) { gemv_range(problem, begin, end); });
}

at::Tensor Int8Gemv(const Int8Weight& w, const at::Tensor& x_in, Int8Kernel kernel) {
  at::Tensor x = x_in.to(at::kFloat).contiguous();
  const int64_t out = w.q.size(0), rows = x.size(0);
  at::Tensor y = at::empty({rows, out}, x.options());
  Int8GemvInto(w, x.data_ptr<float>(), rows, y.data_ptr<float>(), kernel);
  return y;
}

}  // namespace qwen3tts::nn
