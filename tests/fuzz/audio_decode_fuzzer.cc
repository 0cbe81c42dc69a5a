// libFuzzer target: DecodeAudio (libsndfile from memory + libsoxr resampling) on arbitrary bytes.
// The target rate depends on the input length so that 0 (keep), down- and up-sampling are all
// exercised without shifting the file bytes. Invariants: success or INVALID_ARGUMENT /
// OUT_OF_RANGE; decoded samples are finite and the rate is the one asked for.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/audio/audio_file.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "audio_decode_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int64_t kRates[] = {24000, 0, 16000, 44100};
  const int64_t rate = kRates[size % 4];
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  qwen3tts::AudioLimits limits;  // the services' defaults
  auto audio = qwen3tts::DecodeAudio(bytes, rate, limits);
  if (!audio.ok()) {
    const absl::StatusCode code = audio.status().code();
    if (code != absl::StatusCode::kInvalidArgument && code != absl::StatusCode::kOutOfRange) {
      Fail("DecodeAudio failed with a code other than INVALID_ARGUMENT / OUT_OF_RANGE");
    }
    return 0;
  }
  if (rate > 0 && audio->sample_rate != rate) Fail("sample_rate is not the target rate");
  if (audio->sample_rate <= 0) Fail("sample_rate <= 0");
  for (float s : audio->samples) {
    if (!std::isfinite(s)) Fail("non-finite sample");
  }
  return 0;
}
