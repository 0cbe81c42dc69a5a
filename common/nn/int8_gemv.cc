#include "common/nn/int8_gemv.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/nn/cpu_features.h"
#include "common/nn/int8_dot.h"
#include "common/nn/parallel.h"

namespace qwen3tts::nn {

namespace {

int64_t Tiles(int64_t out) { return (out + kInt8TileOutputs - 1) / kInt8TileOutputs; }
int64_t Blocks(int64_t in, int64_t block_inputs = kInt8ActivationBlock) { return (in + block_inputs - 1) / block_inputs; }

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
              dot[j] += weight * p.xq[r * p.ldq + b * kInt8ActivationBlock + 4 * k + e];
            }
          }
        }
        for (int j = 0; j < kInt8TileOutputs; ++j) {
          acc[j] = std::fma(static_cast<float>(dot[j]), p.xs[r * p.ldb + b], acc[j]);
        }
      }
      for (int j = 0; j < kInt8TileOutputs && t * kInt8TileOutputs + j < p.out; ++j) {
        p.y[r * p.ldy + t * kInt8TileOutputs + j] = acc[j] * p.w_scale[t * kInt8TileOutputs + j];
      }
    }
  }
}

// ---- int4 -----------------------------------------------------------------------------------------

namespace {

// Nearest bfloat16 (ties to even) of a finite float, as its 16 bits.
uint16_t ToBFloat16Bits(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float FromBFloat16Bits(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

// The int4 block widths there are: int4's 32 inputs and int4-g128's 128.
void CheckInt4BlockInputs(const char* caller, int64_t block_inputs) {
  TORCH_CHECK(block_inputs == kInt8ActivationBlock || block_inputs == kInt4G128Block, caller, ": blocks of ",
              block_inputs, " inputs; 32 or 128 are allowed");
}

// Where weight (o, i) and the scale of (o, block) live in the int4 layout (common/nn/int8_dot.h).
struct Int4Layout {
  int64_t blocks, block_inputs, sub_blocks;  // sub_blocks: 32-input parts per block
  Int4Layout(int64_t in, int64_t inputs_per_block)
      : blocks(Blocks(in, inputs_per_block)),
        block_inputs(inputs_per_block),
        sub_blocks(inputs_per_block / kInt8ActivationBlock) {}
  explicit Int4Layout(const Int4Weight& w) : Int4Layout(w.in, w.block_inputs) {}
  // The first byte of (tile of output o, block b).
  int64_t BlockByte(int64_t o, int64_t b) const {
    return (o / kInt8TileOutputs * blocks + b) * Int4BlockBytes(sub_blocks);
  }
};
struct Int4Position {
  int64_t byte;
  bool high;  // high nibble
};
Int4Position Int4WeightPosition(const Int4Layout& layout, int64_t o, int64_t i) {
  const int64_t part = i % layout.block_inputs / kInt8ActivationBlock, k = i % kInt8ActivationBlock / 4;
  return {layout.BlockByte(o, i / layout.block_inputs) + part * kInt4PartBytes + (k % 4) * 64 +
              (o % kInt8TileOutputs) * 4 + i % 4,
          k >= 4};
}
int64_t Int4ScaleByte(const Int4Layout& layout, int64_t o, int64_t b) {
  return layout.BlockByte(o, b) + Int4ScaleOffset(layout.sub_blocks) + (o % kInt8TileOutputs) * 2;
}

// v rounded to the nearest int4 level in [-8, 7] (ties to even, by the 1.5 * 2^23 shift, which
// vectorizes where nearbyint does not). For one value and for the 4 lanes of Int4Lanes alike.
template <typename T>
inline T Int4Level(T v) {
  constexpr float kRoundShift = 12582912.0f;
  const T r = (v + kRoundShift) - kRoundShift;
  const T at_least = r < -8.0f ? T{} - 8.0f : r;
  return at_least > 7.0f ? T{} + 7.0f : at_least;
}

// The scale search's arithmetic 4 lanes at a time (GCC's vector extension: SSE2 on every x86-64),
// each lane adding every 4th term and the lanes added pairwise at the end. The order is the
// source's, so every build and CPU sums alike (the sums pick the scales, and so the int4 weights).
// GCC ran the earlier `omp simd` reductions as scalar chains of 32 dependent additions, which made
// quantizing ~65 % of an int4 talker's start-up.
typedef float Int4Lanes __attribute__((vector_size(16)));
constexpr int kInt4Lanes = sizeof(Int4Lanes) / sizeof(float);

inline float SumOfLanes(Int4Lanes v) { return (v[0] + v[1]) + (v[2] + v[3]); }

inline Int4Lanes LoadLanes(const float* p) {
  Int4Lanes v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// The scale of one block of n int4 weights (n a multiple of 4; levels -8..7; a partial last block
// is zero-padded, which adds nothing to the sums): for a few candidate step sizes around
// max|w| / 7.5 the weights are rounded, the least-squares scale for that rounding
// (sum w q / sum q^2) is fitted, and the one with the smallest squared error wins.
#if defined(QWEN3TTS_X86_KERNELS)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
float Int4BlockScale(const float* w, int64_t n) {
  Int4Lanes lane_max = {};
  for (int64_t i = 0; i < n; i += kInt4Lanes) {
    const Int4Lanes v = LoadLanes(w + i), a = v < 0.0f ? -v : v;
    lane_max = a > lane_max ? a : lane_max;
  }
  const float max_abs = std::max(std::max(lane_max[0], lane_max[1]), std::max(lane_max[2], lane_max[3]));
  if (!(max_abs > 0)) return 0.0f;
  float best_scale = max_abs / 7.0f, best_error = std::numeric_limits<float>::infinity();
  for (const float divisor : {7.0f, 7.5f, 8.0f}) {
    const float inverse = divisor / max_abs;
    Int4Lanes wq = {}, qq = {};
    for (int64_t i = 0; i < n; i += kInt4Lanes) {
      const Int4Lanes v = LoadLanes(w + i), q = Int4Level(v * inverse);
      wq += v * q;
      qq += q * q;
    }
    const float wq_sum = SumOfLanes(wq), qq_sum = SumOfLanes(qq);
    if (!(qq_sum > 0) || !(wq_sum > 0)) continue;
    const float scale = wq_sum / qq_sum, refit_inverse = 1.0f / scale;
    Int4Lanes error = {};
    for (int64_t i = 0; i < n; i += kInt4Lanes) {
      const Int4Lanes v = LoadLanes(w + i), e = v - scale * Int4Level(v * refit_inverse);
      error += e * e;
    }
    const float error_sum = SumOfLanes(error);
    if (error_sum < best_error) best_error = error_sum, best_scale = scale;
  }
  return best_scale;
}

}  // namespace

Int4Weight QuantizeInt4(const at::Tensor& weight, int64_t block_inputs) {
  CheckInt4BlockInputs("QuantizeInt4", block_inputs);
  at::Tensor w = weight.to(at::kFloat).contiguous();
  const int64_t out = w.size(0), in = w.size(1);
  const Int4Layout layout(in, block_inputs);
  const int64_t block_bytes = Int4BlockBytes(layout.sub_blocks);
  // Every nibble 8 (weight 0) and every scale 0 until written.
  at::Tensor packed = at::full({Tiles(out) * layout.blocks, block_bytes}, 0x88, at::kByte);
  packed.narrow(1, Int4ScaleOffset(layout.sub_blocks), kInt4ScaleBytes).zero_();
  const float* src = w.data_ptr<float>();
  uint8_t* dst = packed.data_ptr<uint8_t>();
  // A byte holds two weights of one row (the same position in quads k and k + 4), so threads that
  // take different rows never write the same byte.
  ParallelFor(out, /*grain=*/kInt8TileOutputs, [&](int64_t begin, int64_t end) {
    std::vector<float> block(static_cast<size_t>(block_inputs));
    std::vector<uint8_t> nibbles(static_cast<size_t>(block_inputs));  // q + 8
    for (int64_t o = begin; o < end; ++o) {
      for (int64_t b = 0; b < layout.blocks; ++b) {
        const int64_t first = b * block_inputs, n = std::min(in, first + block_inputs) - first;
        std::fill(block.begin(), block.end(), 0.0f);  // zeros past the last input: weight 0, nibble 8
        std::memcpy(block.data(), src + o * in + first, static_cast<size_t>(n) * sizeof(float));
        const uint16_t scale_bits = ToBFloat16Bits(Int4BlockScale(block.data(), block_inputs));
        std::memcpy(dst + Int4ScaleByte(layout, o, b), &scale_bits, sizeof(scale_bits));
        const float scale = FromBFloat16Bits(scale_bits);
        const float inverse = scale > 0 ? 1.0f / scale : 0.0f;
        for (int64_t i = 0; i < block_inputs; ++i) {
          nibbles[i] = static_cast<uint8_t>(static_cast<int>(Int4Level(block[i] * inverse)) + 8);
        }
        // Per 32 inputs, vector v: quad v's weights in the low nibbles, quad v + 4's in the high.
        for (int64_t part = 0; part < layout.sub_blocks; ++part) {
          const uint8_t* part_nibbles = nibbles.data() + part * kInt8ActivationBlock;
          uint8_t* out_part = dst + Int4WeightPosition(layout, o, first + part * kInt8ActivationBlock).byte;
          for (int v = 0; v < 4; ++v) {
            for (int e = 0; e < 4; ++e) {
              out_part[v * 64 + e] = static_cast<uint8_t>(part_nibbles[4 * v + e] | part_nibbles[4 * (v + 4) + e] << 4);
            }
          }
        }
      }
    }
  });
  return Int4Weight{packed.view({-1}), out, in, block_inputs};
}

at::Tensor Int4Values(const Int4Weight& w) {
  at::Tensor q = at::empty({w.out, w.in}, at::kChar);
  const Int4Layout layout(w);
  const uint8_t* src = w.packed.data_ptr<uint8_t>();
  int8_t* dst = q.data_ptr<int8_t>();
  for (int64_t o = 0; o < w.out; ++o) {
    for (int64_t i = 0; i < w.in; ++i) {
      const Int4Position at = Int4WeightPosition(layout, o, i);
      dst[o * w.in + i] = static_cast<int8_t>((at.high ? src[at.byte] >> 4 : src[at.byte] & 0x0f) - 8);
    }
  }
  return q;
}

at::Tensor Int4Scales(const Int4Weight& w) {
  const Int4Layout layout(w);
  at::Tensor s = at::empty({w.out, layout.blocks}, at::kFloat);
  const uint8_t* src = w.packed.data_ptr<uint8_t>();
  float* dst = s.data_ptr<float>();
  for (int64_t o = 0; o < w.out; ++o) {
    for (int64_t b = 0; b < layout.blocks; ++b) {
      uint16_t bits;
      std::memcpy(&bits, src + Int4ScaleByte(layout, o, b), sizeof(bits));
      dst[o * layout.blocks + b] = FromBFloat16Bits(bits);
    }
  }
  return s;
}

at::Tensor DequantizeInt4(const Int4Weight& w) {
  at::Tensor per_input = Int4Scales(w).repeat_interleave(w.block_inputs, /*dim=*/1).narrow(1, 0, w.in);
  return Int4Values(w).to(at::kFloat) * per_input;
}

void Int4GemvTilesScalar(const Int4GemvProblem& p, int64_t tile_begin, int64_t tile_end) {
  const int64_t block_bytes = Int4BlockBytes(p.sub_blocks), block_inputs = p.sub_blocks * kInt8ActivationBlock;
  for (int64_t t = tile_begin; t < tile_end; ++t) {
    const uint8_t* tile = p.w + t * p.blocks * block_bytes;
    for (int64_t r = 0; r < p.rows; ++r) {
      float acc[kInt8TileOutputs] = {};
      for (int64_t b = 0; b < p.blocks; ++b) {
        const uint8_t* wb = tile + b * block_bytes;
        const int8_t* x = p.xq + r * p.ldq + b * block_inputs;
        for (int j = 0; j < kInt8TileOutputs; ++j) {
          int32_t dot = p.xc[r * p.ldb + b];
          for (int64_t part = 0; part < p.sub_blocks; ++part) {
            for (int k = 0; k < 8; ++k) {
              for (int e = 0; e < 4; ++e) {
                const uint8_t byte = wb[part * kInt4PartBytes + (k % 4) * 64 + j * 4 + e];
                const int32_t nibble = k < 4 ? byte & 0x0f : byte >> 4;
                dot += nibble * x[part * kInt8ActivationBlock + 4 * k + e];
              }
            }
          }
          uint16_t scale_bits;
          std::memcpy(&scale_bits, wb + Int4ScaleOffset(p.sub_blocks) + 2 * j, sizeof(scale_bits));
          acc[j] = std::fma(static_cast<float>(dot), p.xs[r * p.ldb + b] * FromBFloat16Bits(scale_bits), acc[j]);
        }
      }
      for (int j = 0; j < kInt8TileOutputs && t * kInt8TileOutputs + j < p.out; ++j) {
        p.y[r * p.ldy + t * kInt8TileOutputs + j] = acc[j];
      }
    }
  }
}

namespace {

template <typename Problem>
using GemvTilesFn = void (*)(const Problem&, int64_t, int64_t);

// One weight format's kernels; those for instruction sets this build has none of are null (the
// kernel asked for is always one the CPU has: Int8KernelAvailable).
template <typename Problem>
struct KernelSet {
  GemvTilesFn<Problem> scalar, avx2, avx512_vnni, amx;
};

// int8 has no tile kernel: its kAmx is the VNNI kernel.
#if defined(QWEN3TTS_X86_KERNELS)
constexpr KernelSet<Int8GemvProblem> kInt8Kernels{Int8GemvTilesScalar, Int8GemvTilesAvx2, Int8GemvTilesAvx512Vnni,
                                                  Int8GemvTilesAvx512Vnni};
constexpr KernelSet<Int4GemvProblem> kInt4Kernels{Int4GemvTilesScalar, Int4GemvTilesAvx2, Int4GemvTilesAvx512Vnni,
                                                  Int4GemvTilesAmx};
#else
constexpr KernelSet<Int8GemvProblem> kInt8Kernels{Int8GemvTilesScalar, nullptr, nullptr, nullptr};
constexpr KernelSet<Int4GemvProblem> kInt4Kernels{Int4GemvTilesScalar, nullptr, nullptr, nullptr};
#endif

Int8Kernel BestKernel() {
  static const Int8Kernel best = Int8KernelAvailable(Int8Kernel::kAmx)          ? Int8Kernel::kAmx
                                 : Int8KernelAvailable(Int8Kernel::kAvx512Vnni) ? Int8Kernel::kAvx512Vnni
                                 : Int8KernelAvailable(Int8Kernel::kAvx2)     ? Int8Kernel::kAvx2
                                                                               : Int8Kernel::kScalar;
  return best;
}

// The kernel asked for, or the fastest the CPU has for kAuto and for a kernel it lacks.
template <typename Problem>
GemvTilesFn<Problem> KernelFunction(const KernelSet<Problem>& kernels, Int8Kernel kernel) {
  if (kernel == Int8Kernel::kAuto || !Int8KernelAvailable(kernel)) kernel = BestKernel();
  switch (kernel) {
    case Int8Kernel::kAvx2: return kernels.avx2;
    case Int8Kernel::kAvx512Vnni: return kernels.avx512_vnni;
    case Int8Kernel::kAmx: return kernels.amx;
    case Int8Kernel::kScalar:
    case Int8Kernel::kAuto: break;
  }
  return kernels.scalar;
}

// One block of n inputs quantized: q (n bytes), its scale and its correction. Inlined with
// n = kInt8ActivationBlock for every full block, so the compiler sees a fixed trip count and emits
// plain vector code; with a run-time n (the old form, for every block) it emitted masked loops,
// mask arithmetic and a scalar reduction per block: 8 % of an int8-convolution vocoder frame.
//
// The largest |x| is taken as the largest magnitude bit pattern (for non-negative floats integer
// order is float order, and an infinity or NaN is at least the infinity pattern); rounding is by
// the 1.5 * 2^23 shift, which is round-half-to-even like nearbyint for the |v| <= 127 it sees.
__attribute__((always_inline)) inline void QuantizeBlock(const float* __restrict x, int64_t n, int32_t zero_point,
                                                         int8_t* __restrict q, float* scale, int32_t* correction) {
  uint32_t max_bits = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], sizeof(bits));
    max_bits = std::max(max_bits, bits & 0x7fffffffu);
  }
  if (max_bits >= 0x7f800000u) {  // a NaN or infinity makes the row's outputs NaN, as a float product would
    std::fill(q, q + n, 0);
    *scale = std::numeric_limits<float>::quiet_NaN();
    *correction = 0;
    return;
  }
  float max_abs;
  std::memcpy(&max_abs, &max_bits, sizeof(max_abs));
  float inverse = max_abs > 0 ? 127.0f / max_abs : 0.0f;
  // Below ~3.7e-37 the inverse overflows and x * inverse would be NaN for x = 0: such a block is
  // quantized to zeros (an error under 4e-37 per input).
  if (inverse > std::numeric_limits<float>::max()) inverse = 0.0f;
  *scale = max_abs / 127.0f;
  constexpr float kRoundShift = 12582912.0f;  // 1.5 * 2^23
  int32_t sum = 0;  // for the correction (the padding is zero)
  for (int64_t i = 0; i < n; ++i) {
    // Clamped as an integer (v is a finite whole number here, so this equals clamping the float):
    // integer min/max are one vector instruction each, where a float clamp compiled to compares
    // and blends through mask registers.
    const int32_t v = static_cast<int32_t>((x[i] * inverse + kRoundShift) - kRoundShift);
    const int32_t clamped = std::min(std::max(v, -127), 127);
    q[i] = static_cast<int8_t>(clamped);
    sum += clamped;
  }
  *correction = -zero_point * sum;
}

// One row's blocks of kBlock inputs, the last zero-padded when partial. kBlock fixed at compile
// time for the same reason as QuantizeBlock's n.
template <int64_t kBlock>
__attribute__((always_inline)) inline void QuantizeRow(const float* __restrict x_row, int64_t in, int64_t blocks,
                                                       int32_t zero_point, int8_t* __restrict q_row,
                                                       float* __restrict scale_row, int32_t* __restrict correction_row) {
  const int64_t full_blocks = in / kBlock;
  for (int64_t b = 0; b < full_blocks; ++b) {
    QuantizeBlock(x_row + b * kBlock, kBlock, zero_point, q_row + b * kBlock, scale_row + b, correction_row + b);
  }
  if (full_blocks < blocks) {  // a partial last block, zero-padded to a whole one
    const int64_t begin = full_blocks * kBlock;
    std::fill(q_row + in, q_row + blocks * kBlock, 0);
    QuantizeBlock(x_row + begin, in - begin, zero_point, q_row + begin, scale_row + full_blocks,
                  correction_row + full_blocks);
  }
}

// zero_point: what the packed weights add to each weight (128 for int8, 8 for int4; the int4
// product uses the same buffers with its own correction). block_inputs: 32, or 128 (int4-g128).
// Compiled for AVX-512 and AVX2 too, chosen at load (the same arithmetic: -ffp-contract=off keeps
// the multiply and the add apart).
#if defined(QWEN3TTS_X86_KERNELS)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
void QuantizeActivations(const float* x, int64_t rows, int64_t in, int32_t zero_point, int64_t block_inputs,
                         Int8Rows* a) {
  a->rows = rows;
  a->zero_point = zero_point;
  a->block_inputs = block_inputs;
  a->blocks = (in + block_inputs - 1) / block_inputs;
  const int64_t ldq = a->blocks * block_inputs;
  a->q.resize(static_cast<size_t>(rows * ldq));  // every byte that counts is written below
  a->scale.resize(static_cast<size_t>(rows * a->blocks));
  a->correction.resize(static_cast<size_t>(rows * a->blocks));
  for (int64_t r = 0; r < rows; ++r) {
    // Raw row pointers, restrict-qualified in QuantizeBlock: stores through a->q's int8_t would
    // otherwise alias the vector's own data pointer and x, and keep the compiler from vectorizing.
    const float* x_row = x + r * in;
    int8_t* q_row = a->q.data() + r * ldq;
    float* scale_row = a->scale.data() + r * a->blocks;
    int32_t* correction_row = a->correction.data() + r * a->blocks;
    if (block_inputs == kInt4G128Block) {
      QuantizeRow<kInt4G128Block>(x_row, in, a->blocks, zero_point, q_row, scale_row, correction_row);
    } else {
      QuantizeRow<kInt8ActivationBlock>(x_row, in, a->blocks, zero_point, q_row, scale_row, correction_row);
    }
  }
}

// One set of buffers per thread, shared by the int8 and int4 products.
Int8Rows& ThreadActivations() {
  thread_local Int8Rows activations;
  return activations;
}

// Every row of `rows`, one after another.
Int8RowsView WholeRows(const Int8Rows& rows) {
  return {rows.q.data(), rows.scale.data(), rows.correction.data(), rows.rows, rows.blocks,
          rows.blocks * rows.block_inputs, rows.blocks};
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
    case Int8Kernel::kAmx: return Int8KernelAvailable(Int8Kernel::kAvx512Vnni) && CpuHasAmx(AmxUnit::kInt8);
#else
    case Int8Kernel::kAvx2:
    case Int8Kernel::kAvx512Vnni:
    case Int8Kernel::kAmx: return false;
#endif
  }
  return false;
}

void QuantizeInt8Rows(const float* x, int64_t rows, int64_t in, Int8Rows* out) {
  QuantizeActivations(x, rows, in, /*zero_point=*/128, kInt8ActivationBlock, out);
}

void Int8GemvInto(const Int8Weight& w, const float* x, int64_t rows, float* y, Int8Kernel kernel) {
  if (rows == 0 || w.out == 0) return;
  Int8Rows& activations = ThreadActivations();
  QuantizeInt8Rows(x, rows, w.in, &activations);
  Int8GemvRowsInto(w, activations, y, kernel);
}

void Int8GemvRowsInto(const Int8Weight& w, const Int8Rows& x, float* y, Int8Kernel kernel) {
  TORCH_CHECK(x.zero_point == 128, "Int8GemvRowsInto: rows quantized for zero point ", x.zero_point, ", not int8's 128");
  TORCH_CHECK(x.block_inputs == kInt8ActivationBlock, "Int8GemvRowsInto: rows quantized in blocks of ", x.block_inputs,
              " inputs, not 32");
  Int8GemvRowsViewInto(w, WholeRows(x), y, w.out, kernel);
}

void QuantizeInt4Rows(const float* x, int64_t rows, int64_t in, Int8Rows* out, int64_t block_inputs) {
  CheckInt4BlockInputs("QuantizeInt4Rows", block_inputs);
  QuantizeActivations(x, rows, in, /*zero_point=*/8, block_inputs, out);
}

void Int8GemvRowsViewInto(const Int8Weight& w, const Int8RowsView& x, float* y, int64_t ldy, Int8Kernel kernel) {
  TORCH_CHECK(x.blocks == Blocks(w.in), "Int8GemvRowsViewInto: ", x.blocks, " blocks for ", w.in, " inputs");
  if (x.rows == 0 || w.out == 0) return;
  const Int8GemvProblem problem{w.packed.data_ptr<uint8_t>(), w.scale.data_ptr<float>(), w.out, x.blocks, x.q,
                                x.correction,                 x.scale,                   x.rows, y,        ldy,
                                x.q_stride,                   x.block_stride};
  const GemvTilesFn<Int8GemvProblem> gemv_tiles = KernelFunction(kInt8Kernels, kernel);
  // Tiles of 16 output rows are split between threads; each kernel's passes cover a few tiles and
  // rows (int8_dot_avx512vnni.cc, int8_dot_avx2.cc).
  ParallelFor(Tiles(w.out), /*grain=*/4, [&](int64_t begin, int64_t end) { gemv_tiles(problem, begin, end); });
}

void Int4GemvInto(const Int4Weight& w, const float* x, int64_t rows, float* y, Int8Kernel kernel) {
  if (rows == 0 || w.out == 0) return;
  Int8Rows& activations = ThreadActivations();
  QuantizeInt4Rows(x, rows, w.in, &activations, w.block_inputs);
  Int4GemvRowsInto(w, activations, y, kernel);
}

void Int4GemvRowsInto(const Int4Weight& w, const Int8Rows& x, float* y, Int8Kernel kernel) {
  TORCH_CHECK(x.zero_point == 8, "Int4GemvRowsInto: rows quantized for zero point ", x.zero_point, ", not int4's 8");
  TORCH_CHECK(x.block_inputs == w.block_inputs, "Int4GemvRowsInto: rows quantized in blocks of ", x.block_inputs,
              " inputs for weights in blocks of ", w.block_inputs);
  TORCH_CHECK(x.blocks == Blocks(w.in, w.block_inputs), "Int4GemvRowsInto: ", x.blocks, " blocks for ", w.in,
              " inputs");
  if (x.rows == 0 || w.out == 0) return;
  const Int8RowsView x_rows = WholeRows(x);
  const Int4GemvProblem problem{w.packed.data_ptr<uint8_t>(),
                                w.out,
                                x_rows.blocks,
                                Int4Layout(w).sub_blocks,
                                x_rows.q,
                                x_rows.correction,
                                x_rows.scale,
                                x.rows,
                                y,
                                w.out,
                                x_rows.q_stride,
                                x_rows.block_stride};
  const GemvTilesFn<Int4GemvProblem> gemv_tiles = KernelFunction(kInt4Kernels, kernel);
  ParallelFor(Tiles(w.out), /*grain=*/4, [&](int64_t begin, int64_t end) { gemv_tiles(problem, begin, end); });
}

namespace {

template <typename Weight>
at::Tensor GemvOnTensor(const char* name, const Weight& w, const at::Tensor& x_in, Int8Kernel kernel,
                        void (*into)(const Weight&, const float*, int64_t, float*, Int8Kernel)) {
  at::Tensor x = x_in.to(at::kFloat).contiguous();
  TORCH_CHECK(x.dim() == 2 && x.size(1) == w.in, name, ": input width ", x.size(-1), " != ", w.in);
  at::Tensor y = at::empty({x.size(0), w.out}, x.options());
  into(w, x.data_ptr<float>(), x.size(0), y.data_ptr<float>(), kernel);
  return y;
}

}  // namespace

at::Tensor Int8Gemv(const Int8Weight& w, const at::Tensor& x, Int8Kernel kernel) {
  return GemvOnTensor("Int8Gemv", w, x, kernel, Int8GemvInto);
}

at::Tensor Int4Gemv(const Int4Weight& w, const at::Tensor& x, Int8Kernel kernel) {
  return GemvOnTensor("Int4Gemv", w, x, kernel, Int4GemvInto);
}

}  // namespace qwen3tts::nn
