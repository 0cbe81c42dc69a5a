#include "common/nn/int8_gemv.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>

namespace qwen3tts::nn {

Int8Weight QuantizeInt8(const at::Tensor& weight) {
  at::Tensor w = weight.to(at::kFloat).contiguous();
  at::Tensor max_abs = std::get<0>(w.abs().max(/*dim=*/1));
  at::Tensor scale = at::where(max_abs > 0, max_abs / 127.0, at::ones_like(max_abs));
  at::Tensor q = at::clamp(at::round(w / scale.unsqueeze(1)), -127, 127).to(at::kChar).contiguous();
  return {q, scale.contiguous()};
}

at::Tensor DequantizeInt8(const Int8Weight& w) { return w.q.to(at::kFloat) * w.scale.unsqueeze(1); }

namespace {

// Up to kRowsPerPass activation rows share one pass over a weight row (it stays in L1). With
// kUnroll accumulators per row that is 8 accumulators, half the AVX2 registers.
constexpr int kRowsPerPass = 2;
constexpr int kUnroll = 4;

// Dots of one int8 weight row with `rows` activation rows, lane by lane then summed: the order
// depends only on `in`, never on `rows`.
void DotRowScalar(const int8_t* w, const float* x, int64_t ldx, int rows, int64_t in, float* out) {
  for (int r = 0; r < rows; ++r) {
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const float* xr = x + r * ldx;
    int64_t i = 0;
    for (; i + 8 <= in; i += 8) {
      for (int l = 0; l < 8; ++l) lanes[l] += static_cast<float>(w[i + l]) * xr[i + l];
    }
    float sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for (; i < in; ++i) sum += static_cast<float>(w[i]) * xr[i];
    out[r] = sum;
  }
}

__attribute__((target("avx2,fma"))) float HorizontalSum(__m256 v) {
  __m128 quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  __m128 pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
  return _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)));
}

// R activation rows against one weight row, U independent accumulators per row: an FMA has a
// latency of 4 cycles and two issue ports, so a single accumulator chain would leave the kernel
// compute-bound at a fraction of memory bandwidth (measured: 84 % of a step in this function).
// U must not depend on R: the summation order of a row has to be the same in any batch.
template <int R, int U>
__attribute__((target("avx2,fma"))) void DotRowsAvx2(const int8_t* w, const float* x, int64_t ldx, int64_t in,
                                                     float* out) {
  __m256 acc[R][U];
  for (int r = 0; r < R; ++r) {
    for (int u = 0; u < U; ++u) acc[r][u] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 8 * U <= in; i += 8 * U) {
    for (int u = 0; u < U; ++u) {
      const __m256 wf = _mm256_cvtepi32_ps(
          _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w + i + 8 * u))));
      for (int r = 0; r < R; ++r) acc[r][u] = _mm256_fmadd_ps(wf, _mm256_loadu_ps(x + r * ldx + i + 8 * u), acc[r][u]);
    }
  }
  for (; i + 8 <= in; i += 8) {
    const __m256 wf =
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w + i))));
    for (int r = 0; r < R; ++r) acc[r][0] = _mm256_fmadd_ps(wf, _mm256_loadu_ps(x + r * ldx + i), acc[r][0]);
  }
  for (int r = 0; r < R; ++r) {
    __m256 total = acc[r][0];
    for (int u = 1; u < U; ++u) total = _mm256_add_ps(total, acc[r][u]);
    float sum = HorizontalSum(total);
    for (int64_t j = i; j < in; ++j) sum += static_cast<float>(w[j]) * x[r * ldx + j];
    out[r] = sum;
  }
}

void DotRowAvx2(const int8_t* w, const float* x, int64_t ldx, int rows, int64_t in, float* out) {
  if (rows == 1) return DotRowsAvx2<1, kUnroll>(w, x, ldx, in, out);
  return DotRowsAvx2<kRowsPerPass, kUnroll>(w, x, ldx, in, out);
}

bool HasAvx2Fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

}  // namespace

at::Tensor Int8Gemv(const Int8Weight& w, const at::Tensor& x_in) {
  at::Tensor x = x_in.to(at::kFloat).contiguous();
  const int64_t out = w.q.size(0), in = w.q.size(1), rows = x.size(0);
  at::Tensor y = at::empty({rows, out}, x.options());
  const int8_t* q = w.q.data_ptr<int8_t>();
  const float* scale = w.scale.data_ptr<float>();
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const bool avx2 = HasAvx2Fma();
  // Output rows are split between threads; each weight row is read once for all activation rows.
  at::parallel_for(0, out, /*grain_size=*/64, [&](int64_t begin, int64_t end) {
    float dots[kRowsPerPass];
    for (int64_t o = begin; o < end; ++o) {
      const int8_t* wr = q + o * in;
      for (int64_t r0 = 0; r0 < rows; r0 += kRowsPerPass) {
        const int n = static_cast<int>(std::min<int64_t>(kRowsPerPass, rows - r0));
        if (avx2) {
          DotRowAvx2(wr, xp + r0 * in, in, n, in, dots);
        } else {
          DotRowScalar(wr, xp + r0 * in, in, n, in, dots);
        }
        for (int r = 0; r < n; ++r) yp[(r0 + r) * out + o] = dots[r] * scale[o];
      }
    }
  });
  return y;
}

}  // namespace qwen3tts::nn
