// Built with -mavx2 -mfma (common/nn/CMakeLists.txt); called only when the CPU has both.
#include "common/nn/int8_dot.h"
#include "common/nn/int8_dot_simd.h"

namespace qwen3tts::nn {

void Int8GemvRangeAvx2(const Int8GemvProblem& p, int64_t begin, int64_t end) { GemvRange(p, begin, end); }

}  // namespace qwen3tts::nn
