#include "common/audio/audio_file.h"

#include <sndfile.h>
#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

// libsndfile virtual I/O over an in-memory buffer.
struct MemoryFile {
  const std::string* data;
  sf_count_t pos = 0;
};

sf_count_t VioLength(void* user) { return static_cast<sf_count_t>(static_cast<MemoryFile*>(user)->data->size()); }
sf_count_t VioSeek(sf_count_t offset, int whence, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  sf_count_t size = static_cast<sf_count_t>(f->data->size());
  sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? f->pos : size;
  f->pos = std::clamp<sf_count_t>(base + offset, 0, size);
  return f->pos;
}
sf_count_t VioRead(void* ptr, sf_count_t count, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  sf_count_t n = std::min<sf_count_t>(count, static_cast<sf_count_t>(f->data->size()) - f->pos);
  if (n <= 0) return 0;
  std::memcpy(ptr, f->data->data() + f->pos, static_cast<size_t>(n));
  f->pos += n;
  return n;
}
sf_count_t VioWrite(const void*, sf_count_t, void*) { return 0; }
sf_count_t VioTell(void* user) { return static_cast<MemoryFile*>(user)->pos; }

// Below telephone rates a rate is a corrupt header or a wrong field rather than speech, and
// resampling a 1 Hz "recording" to 24 kHz makes 24000 samples per input sample (a 500-byte file
// became minutes of soxr work; a 4 MB request would have become 24 G samples).
absl::Status CheckSampleRate(int64_t rate, absl::string_view what) {
  if (rate < kMinSampleRate || rate > kMaxSampleRate) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ", rate, " Hz; supported rates are ", kMinSampleRate,
                                                   " to ", kMaxSampleRate, " Hz"));
  }
  return absl::OkStatus();
}

absl::Status CheckDuration(double seconds, const AudioLimits& limits) {
  if (seconds > limits.max_seconds) {
    return absl::OutOfRangeError(absl::StrCat("audio is ", seconds, " s long; the limit is ", limits.max_seconds, " s"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<float>> ResampleRequestAudio(const std::vector<float>& samples, int64_t rate,
                                                        int64_t target_rate, absl::string_view field,
                                                        const AudioLimits& limits) {
  if (rate == 0) rate = kDefaultRequestSampleRate;
  RETURN_IF_ERROR(CheckSampleRate(rate, field));
  RETURN_IF_ERROR(CheckDuration(static_cast<double>(samples.size()) / static_cast<double>(rate), limits));
  return Resample(samples, rate, target_rate);
}

absl::StatusOr<std::vector<float>> Resample(const std::vector<float>& in, int64_t from_rate, int64_t to_rate) {
  if (from_rate <= 0 || to_rate <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("sample rates must be > 0 (got ", from_rate, " -> ", to_rate, ")"));
  }
  if (from_rate == to_rate || in.empty()) return in;
  const double ratio = static_cast<double>(to_rate) / static_cast<double>(from_rate);
  std::vector<float> out(static_cast<size_t>(std::ceil(in.size() * ratio)) + 16);
  size_t done = 0;
  soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  soxr_error_t err = soxr_oneshot(static_cast<double>(from_rate), static_cast<double>(to_rate), 1, in.data(), in.size(),
                                  nullptr, out.data(), out.size(), &done, &io, &quality, nullptr);
  if (err != nullptr) return absl::InternalError(absl::StrCat("resampling failed: ", err));
  out.resize(done);
  return out;
}

absl::StatusOr<MonoAudio> DecodeAudio(const std::string& bytes, int64_t target_rate, const AudioLimits& limits) {
  if (bytes.empty()) return absl::InvalidArgumentError("audio is empty (0 bytes)");
  if (static_cast<int64_t>(bytes.size()) > limits.max_bytes) {
    return absl::OutOfRangeError(absl::StrCat("audio is ", bytes.size(), " bytes; the limit is ", limits.max_bytes));
  }
  MemoryFile mem{&bytes, 0};
  SF_VIRTUAL_IO vio = {VioLength, VioSeek, VioRead, VioWrite, VioTell};
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  SNDFILE* file = sf_open_virtual(&vio, SFM_READ, &info, &mem);
  if (file == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unreadable audio (supported: WAV, FLAC, OGG/Vorbis, ...): ",
                                                   sf_strerror(nullptr)));
  }
  struct Closer {
    SNDFILE* f;
    ~Closer() { sf_close(f); }
  } closer{file};
  if (info.channels <= 0 || info.samplerate <= 0 || info.frames <= 0) {
    return absl::InvalidArgumentError("audio has no samples or an invalid header");
  }
  RETURN_IF_ERROR(CheckSampleRate(info.samplerate, "audio sample rate"));
  if (info.channels > kMaxChannels) {
    return absl::InvalidArgumentError(
        absl::StrCat("audio has ", info.channels, " channels; at most ", kMaxChannels, " are supported"));
  }
  RETURN_IF_ERROR(CheckDuration(static_cast<double>(info.frames) / info.samplerate, limits));
  // Decoded in blocks: memory follows the data actually decoded, not the header's frame count
  // (a 200-byte FLAC can claim 10 minutes of 8-channel audio).
  constexpr sf_count_t kBlockFrames = 16384;
  std::vector<float> interleaved(static_cast<size_t>(kBlockFrames) * info.channels);
  MonoAudio out;
  out.sample_rate = info.samplerate;
  sf_count_t total = 0, got = 0;
  while (total < info.frames &&
         (got = sf_readf_float(file, interleaved.data(), std::min(kBlockFrames, info.frames - total))) > 0) {
    for (sf_count_t i = 0; i < got; ++i) {
      double sum = 0;
      for (int c = 0; c < info.channels; ++c) sum += interleaved[static_cast<size_t>(i) * info.channels + c];
      float v = static_cast<float>(sum / info.channels);
      out.samples.push_back(std::isfinite(v) ? v : 0.0f);
    }
    total += got;
  }
  if (total <= 0) return absl::InvalidArgumentError("audio data is truncated or corrupt (no frames decoded)");
  if (target_rate > 0 && target_rate != out.sample_rate) {
    ASSIGN_OR_RETURN(out.samples, Resample(out.samples, out.sample_rate, target_rate));
    // Huge (finite) float-WAV values can overflow the filter.
    for (float& s : out.samples) s = std::isfinite(s) ? s : 0.0f;
    out.sample_rate = target_rate;
  }
  return out;
}

absl::StatusOr<MonoAudio> ReadAudioFile(const std::string& path, int64_t target_rate, const AudioLimits& limits) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  absl::StatusOr<MonoAudio> audio = DecodeAudio(bytes, target_rate, limits);
  if (!audio.ok()) return absl::Status(audio.status().code(), absl::StrCat(path, ": ", audio.status().message()));
  return audio;
}

std::string EncodeWav(const std::vector<float>& samples, int64_t sample_rate, WavEncoding encoding) {
  const uint16_t format = encoding == WavEncoding::kPcm16 ? 1 : 3;
  const uint16_t bits = encoding == WavEncoding::kPcm16 ? 16 : 32;
  const uint32_t data_bytes = static_cast<uint32_t>(samples.size() * (bits / 8));
  std::string out;
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff)); };
  auto u16 = [&](uint16_t v) { for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff)); };
  out += "RIFF";
  u32(36 + data_bytes);
  out += "WAVEfmt ";
  u32(16);
  u16(format);
  u16(1);
  u32(static_cast<uint32_t>(sample_rate));
  u32(static_cast<uint32_t>(sample_rate * (bits / 8)));
  u16(bits / 8);
  u16(bits);
  out += "data";
  u32(data_bytes);
  out.reserve(out.size() + data_bytes);
  for (float s : samples) {
    if (encoding == WavEncoding::kPcm16) {
      float c = std::clamp(std::isfinite(s) ? s : 0.0f, -1.0f, 1.0f);
      u16(static_cast<uint16_t>(static_cast<int16_t>(std::lrint(c * 32767.0f))));
    } else {
      uint32_t bitsv;
      std::memcpy(&bitsv, &s, 4);
      u32(bitsv);
    }
  }
  return out;
}

absl::Status WriteWavFile(const std::string& path, const std::vector<float>& samples, int64_t sample_rate,
                          WavEncoding encoding) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot create"));
  const std::string bytes = EncodeWav(samples, sample_rate, encoding);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) return absl::InternalError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace qwen3tts
