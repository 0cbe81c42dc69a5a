// Built with -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -mavx512vnni (common/nn/CMakeLists.txt):
// the 256-bit VNNI dot product replaces maddubs + madd. Called only when the CPU has all of them.
#include "common/nn/int8_dot.h"
#include "common/nn/int8_dot_simd.h"

namespace qwen3tts::nn {

void Int8GemvRangeAvx512Vnni(const Int8GemvProblem& p, int64_t begin, int64_t end) { GemvRange(p, begin, end); }

}  // namespace qwen3tts::nn
