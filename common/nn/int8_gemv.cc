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

namespace {

int64_t Tiles(int64_t out) { return (out + kInt8TileOutputs - 1) / kInt8TileOutputs; }
int64_t Blocks(int64_t in) { return (in + kInt8ActivationBlock - 1) / kInt8ActivationBlock; }

// Byte offset of weight (o, i) in the packed layout (common/nn/int8_dot.h).
int64_t PackedOffset(int64_t o, int64_t i, int64_t blocks) {
  const int64_t tile = o / kInt8TileOutputs, b = i / kInt8ActivationBlock, k = i % kInt8ActivationBlock / 4;
  return ((tile * blocks + b) * 8 + k) * 64 + (o % kInt8TileOutputs) * 4 + i % 4;
}

}  // namespace

Int8Weight QuantizeInt8(const at::Tensor& weight) {
  at::Tensor w = weight.to(at::kFloat).contiguous();
  at::Tensor max_abs = std::get<0>(w.abs().max(/*dim=*/1));
  at::Tensor scale = at::where(max_abs > 0, max_abs / 127.0, at::ones_like(max_abs));
  at::Tensor q = at::clamp(at::round(w / scale.unsqueeze(1)), -127, 127).to(at::kChar).contiguous();
  const int64_t blocks = Blocks(w.size(1));
  Int8Weight packed{at::full({Tiles(w.size(0)) * blocks * kInt8TileBlockBytes}, 128, at::kByte),  // weight 0
                    scale.contiguous(), w.size(0), w.size(1)};
  const int8_t* src = q.data_ptr<int8_t>();
  uint8_t* dst = packed.packed.data_ptr<uint8_t>();
  const int64_t in = packed.in, whole_quads = in / 4;
  // Quad by quad (w + 128 is w ^ 0x80 on each byte): a model's weights are packed at load time.
  ParallelFor(packed.out, /*grain=*/kInt8TileOutputs, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      for (int64_t quad = 0; quad < whole_quads; ++quad) {
        uint32_t bytes;
        std::memcpy(&bytes, src + o * in + 4 * quad, sizeof(bytes));
        bytes ^= 0x80808080u;
        std::memcpy(dst + PackedOffset(o, 4 * quad, blocks), &bytes, sizeof(bytes));
      }
      for (int64_t i = 4 * whole_quads; i < in; ++i) {
        dst[PackedOffset(o, i, blocks)] = static_cast<uint8_t>(src[o * in + i] + 128);
      }
    }
  });
  return packed;
}

at::Tensor Int8Values(const Int8Weight& w) {
  at::Tensor q = at::empty({w.out, w.in}, at::kChar);
  const int64_t blocks = Blocks(w.in);
  const uint8_t* src = w.packed.data_ptr<uint8_t>();
  int8_t* dst = q.data_ptr<int8_t>();
  for (int64_t o = 0; o < w.out; ++o) {
    for (int64_t i = 0; i < w.in; ++i) dst[o * w.in + i] = static_cast<int8_t>(src[PackedOffset(o, i, blocks)] - 128);
  }
  return q;
}

at::Tensor DequantizeInt8(const Int8Weight& w) { return Int8Values(w).to(at::kFloat) * w.scale.unsqueeze(1); }

void Int8GemvTilesScalar(const Int8GemvProblem& p, int64_t tile_begin, int64_t tile_end) {
  const int64_t ldq = p.blocks * kInt8ActivationBlock;
  for (int64_t t = tile_begin; t < tile_end; ++t) {
    const uint8_t* tile = p.w + t * p.blocks * kInt8TileBlockBytes;
    for (int64_t r = 0; r < p.rows; ++r) {
      float acc[kInt8TileOutputs] = {};
      for (int64_t b = 0; b < p.blocks; ++b) {
        int32_t dot[kInt8TileOutputs] = {};
        for (int k = 0; k < 8; ++k) {
          for (int j = 0; j < kInt8TileOutputs; ++j) {
            for (int e = 0; e < 4; ++e) {
              const int32_t weight = static_cast<int32_t>(tile[(b * 8 + k) * 64 + j * 4 + e]) - 128;
              dot[j] += weight * p.xq[r * ldq + b * kInt8ActivationBlock + 4 * k + e];
            }
          }
        }
        for (int j = 0; j < kInt8TileOutputs; ++j) {
          acc[j] = std::fma(static_cast<float>(dot[j]), p.xs[r * p.blocks + b], acc[j]);
        }
      }
      for (int j = 0; j < kInt8TileOutputs && t * kInt8TileOutputs + j < p.out; ++j) {
        p.y[r * p.ldy + t * kInt8TileOutputs + j] = acc[j] * p.w_scale[t * kInt8TileOutputs + j];
      }
    }
  }
}

namespace {

using GemvTilesFn = void (*)(const Int8GemvProblem&, int64_t, int64_t);

GemvTilesFn KernelFunction(Int8Kernel kernel) {
#if defined(QWEN3TTS_X86_KERNELS)
  switch (kernel) {
    case Int8Kernel::kScalar: return Int8GemvTilesScalar;
    case Int8Kernel::kAvx2: return Int8GemvTilesAvx2;
    case Int8Kernel::kAvx512Vnni: return Int8GemvTilesAvx512Vnni;
    case Int8Kernel::kAuto: break;
  }
  static const GemvTilesFn best = Int8KernelAvailable(Int8Kernel::kAvx512Vnni) ? Int8GemvTilesAvx512Vnni
                                  : Int8KernelAvailable(Int8Kernel::kAvx2)     ? Int8GemvTilesAvx2
                                                                                : Int8GemvTilesScalar;
  return best;
#else
  (void)kernel;
  return Int8GemvTilesScalar;
#endif
}

// Activations quantized per block of 32 inputs: q = round(x / s), s = max|x_block| / 127. Reused
// buffers (per calling thread): the decoding step allocates nothing here.
struct QuantizedActivations {
  std::vector<int8_t> q;            // rows x ldq, zero beyond `in`
  std::vector<float> scale;         // rows x blocks
  std::vector<int32_t> correction;  // rows x blocks: -128 * sum of the block's q (Int8GemvProblem::xc)
  int64_t ldq = 0, blocks = 0;
};

void QuantizeActivations(const float* x, int64_t rows, int64_t in, QuantizedActivations* a) {
  a->blocks = (in + kInt8ActivationBlock - 1) / kInt8ActivationBlock;
  a->ldq = a->blocks * kInt8ActivationBlock;
  a->q.resize(static_cast<size_t>(rows * a->ldq));  // every byte that counts is written below
  a->scale.resize(static_cast<size_t>(rows * a->blocks));
  a->correction.resize(static_cast<size_t>(rows * a->blocks));
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
        a->correction[r * a->blocks + b] = 0;
        continue;
      }
      float max_abs;
      std::memcpy(&max_abs, &max_bits, sizeof(max_abs));
      const float inverse = max_abs > 0 ? 127.0f / max_abs : 0.0f;
      a->scale[r * a->blocks + b] = max_abs / 127.0f;
      constexpr float kRoundShift = 12582912.0f;  // 1.5 * 2^23
      int32_t sum = 0;  // for the correction (the padding is zero)
      for (int64_t i = begin; i < end; ++i) {
        const float q = std::clamp((x[r * in + i] * inverse + kRoundShift) - kRoundShift, -127.0f, 127.0f);
        a->q[r * a->ldq + i] = static_cast<int8_t>(static_cast<int32_t>(q));
        sum += static_cast<int32_t>(q);
      }
      a->correction[r * a->blocks + b] = -128 * sum;
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
  if (rows == 0 || w.out == 0) return;
  thread_local QuantizedActivations activations;
  QuantizeActivations(x, rows, w.in, &activations);
  const Int8GemvProblem problem{w.packed.data_ptr<uint8_t>(), w.scale.data_ptr<float>(), w.out,
                                activations.blocks,           activations.q.data(),     activations.correction.data(),
                                activations.scale.data(),     rows,                     y,
                                w.out};
  const GemvTilesFn gemv_tiles = KernelFunction(Int8KernelAvailable(kernel) ? kernel : Int8Kernel::kAuto);
  // Tiles of 16 output rows are split between threads; each tile is read once per 8 (AVX2: 4)
  // activation rows.
  ParallelFor(Tiles(w.out), /*grain=*/4, [&](int64_t begin, int64_t end) { gemv_tiles(problem, begin, end); });
}

at::Tensor Int8Gemv(const Int8Weight& w, const at::Tensor& x_in, Int8Kernel kernel) {
  at::Tensor x = x_in.to(at::kFloat).contiguous();
  TORCH_CHECK(x.dim() == 2 && x.size(1) == w.in, "Int8Gemv: input width ", x.size(-1), " != ", w.in);
  at::Tensor y = at::empty({x.size(0), w.out}, x.options());
  Int8GemvInto(w, x.data_ptr<float>(), x.size(0), y.data_ptr<float>(), kernel);
  return y;
}

}  // namespace qwen3tts::nn
