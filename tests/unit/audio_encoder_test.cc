// Streaming output encoders: PCM/WAV bytes, resampling to the requested rate, Ogg/Opus page
// structure (RFC 7845) decoded back with libopus, and MP3 frame sync.
#include <gtest/gtest.h>
#include <opus/opus.h>

#include <cmath>
#include <complex>
#include <cstring>

#include "tests/support/audio_test_util.h"
#include "common/audio/audio_encoder.h"

namespace qwen3tts {
namespace {

using testing::PeakHz;
using testing::Sine;

// Feeds audio in 1920-sample chunks (one codec frame), as the gateway does.
std::string EncodeAll(AudioOutputEncoder* e, const std::vector<float>& s) {
  std::string out;
  for (size_t at = 0; at < s.size(); at += 1920) {
    auto bytes = e->Encode(s.data() + at, std::min<size_t>(1920, s.size() - at));
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    out += *bytes;
  }
  auto tail = e->Finish();
  EXPECT_TRUE(tail.ok()) << tail.status();
  return out + *tail;
}

std::vector<float> FromPcm16(const std::string& bytes, size_t skip = 0) {
  std::vector<float> out((bytes.size() - skip) / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int16_t v;
    std::memcpy(&v, bytes.data() + skip + 2 * i, 2);
    out[i] = v / 32767.0f;
  }
  return out;
}

TEST(AudioEncoderTest, PcmAndWav) {
  std::vector<float> s = Sine(440, 24000, 0.2);
  auto pcm = MakeAudioOutputEncoder(OutputFormat::kPcm16, 24000, 0);
  ASSERT_TRUE(pcm.ok());
  std::string bytes = EncodeAll(pcm->get(), s);
  ASSERT_EQ(bytes.size(), s.size() * 2);
  std::vector<float> back = FromPcm16(bytes);
  for (size_t i = 0; i < s.size(); ++i) ASSERT_NEAR(back[i], s[i], 1.0 / 32767 + 1e-6);
  auto f32 = MakeAudioOutputEncoder(OutputFormat::kPcmF32, 24000, 0);
  EXPECT_EQ(EncodeAll(f32->get(), s).size(), s.size() * 4);
  auto wav = MakeAudioOutputEncoder(OutputFormat::kWav, 24000, 0);
  std::string w = EncodeAll(wav->get(), s);
  ASSERT_EQ(w.size(), 44 + s.size() * 2);
  EXPECT_EQ(w.substr(0, 4), "RIFF");
  EXPECT_EQ(w.substr(8, 8), "WAVEfmt ");
}

TEST(AudioEncoderTest, ResamplesToTheRequestedRate) {
  std::vector<float> s = Sine(440, 24000, 1.0);
  for (int rate : {8000, 16000, 22050, 44100, 48000}) {
    auto e = MakeAudioOutputEncoder(OutputFormat::kPcm16, 24000, rate);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ((*e)->output_rate(), rate);
    std::vector<float> out = FromPcm16(EncodeAll(e->get(), s));
    EXPECT_NEAR(static_cast<double>(out.size()), rate * 1.0, rate * 0.01) << rate;
    EXPECT_NEAR(PeakHz(out, rate), 440.0, 5.0) << rate;
  }
  EXPECT_EQ(MakeAudioOutputEncoder(OutputFormat::kPcm16, 24000, 100).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AudioEncoderTest, OggOpusPagesDecodeBackToTheSignal) {
  std::vector<float> s = Sine(440, 24000, 1.0);
  auto e = MakeAudioOutputEncoder(OutputFormat::kOggOpus, 24000, 0);
  ASSERT_TRUE(e.ok()) << e.status();
  const std::string ogg = EncodeAll(e->get(), s);
  // Walk the pages: OggS capture, BOS OpusHead, OpusTags, audio, EOS on the last page.
  size_t at = 0;
  int page = 0;
  int64_t last_granule = -1;
  bool eos = false;
  int err = 0;
  OpusDecoder* decoder = opus_decoder_create(24000, 1, &err);
  ASSERT_EQ(err, OPUS_OK);
  std::vector<float> decoded;
  while (at < ogg.size()) {
    ASSERT_EQ(ogg.compare(at, 4, "OggS"), 0) << "page " << page;
    const unsigned char type = static_cast<unsigned char>(ogg[at + 5]);
    int64_t granule;
    std::memcpy(&granule, ogg.data() + at + 6, 8);
    const int segments = static_cast<unsigned char>(ogg[at + 26]);
    size_t body = 0;
    for (int i = 0; i < segments; ++i) body += static_cast<unsigned char>(ogg[at + 27 + i]);
    const std::string packet = ogg.substr(at + 27 + segments, body);
    if (page == 0) {
      EXPECT_TRUE(type & 0x02);
      EXPECT_EQ(packet.substr(0, 8), "OpusHead");
    } else if (page == 1) {
      EXPECT_EQ(packet.substr(0, 8), "OpusTags");
    } else {
      // Non-decreasing; the last page may only trim the end (RFC 7845 end trimming).
      EXPECT_GE(granule, last_granule);
      last_granule = granule;
      float pcm[5760];
      int n = opus_decode_float(decoder, reinterpret_cast<const unsigned char*>(packet.data()),
                                static_cast<opus_int32>(packet.size()), pcm, 5760, 0);
      ASSERT_GT(n, 0);
      decoded.insert(decoded.end(), pcm, pcm + n);
    }
    eos = type & 0x04;
    at += 27 + segments + body;
    ++page;
  }
  opus_decoder_destroy(decoder);
  EXPECT_TRUE(eos);
  // 1 s of audio in 48 kHz granules, plus the encoder's pre-skip (a few ms).
  EXPECT_GE(last_granule, 48000);
  EXPECT_LT(last_granule, 48000 + 960);
  EXPECT_GT(page, 40);  // 1 s of 20 ms packets, one per page for streaming
  EXPECT_NEAR(static_cast<double>(decoded.size()), 24000.0, 960.0);
  EXPECT_NEAR(PeakHz(decoded, 24000), 440.0, 5.0);
  EXPECT_EQ(MakeAudioOutputEncoder(OutputFormat::kOggOpus, 24000, 44100).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AudioEncoderTest, Mp3StartsWithAFrameSync) {
  std::vector<float> s = Sine(440, 24000, 1.0);
  auto e = MakeAudioOutputEncoder(OutputFormat::kMp3, 24000, 0);
  ASSERT_TRUE(e.ok()) << e.status();
  const std::string mp3 = EncodeAll(e->get(), s);
  ASSERT_GT(mp3.size(), 1000u);
  // Each MPEG audio frame starts with 11 set bits.
  size_t sync = mp3.find('\xFF');
  ASSERT_NE(sync, std::string::npos);
  EXPECT_EQ(static_cast<unsigned char>(mp3[sync + 1]) & 0xE0, 0xE0);
  // About 64 kbit/s for one second.
  EXPECT_NEAR(static_cast<double>(mp3.size()), 8000.0, 3000.0);
  EXPECT_EQ(MakeAudioOutputEncoder(OutputFormat::kMp3, 24000, 12345).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace qwen3tts
