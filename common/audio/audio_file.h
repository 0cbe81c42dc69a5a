// Audio file I/O: WAV / FLAC / OGG (anything libsndfile reads) from a file or from bytes in
// memory, down-mixed to mono and resampled (libsoxr, high quality) to the rate the models use;
// WAV writing as 16-bit PCM or 32-bit float.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qwen3tts {

// Sample rates and channel counts DecodeAudio accepts (anything else is INVALID_ARGUMENT).
inline constexpr int kMinSampleRate = 4000;
inline constexpr int kMaxSampleRate = 768000;
inline constexpr int kMaxChannels = 64;

struct AudioLimits {
  double max_seconds = 600.0;   // longer inputs are OUT_OF_RANGE (checked from the header, before decoding)
  int64_t max_bytes = 256ll << 20;
};

struct MonoAudio {
  std::vector<float> samples;  // [-1, 1] nominal
  int64_t sample_rate = 0;
};

// Decodes audio bytes. INVALID_ARGUMENT for unreadable/corrupt/empty data, OUT_OF_RANGE beyond the
// limits. Multi-channel audio is averaged to mono. target_rate 0 keeps the file's rate.
absl::StatusOr<MonoAudio> DecodeAudio(const std::string& bytes, int64_t target_rate = 24000,
                                      const AudioLimits& limits = {});
absl::StatusOr<MonoAudio> ReadAudioFile(const std::string& path, int64_t target_rate = 24000,
                                        const AudioLimits& limits = {});

// Raw samples from a request at `rate` (0: kDefaultRequestSampleRate, as the protos document;
// `field` names the rate's field in errors): INVALID_ARGUMENT for a rate outside
// [kMinSampleRate, kMaxSampleRate], OUT_OF_RANGE beyond limits.max_seconds; otherwise the samples
// resampled to target_rate.
inline constexpr int kDefaultRequestSampleRate = 24000;
absl::StatusOr<std::vector<float>> ResampleRequestAudio(const std::vector<float>& samples, int64_t rate,
                                                        int64_t target_rate, absl::string_view field,
                                                        const AudioLimits& limits = {});

// High-quality resampling (libsoxr, HQ recipe) of a whole signal.
absl::StatusOr<std::vector<float>> Resample(const std::vector<float>& samples, int64_t from_rate, int64_t to_rate);

enum class WavEncoding { kPcm16, kFloat32 };
// A complete WAV file. PCM16 clips to [-1, 1] and rounds.
std::string EncodeWav(const std::vector<float>& samples, int64_t sample_rate, WavEncoding encoding);
absl::Status WriteWavFile(const std::string& path, const std::vector<float>& samples, int64_t sample_rate,
                          WavEncoding encoding);

}  // namespace qwen3tts
