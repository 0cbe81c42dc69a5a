#include "common/nn/bf16_tiles.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

#include "common/nn/cpu_features.h"
#include "common/nn/parallel.h"
#include "common/nn/row_ops.h"

namespace qwen3tts::nn {
namespace {

int64_t Tiles(int64_t out) { return (out + kBf16TileOutputs - 1) / kBf16TileOutputs; }

}  // namespace

bool AmxBf16Available() { return CpuHasAmx(AmxUnit::kBf16); }

Bf16TileWeight PackBf16TileWeight(const at::Tensor& weight, int64_t taps, int64_t in) {
  const int64_t out = weight.size(0), tiles = Tiles(out);
  const int64_t width = Bf16TileWidth(in);
  const int64_t chunks = width / kBf16TileInputs;
  TORCH_CHECK(weight.dim() == 2 && weight.size(1) == taps * in, "PackBf16TileWeight: weight ", weight.sizes(),
              " is not [out, ", taps, " * ", in, "]");
  at::Tensor padded = at::zeros({tiles * kBf16TileOutputs, taps, width});
  padded.narrow(0, 0, out).narrow(2, 0, in).copy_(weight.to(at::kFloat).view({out, taps, in}));
  // [tile, output n, tap, chunk, pair k, 2] -> [tile, tap, chunk, pair k, output n, 2]
  at::Tensor packed = padded.to(at::kBFloat16)
                          .view({tiles, kBf16TileOutputs, taps, chunks, kBf16TileInputs / 2, 2})
                          .permute({0, 2, 3, 4, 1, 5})
                          .contiguous();
  return Bf16TileWeight{packed.view({-1}), out, taps, in, width};
}

void ToBf16Steps(const float* x, int64_t steps, int64_t in, int64_t width, Bf16Steps* out) {
  ToBf16StepsAfter(nullptr, 0, x, steps, in, width, out);
}

void ToBf16StepsAfter(const uint16_t* context, int64_t context_steps, const float* x, int64_t steps, int64_t in,
                      int64_t width, Bf16Steps* out, const SnakeBetaChannels* activation) {
  const int64_t total = context_steps + steps;
  out->steps = total;
  out->width = width;
  // kBf16TileRows zero steps after the last: a partial group of rows reads whole tiles.
  out->values.resize(static_cast<size_t>((total + kBf16TileRows) * width));
  if (context_steps > 0) {
    std::memcpy(out->values.data(), context, static_cast<size_t>(context_steps * width) * sizeof(uint16_t));
  }
#if defined(QWEN3TTS_X86_KERNELS)
  uint16_t* rounded = out->values.data() + context_steps * width;
  if (activation != nullptr) {
    // On every thread, as SnakeBetaChannelsLast splits an offline decode's activations.
    ParallelFor(steps, SnakeRowsPerChunk(width), [&](int64_t begin, int64_t end) {
      SnakeBetaToBf16RowsAvx512(x + begin * in, end - begin, in, width, *activation, rounded + begin * width);
    });
  } else {
    ToBf16RowsAvx512(x, steps, in, width, rounded);
  }
#else
  TORCH_CHECK(false, "ToBf16Steps: built without the x86 kernels");
#endif
  std::memset(out->values.data() + total * width, 0, static_cast<size_t>(kBf16TileRows * width) * sizeof(uint16_t));
}

void Bf16ConvRowsInto(const Bf16TileWeight& w, const Bf16Steps& x, int64_t rows, int64_t dilation, const float* bias,
                      float* y, int64_t ldy) {
  const Bf16ConvPart part{&x, rows, y};
  Bf16ConvPartsInto(w, &part, 1, dilation, bias, ldy);
}

void Bf16ConvPartsInto(const Bf16TileWeight& w, const Bf16ConvPart* parts, int64_t num_parts, int64_t dilation,
                       const float* bias, int64_t ldy, bool add_to_output) {
  TORCH_CHECK(AmxBf16Available(), "Bf16ConvRowsInto: this CPU has no usable AMX-BF16 tiles");
  const int64_t history = (w.taps - 1) * dilation, width = w.width;
  const auto few_rows = [](int64_t rows) { return rows > 0 && rows < kBf16TileRows; };
  int64_t small_parts = 0, stacked_steps = 0;
  for (int64_t i = 0; i < num_parts; ++i) {
    const Bf16Steps& x = *parts[i].x;
    const int64_t rows = parts[i].rows;
    TORCH_CHECK(x.width == width && rows + history <= x.steps, "Bf16ConvRowsInto: ", x.steps, " steps of width ",
                x.width, " for ", rows, " rows of ", w.taps, " taps (dilation ", dilation, ") of width ", width);
    if (few_rows(rows)) {
      ++small_parts;
      stacked_steps += rows + history;
    }
  }
  // Parts of fewer rows than a tile group (a streamed frame's first convolutions: 1-4 rows per
  // stream) each took a whole group of 16 rows, mostly zero steps: at 8 streams the first decoder
  // block's upsampling product multiplied 128 rows for 32. Their steps stacked in one buffer, one
  // after another with their receptive fields, make one segment whose rows between the parts mix
  // two parts' steps and are dropped; every kept row has its own part's steps, so its bits.
  const bool stack = small_parts >= 2 && (stacked_steps - history + kBf16TileRows - 1) / kBf16TileRows < small_parts;
  thread_local std::vector<uint16_t> stacked_x;
  thread_local std::vector<float> stacked_y;
  thread_local std::vector<Bf16ConvSegment> segments;
  segments.clear();
  if (stack) {
    stacked_x.resize(static_cast<size_t>((stacked_steps + kBf16TileRows) * width));
    int64_t at = 0;
    for (int64_t i = 0; i < num_parts; ++i) {
      const int64_t rows = parts[i].rows;
      if (!few_rows(rows)) continue;
      std::memcpy(stacked_x.data() + at * width, parts[i].x->values.data(),
                  static_cast<size_t>((rows + history) * width) * sizeof(uint16_t));
      at += rows + history;
    }
    // Zero steps past the last, as in Bf16Steps: a partial group reads whole tiles.
    std::memset(stacked_x.data() + at * width, 0, static_cast<size_t>(kBf16TileRows * width) * sizeof(uint16_t));
    stacked_y.resize(static_cast<size_t>((stacked_steps - history) * ldy));
    segments.push_back(Bf16ConvSegment{stacked_x.data(), stacked_steps - history, stacked_y.data()});
  }
  for (int64_t i = 0; i < num_parts; ++i) {
    const int64_t rows = parts[i].rows;
    if (rows > 0 && !(stack && few_rows(rows))) {
      segments.push_back(Bf16ConvSegment{parts[i].x->values.data(), rows, parts[i].y});
    }
  }
  if (segments.empty() || w.out == 0) return;
  const Bf16ConvProblem problem{reinterpret_cast<const uint16_t*>(w.packed.data_ptr<at::BFloat16>()),
                                w.out,
                                w.taps,
                                w.width / kBf16TileInputs,
                                w.width,
                                dilation,
                                bias,
                                ldy,
                                segments.data(),
                                static_cast<int64_t>(segments.size()),
                                add_to_output};
  // Threads take pairs of output tiles (the kernel's passes cover two).
  const int64_t tiles = Tiles(w.out);
#if defined(QWEN3TTS_X86_KERNELS)
  ParallelFor((tiles + 1) / 2, /*grain=*/1, [&](int64_t begin, int64_t end) {
    Bf16ConvTilesAmx(problem, 2 * begin, std::min(2 * end, tiles));
  });
#endif
  if (stack) {
    int64_t at = 0;
    for (int64_t i = 0; i < num_parts; ++i) {
      const int64_t rows = parts[i].rows;
      if (!few_rows(rows)) continue;
      for (int64_t r = 0; r < rows; ++r) {
        float* y = parts[i].y + r * ldy;
        const float* product = stacked_y.data() + (at + r) * ldy;
        if (add_to_output) {
          AddScaledRows(y, product, /*scale=*/nullptr, /*rows=*/1, w.out);
        } else {
          std::memcpy(y, product, static_cast<size_t>(w.out) * sizeof(float));
        }
      }
      at += rows + history;
    }
  }
}

}  // namespace qwen3tts::nn
