// The per-frame hot path allocates nothing: once a thread has stepped a batch as large, a frame
// (code predictor's 16 passes, talker step, heads, sampling) makes no heap allocation, for every
// precision whose layers run on the row kernels. Counted by replacing the global operator new in
// this test executable: every tensor an at:: op creates allocates its TensorImpl and storage
// objects through it, as does any std::vector or std::function that grows.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <algorithm>
#include <string>
#include <vector>

#include "common/talker/talker_generator.h"
#include "tests/support/random_talker.h"

namespace {

std::atomic<bool> counting{false};
std::atomic<int64_t> allocations{0};

void* Allocate(std::size_t n, std::size_t alignment) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  void* p = nullptr;
  if (alignment <= alignof(std::max_align_t)) {
    p = std::malloc(n);
  } else if (posix_memalign(&p, alignment, n) != 0) {
    p = nullptr;
  }
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t n) { return Allocate(n, 0); }
void* operator new[](std::size_t n) { return Allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return Allocate(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return Allocate(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace qwen3tts {
namespace {

struct HotPathCase {
  WeightPrecision precision;
  std::string size;
  int sequences;
  bool sample;
};

std::string CaseName(const ::testing::TestParamInfo<HotPathCase>& info) {
  const HotPathCase& c = info.param;
  std::string precision = WeightPrecisionName(c.precision);
  std::replace(precision.begin(), precision.end(), '-', '_');  // test names take [A-Za-z0-9_]
  return precision + "_" + c.size + "_batch" + std::to_string(c.sequences) + (c.sample ? "_sampled" : "_greedy");
}

class TalkerHotPathTest : public ::testing::TestWithParam<HotPathCase> {};

TEST_P(TalkerHotPathTest, SteadyStateFramesAllocateNothing) {
  const HotPathCase& c = GetParam();
  auto model = testing::LoadRandomTalker(ModelVariant::kCustomVoice, c.size, c.precision);
  ASSERT_NE(model, nullptr);
  std::vector<std::unique_ptr<TalkerSequence>> owned;
  std::vector<TalkerSequence*> batch;
  for (int i = 0; i < c.sequences; ++i) {
    TalkerRequest r;
    r.input_ids = testing::TemplateIds(4 + i);
    r.speaker = "Ryan";
    r.language = "English";
    r.options.max_new_tokens = r.options.min_new_tokens = 40;  // no EOS: every step makes frames
    r.options.talker.do_sample = r.options.code_predictor.do_sample = c.sample;
    r.options.talker.top_p = 0.9;  // top-k, top-p and the draw all run
    r.options.seed = 100 + i;
    auto seq = TalkerSequence::Start(model, r);
    ASSERT_TRUE(seq.ok()) << seq.status();
    batch.push_back(seq->get());
    owned.push_back(std::move(*seq));
  }
  int64_t frames = 0;
  auto step = [&] {
    absl::Status status = StepBatch(batch, [&frames](size_t, const std::vector<int64_t>&) { ++frames; });
    ASSERT_TRUE(status.ok()) << status;
  };
  for (int i = 0; i < 3; ++i) step();  // the thread's buffers grow to this batch
  allocations.store(0);
  counting.store(true);
  for (int i = 0; i < 10; ++i) step();
  counting.store(false);
  EXPECT_EQ(frames, 13 * c.sequences);
  EXPECT_EQ(allocations.load(), 0) << "heap allocations in 10 steady-state steps";
}

INSTANTIATE_TEST_SUITE_P(Precisions, TalkerHotPathTest,
                         ::testing::Values(HotPathCase{WeightPrecision::kFloat32, "0b6", 1, false},
                                           HotPathCase{WeightPrecision::kFloat32, "1b7", 3, true},
                                           HotPathCase{WeightPrecision::kInt8, "0b6", 1, true},
                                           HotPathCase{WeightPrecision::kInt8, "1b7", 3, false},
                                           HotPathCase{WeightPrecision::kInt4, "1b7", 2, true},
                                           HotPathCase{WeightPrecision::kInt4G128, "1b7", 4, true}),
                         CaseName);

// The counter sees what the hot path would do wrong: one tensor op allocates.
TEST(TalkerHotPathCounterTest, CountsTensorAllocations) {
  at::Tensor a = at::ones({4});
  allocations.store(0);
  counting.store(true);
  at::Tensor b = a + 1;
  counting.store(false);
  EXPECT_GT(allocations.load(), 0);
  EXPECT_EQ(b[0].item<float>(), 2.0f);
}

}  // namespace
}  // namespace qwen3tts
