// Linear-layer kernels side by side on one weight matrix: ms per call and weight bytes streamed per
// second, for a few activation rows (decoding steps, streaming-decoder frames) up to GEMM sizes.
//
//   qwen3tts-bench-linear [--shape OUTxIN]... [--rows 1,2,4,8,16,32,64] [--threads N] [--reps N]
//                         [--kernel auto|amx|avx512-vnni|avx2|scalar]
//
// --kernel: the int8/int4 kernel to time (default: the fastest this CPU has); a kernel the CPU
//           lacks is refused.
//
// Columns: at::linear (OpenBLAS GEMM, repacks the weight every call), at::mv per row (the float32
// decoding path before nn::FloatGemv), nn::FloatGemv, nn::FloatGemv on bfloat16 weights (half the
// bytes, float32 arithmetic), nn::Int8Gemv (int8 weights, a quarter of the
// bytes), nn::Int4Gemv (4-bit weights with bfloat16 block scales, 0.14x the bytes of float32) and
// the same with one scale per 128 inputs (int4-g128: AMX tiles where the CPU has them). The weight
// matrix is larger than the L3 cache unless a small shape is asked for.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/nn/float_gemv.h"
#include "common/nn/int8_gemv.h"

namespace {

using Clock = std::chrono::steady_clock;

// Best of `reps` calls (after one warm-up), in milliseconds: on a shared machine the slower calls
// measure the neighbours.
double BestMs(int reps, const std::function<void()>& fn) {
  fn();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return best;
}

bool ParseList(const std::string& text, std::vector<int64_t>* out) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v <= 0) return false;
    out->push_back(v);
  }
  return !out->empty();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace qwen3tts::nn;
  std::vector<std::pair<int64_t, int64_t>> shapes;
  std::vector<int64_t> rows_list = {1, 2, 4, 8, 16, 32, 64};
  int threads = 0, reps = 20;
  Int8Kernel kernel = Int8Kernel::kAuto;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--shape" && has_value) {
      std::vector<std::string> parts = absl::StrSplit(argv[++i], 'x');
      int64_t out = 0, in = 0;
      if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &out) || !absl::SimpleAtoi(parts[1], &in) || out <= 0 ||
          in <= 0) {
        std::fprintf(stderr, "--shape takes OUTxIN with positive integers, e.g. 3072x1024\n");
        return 2;
      }
      shapes.emplace_back(out, in);
    } else if (arg == "--rows" && has_value) {
      if (!ParseList(argv[++i], &rows_list)) {
        std::fprintf(stderr, "--rows takes positive integers separated by commas\n");
        return 2;
      }
    } else if ((arg == "--threads" || arg == "--reps") && has_value) {
      int v = 0;
      if (!absl::SimpleAtoi(argv[++i], &v) || v <= 0) {
        std::fprintf(stderr, "%s takes a positive integer\n", arg.c_str());
        return 2;
      }
      (arg == "--threads" ? threads : reps) = v;
    } else if (arg == "--kernel" && has_value) {
      const std::string name = argv[++i];
      const std::pair<const char*, Int8Kernel> kernels[] = {{"auto", Int8Kernel::kAuto},
                                                            {"amx", Int8Kernel::kAmx},
                                                            {"avx512-vnni", Int8Kernel::kAvx512Vnni},
                                                            {"avx2", Int8Kernel::kAvx2},
                                                            {"scalar", Int8Kernel::kScalar}};
      bool known = false;
      for (const auto& [kernel_name, value] : kernels) {
        if (name == kernel_name) {
          known = true;
          kernel = value;
        }
      }
      if (!known || !Int8KernelAvailable(kernel)) {
        std::fprintf(stderr, "--kernel takes auto, amx, avx512-vnni, avx2 or scalar (one this CPU has), not '%s'\n",
                     name.c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: %s [--shape OUTxIN]... [--rows 1,2,4,...] [--threads N] [--reps N] "
                   "[--kernel auto|amx|avx512-vnni|avx2|scalar]\n",
                   argv[0]);
      return 2;
    }
  }
  if (shapes.empty()) shapes = {{3072, 1024}, {6144, 3072}};
  if (threads > 0) at::set_num_threads(threads);
  std::printf("threads: %d  (best of %d calls; GB/s = weight bytes / time)\n", at::get_num_threads(), reps);
  std::printf("%-12s %5s %10s %10s %10s %10s %10s %10s %10s %10s %10s %10s %10s %10s %10s\n", "shape", "rows",
              "gemm ms", "mv/row ms", "float ms", "bf16 ms", "int8 ms", "int4 ms", "g128 ms", "float GB/s", "bf16 GB/s",
              "int8 GB/s", "int4 GB/s", "g128 GB/s", "gemm/float");
  for (const auto& [out, in] : shapes) {
    at::manual_seed(1);
    const at::Tensor w = at::randn({out, in}) * 0.05;
    const Int8Weight q = QuantizeInt8(w);
    const Int4Weight q4 = QuantizeInt4(w);
    const Int4Weight q4g = QuantizeInt4(w, kInt4G128Block);
    const at::Tensor w16 = w.to(at::kBFloat16);
    for (int64_t rows : rows_list) {
      const at::Tensor x = at::randn({rows, in});
      at::Tensor y = at::empty({rows, out});
      const double gemm = BestMs(reps, [&] { at::linear(x, w); });
      const double mv = BestMs(reps, [&] {
        for (int64_t r = 0; r < rows; ++r) {
          at::Tensor row = y.select(0, r);
          at::mv_out(row, w, x.select(0, r));
        }
      });
      const double fl = BestMs(reps, [&] { FloatGemv(w, x); });
      const double bf = BestMs(reps, [&] { FloatGemv(w16, x); });
      const double i8 = BestMs(reps, [&] { Int8Gemv(q, x, kernel); });
      const double i4 = BestMs(reps, [&] { Int4Gemv(q4, x, kernel); });
      const double i4g = BestMs(reps, [&] { Int4Gemv(q4g, x, kernel); });
      const double gb = static_cast<double>(out * in) * 4 / 1e6;  // MB = GB/s * ms
      const double gb4 = static_cast<double>(q4.packed.numel()) / 1e6;
      const double gb4g = static_cast<double>(q4g.packed.numel()) / 1e6;
      std::printf(
          "%-12s %5lld %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %10.1f %10.1f %10.1f %10.1f %10.1f %9.2fx\n",
          (std::to_string(out) + "x" + std::to_string(in)).c_str(), static_cast<long long>(rows), gemm, mv, fl, bf, i8,
          i4, i4g, gb / fl, gb / 2 / bf, gb / 4 / i8, gb4 / i4, gb4g / i4g, gemm / fl);
    }
  }
  return 0;
}
