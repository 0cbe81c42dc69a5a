// Streaming output encoders: audio goes in as it is synthesized (24 kHz float), encoded bytes come
// out as soon as the format allows, so a client can play while the server still speaks.
// Formats: 16-bit PCM, float PCM, WAV (streaming header), Ogg/Opus (RFC 7845) and MP3; an optional
// high-quality resampler (libsoxr) converts to the requested rate first.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace qwen3tts {

enum class OutputFormat { kPcm16, kPcmF32, kWav, kOggOpus, kMp3 };

class AudioOutputEncoder {
 public:
  virtual ~AudioOutputEncoder() = default;
  // Encoded bytes for `n` more input samples (possibly empty while a frame fills up).
  virtual absl::StatusOr<std::string> Encode(const float* samples, size_t n) = 0;
  // Everything still buffered, and the stream trailer; no Encode afterwards.
  virtual absl::StatusOr<std::string> Finish() = 0;
  virtual int output_rate() const = 0;
};

// `output_rate` 0 keeps `input_rate`. INVALID_ARGUMENT for rates a format cannot carry (Opus:
// 8000, 12000, 16000, 24000, 48000; MP3: the MPEG rates 8000..48000).
absl::StatusOr<std::unique_ptr<AudioOutputEncoder>> MakeAudioOutputEncoder(OutputFormat format, int input_rate,
                                                                           int output_rate);

}  // namespace qwen3tts
