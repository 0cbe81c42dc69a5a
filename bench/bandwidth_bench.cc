// Memory streaming bandwidth: the read rate that bounds a decoder whose weights do not fit in cache.
// Each pass sums a large float array (default 1 GiB) split across N threads; the best pass counts,
// since on a shared machine the slower passes measure the neighbours, not the memory.
//
//   qwen3tts-bench-bandwidth [--mib N] [--threads N] [--passes N] [--json]
//
// The sum uses 128-bit vector accumulators (GCC vector extension, no -march needed) so that the
// loop is limited by loads, not by the add latency of a scalar reduction.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
typedef float Vec4 __attribute__((vector_size(16)));

// Sums floats [begin, end); begin and end are multiples of 16 floats.
float SumRange(const float* data, size_t begin, size_t end) {
  Vec4 a = {0, 0, 0, 0}, b = a, c = a, d = a;
  for (size_t i = begin; i < end; i += 16) {
    Vec4 x0, x1, x2, x3;
    std::memcpy(&x0, data + i, sizeof(Vec4));
    std::memcpy(&x1, data + i + 4, sizeof(Vec4));
    std::memcpy(&x2, data + i + 8, sizeof(Vec4));
    std::memcpy(&x3, data + i + 12, sizeof(Vec4));
    a += x0;
    b += x1;
    c += x2;
    d += x3;
  }
  Vec4 s = a + b + c + d;
  return s[0] + s[1] + s[2] + s[3];
}

// Runs fn(thread_index, begin, end) on `threads` threads over [0, n) in 16-float aligned slices.
template <typename Fn>
void Parallel(int threads, size_t n, Fn fn) {
  std::vector<std::thread> pool;
  const size_t blocks = n / 16;
  for (int t = 0; t < threads; ++t) {
    const size_t begin = blocks * t / threads * 16, end = blocks * (t + 1) / threads * 16;
    pool.emplace_back([=] { fn(t, begin, end); });
  }
  for (std::thread& th : pool) th.join();
}

int Usage() {
  std::fprintf(stderr, "usage: qwen3tts-bench-bandwidth [--mib N] [--threads N] [--passes N] [--json]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  long mib = 1024, threads = 2, passes = 7;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    long* target = arg == "--mib" ? &mib : arg == "--threads" ? &threads : arg == "--passes" ? &passes : nullptr;
    if (arg == "--json") {
      json = true;
    } else if (target != nullptr && i + 1 < argc) {
      char* end = nullptr;
      *target = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || *target <= 0) return Usage();
    } else {
      return Usage();
    }
  }
  const size_t n = static_cast<size_t>(mib) * 1024 * 1024 / sizeof(float) / 16 * 16;
  std::unique_ptr<float[]> data(new float[n]);  // uninitialized: first touch below, per thread
  // Each thread writes its own slice first so that its pages are mapped before timing starts.
  Parallel(static_cast<int>(threads), n, [&](int, size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) data[i] = static_cast<float>(i & 1023) * 1e-3f;
  });

  std::vector<double> seconds;
  std::vector<float> partial(threads);
  double checksum = 0;
  for (long p = 0; p < passes; ++p) {
    const auto start = Clock::now();
    Parallel(static_cast<int>(threads), n,
             [&](int t, size_t begin, size_t end) { partial[t] = SumRange(data.get(), begin, end); });
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    for (float s : partial) checksum += s;  // keeps the sums observable
  }
  const double bytes = static_cast<double>(n) * sizeof(float);
  const double best = *std::min_element(seconds.begin(), seconds.end());
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  if (json) {
    std::printf("{\"bytes\":%.0f,\"threads\":%ld,\"passes\":%ld,\"best_gb_per_s\":%.3f,\"median_gb_per_s\":%.3f,"
                "\"checksum\":%.1f}\n",
                bytes, threads, passes, bytes / best / 1e9, bytes / median / 1e9, checksum);
  } else {
    std::printf("read bandwidth: %.0f MiB, %ld threads, %ld passes: best %.2f GB/s, median %.2f GB/s\n",
                bytes / 1048576.0, threads, passes, bytes / best / 1e9, bytes / median / 1e9);
  }
  return 0;
}
