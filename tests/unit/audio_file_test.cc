// Audio file I/O: WAV round trips, down-mixing, resampling, and clean errors on bad bytes.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <cmath>
#include <complex>
#include <tuple>

#include "tests/support/audio_test_util.h"
#include "common/audio/audio_file.h"

namespace qwen3tts {
namespace {

using testing::PeakHz;
using testing::Sine;

// A stereo 16-bit WAV with different channels.
std::string StereoWav(const std::vector<float>& left, const std::vector<float>& right, int rate) {
  std::string mono = EncodeWav(left, rate, WavEncoding::kPcm16);  // reuse header layout, then rewrite
  std::string out;
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff)); };
  auto u16 = [&](uint16_t v) { for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff)); };
  uint32_t data = static_cast<uint32_t>(left.size() * 4);
  out += "RIFF";
  u32(36 + data);
  out += "WAVEfmt ";
  u32(16);
  u16(1);
  u16(2);
  u32(rate);
  u32(rate * 4);
  u16(4);
  u16(16);
  out += "data";
  u32(data);
  for (size_t i = 0; i < left.size(); ++i) {
    u16(static_cast<uint16_t>(static_cast<int16_t>(std::lrint(left[i] * 32767))));
    u16(static_cast<uint16_t>(static_cast<int16_t>(std::lrint(right[i] * 32767))));
  }
  return out;
}

TEST(AudioFileTest, WavRoundTripsInBothEncodings) {
  std::vector<float> s = Sine(440, 24000, 0.5);
  auto pcm = DecodeAudio(EncodeWav(s, 24000, WavEncoding::kPcm16));
  ASSERT_TRUE(pcm.ok()) << pcm.status();
  ASSERT_EQ(pcm->samples.size(), s.size());
  EXPECT_EQ(pcm->sample_rate, 24000);
  for (size_t i = 0; i < s.size(); ++i) ASSERT_NEAR(pcm->samples[i], s[i], 1.0 / 32767 + 1e-6);
  auto f32 = DecodeAudio(EncodeWav(s, 24000, WavEncoding::kFloat32));
  ASSERT_TRUE(f32.ok());
  for (size_t i = 0; i < s.size(); ++i) ASSERT_EQ(f32->samples[i], s[i]);
}

TEST(AudioFileTest, StereoIsAveragedToMono) {
  std::vector<float> left(1000, 0.5f), right(1000, -0.25f);
  auto mono = DecodeAudio(StereoWav(left, right, 24000));
  ASSERT_TRUE(mono.ok()) << mono.status();
  ASSERT_EQ(mono->samples.size(), 1000u);
  EXPECT_NEAR(mono->samples[10], 0.125f, 1e-4);
}

TEST(AudioFileTest, ResamplesTo24kPreservingLengthAndPitch) {
  for (int rate : {16000, 44100, 48000}) {
    std::vector<float> s = Sine(440, rate, 1.0);
    auto out = DecodeAudio(EncodeWav(s, rate, WavEncoding::kFloat32), 24000);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->sample_rate, 24000);
    EXPECT_NEAR(static_cast<double>(out->samples.size()), 24000.0, 2.0) << rate;
    EXPECT_NEAR(PeakHz(out->samples, 24000), 440.0, 5.0) << rate;
  }
}

// FLAC and Ogg/Vorbis files written by libsndfile decode (and resample) like WAV.
TEST(AudioFileTest, ReadsFlacAndOggVorbis) {
  for (auto [format, ext, tolerance] : {std::tuple<int, const char*, double>{SF_FORMAT_FLAC | SF_FORMAT_PCM_16, "flac", 1e-4},
                                        {SF_FORMAT_OGG | SF_FORMAT_VORBIS, "ogg", 0.05}}) {
    const std::string path = "/tmp/qwen3tts_audio_" + std::to_string(::getpid()) + "." + ext;
    std::vector<float> s = Sine(440, 48000, 0.5, 0.4f);
    SF_INFO info = {};
    info.samplerate = 48000;
    info.channels = 1;
    info.format = format;
    SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
    ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
    sf_writef_float(f, s.data(), static_cast<sf_count_t>(s.size()));
    sf_close(f);
    auto native = ReadAudioFile(path, 0);
    ASSERT_TRUE(native.ok()) << native.status();
    EXPECT_EQ(native->sample_rate, 48000);
    ASSERT_EQ(native->samples.size(), s.size()) << ext;
    double max_err = 0;
    for (size_t i = 0; i < s.size(); ++i) max_err = std::max(max_err, std::fabs(double(native->samples[i]) - s[i]));
    EXPECT_LT(max_err, tolerance) << ext;
    auto resampled = ReadAudioFile(path, 24000);
    ASSERT_TRUE(resampled.ok());
    EXPECT_NEAR(PeakHz(resampled->samples, 24000), 440.0, 5.0) << ext;
    ::unlink(path.c_str());
  }
}

TEST(AudioFileTest, CorruptEmptyTruncatedAndOversizedInputsAreErrors) {
  EXPECT_EQ(DecodeAudio("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeAudio("definitely not audio data at all").status().code(), absl::StatusCode::kInvalidArgument);
  std::string wav = EncodeWav(Sine(440, 24000, 0.1), 24000, WavEncoding::kPcm16);
  EXPECT_FALSE(DecodeAudio(wav.substr(0, 30)).ok());  // header cut short
  std::string header_only = wav.substr(0, 44);
  EXPECT_FALSE(DecodeAudio(header_only).ok());
  AudioLimits limits;
  limits.max_seconds = 0.05;
  EXPECT_EQ(DecodeAudio(wav, 24000, limits).status().code(), absl::StatusCode::kOutOfRange);
  limits = AudioLimits();
  limits.max_bytes = 100;
  EXPECT_EQ(DecodeAudio(wav, 24000, limits).status().code(), absl::StatusCode::kOutOfRange);
  auto missing = ReadAudioFile("/nonexistent/file.wav");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

// A header claiming 1 Hz made resampling to 24 kHz take minutes (found by fuzz_audio_decode):
// rates outside [kMinSampleRate, kMaxSampleRate] are refused by name before any decoding.
TEST(AudioFileTest, SampleRatesOutsideTheSupportedRangeAreInvalidArgument) {
  for (int rate : {1, 100, kMinSampleRate - 1, kMaxSampleRate + 1}) {
    std::vector<float> samples(400, 0.25f);
    auto decoded = DecodeAudio(EncodeWav(samples, rate, WavEncoding::kPcm16), 24000);
    ASSERT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << rate;
    const std::string expected = "sample rate is " + std::to_string(rate) + " Hz; supported rates are 4000 to 768000";
    EXPECT_NE(std::string(decoded.status().message()).find(expected), std::string::npos) << decoded.status();
  }
  for (int rate : {kMinSampleRate, 8000, kMaxSampleRate}) {
    std::vector<float> samples(static_cast<size_t>(rate / 10), 0.25f);
    auto decoded = DecodeAudio(EncodeWav(samples, rate, WavEncoding::kPcm16), 24000);
    ASSERT_TRUE(decoded.ok()) << rate << ": " << decoded.status();
    EXPECT_NEAR(static_cast<double>(decoded->samples.size()), 2400.0, 2.0) << rate;
  }
}

}  // namespace
}  // namespace qwen3tts
