#include "common/audio/audio_encoder.h"

#include <lame/lame.h>
#include <ogg/ogg.h>
#include <opus/opus.h>
#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/audio/audio_file.h"

namespace qwen3tts {
namespace {

// Streaming resampler in front of every encoder (identity when the rates match).
class Resampler {
 public:
  Resampler(int in_rate, int out_rate) : in_rate_(in_rate), out_rate_(out_rate) {
    if (in_rate != out_rate) {
      soxr_error_t err = nullptr;
      soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
      soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
      soxr_ = soxr_create(in_rate, out_rate, 1, &err, &io, &q, nullptr);
    }
  }
  ~Resampler() {
    if (soxr_ != nullptr) soxr_delete(soxr_);
  }
  bool ok() const { return in_rate_ == out_rate_ || soxr_ != nullptr; }
  // Appends resampled output for `n` inputs (flush when samples == nullptr).
  void Process(const float* samples, size_t n, std::vector<float>* out) {
    if (soxr_ == nullptr) {
      if (samples != nullptr) out->insert(out->end(), samples, samples + n);
      return;
    }
    const size_t capacity = static_cast<size_t>(std::ceil(static_cast<double>(n) * out_rate_ / in_rate_)) + 1024;
    std::vector<float> buffer(capacity);
    while (true) {
      size_t done = 0;
      soxr_process(soxr_, samples, samples == nullptr ? 0 : n, nullptr, buffer.data(), buffer.size(), &done);
      out->insert(out->end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(done));
      if (samples != nullptr || done == 0) break;  // flushing drains until nothing is left
    }
  }

 private:
  int in_rate_, out_rate_;
  soxr_t soxr_ = nullptr;
};

class EncoderBase : public AudioOutputEncoder {
 public:
  EncoderBase(int in_rate, int out_rate) : resampler_(in_rate, out_rate), out_rate_(out_rate) {}
  int output_rate() const override { return out_rate_; }
  absl::StatusOr<std::string> Encode(const float* samples, size_t n) override {
    pending_.clear();
    resampler_.Process(samples, n, &pending_);
    return EncodeResampled(pending_);
  }
  absl::StatusOr<std::string> Finish() override {
    pending_.clear();
    resampler_.Process(nullptr, 0, &pending_);
    absl::StatusOr<std::string> last = EncodeResampled(pending_);
    if (!last.ok()) return last;
    absl::StatusOr<std::string> trailer = Trailer();
    if (!trailer.ok()) return trailer;
    return *last + *trailer;
  }
  bool resampler_ok() const { return resampler_.ok(); }

 protected:
  virtual absl::StatusOr<std::string> EncodeResampled(const std::vector<float>& samples) = 0;
  virtual absl::StatusOr<std::string> Trailer() { return std::string(); }

 private:
  Resampler resampler_;
  int out_rate_;
  std::vector<float> pending_;
};

class PcmEncoder final : public EncoderBase {
 public:
  PcmEncoder(int in_rate, int out_rate, OutputFormat format) : EncoderBase(in_rate, out_rate), format_(format) {}
  absl::StatusOr<std::string> EncodeResampled(const std::vector<float>& s) override {
    std::string out;
    if (format_ == OutputFormat::kWav && !header_sent_) {
      // Streaming WAV: sizes set to the "unknown length" maximum, as streaming servers do.
      out = EncodeWav({}, output_rate(), WavEncoding::kPcm16);
      for (int i = 0; i < 4; ++i) out[4 + i] = out[40 + i] = static_cast<char>(0xFF);
      header_sent_ = true;
    }
    if (format_ == OutputFormat::kPcmF32) {
      out.append(reinterpret_cast<const char*>(s.data()), s.size() * sizeof(float));
      return out;
    }
    const size_t at = out.size();
    out.resize(at + s.size() * 2);
    for (size_t i = 0; i < s.size(); ++i) {
      float c = std::clamp(std::isfinite(s[i]) ? s[i] : 0.0f, -1.0f, 1.0f);
      int16_t v = static_cast<int16_t>(std::lrint(c * 32767.0f));
      std::memcpy(&out[at + 2 * i], &v, 2);
    }
    return out;
  }
  absl::StatusOr<std::string> Trailer() override {
    if (format_ == OutputFormat::kWav && !header_sent_) return EncodeResampled({});
    return std::string();
  }

 private:
  OutputFormat format_;
  bool header_sent_ = false;
};

// Ogg/Opus per RFC 7845: OpusHead and OpusTags pages, then one 20 ms packet per page (flushed at
// once for streaming); granule positions count 48 kHz samples; the last page carries EOS.
class OggOpusEncoder final : public EncoderBase {
 public:
  OggOpusEncoder(int in_rate, int out_rate) : EncoderBase(in_rate, out_rate), frame_(out_rate / 50) {
    int err = 0;
    opus_ = opus_encoder_create(out_rate, 1, OPUS_APPLICATION_AUDIO, &err);
    if (opus_ != nullptr) opus_encoder_ctl(opus_, OPUS_GET_LOOKAHEAD(&pre_skip_));
    pre_skip_ = pre_skip_ * 48000 / out_rate;
    std::mt19937 rng(std::random_device{}());
    ogg_stream_init(&stream_, static_cast<int>(rng() & 0x7fffffff));
  }
  ~OggOpusEncoder() override {
    if (opus_ != nullptr) opus_encoder_destroy(opus_);
    ogg_stream_clear(&stream_);
  }
  bool ok() const { return opus_ != nullptr; }

  absl::StatusOr<std::string> EncodeResampled(const std::vector<float>& s) override {
    std::string out = Headers();
    buffer_.insert(buffer_.end(), s.begin(), s.end());
    size_t offset = 0;
    while (buffer_.size() - offset >= static_cast<size_t>(frame_)) {
      absl::Status st = Packet(buffer_.data() + offset, false, &out);
      if (!st.ok()) return st;
      offset += static_cast<size_t>(frame_);
    }
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(offset));
    return out;
  }
  absl::StatusOr<std::string> Trailer() override {
    std::string out = Headers();
    // Pad the last partial frame with silence; the granule position marks the true end.
    const int64_t real = static_cast<int64_t>(buffer_.size());
    buffer_.resize(static_cast<size_t>(frame_), 0.0f);
    absl::Status st = Packet(buffer_.data(), true, &out, real);
    if (!st.ok()) return st;
    return out;
  }

 private:
  std::string Headers() {
    if (headers_sent_) return "";
    headers_sent_ = true;
    unsigned char head[19] = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 1};
    head[10] = static_cast<unsigned char>(pre_skip_ & 0xff);
    head[11] = static_cast<unsigned char>(pre_skip_ >> 8);
    const uint32_t rate = static_cast<uint32_t>(output_rate());
    for (int i = 0; i < 4; ++i) head[12 + i] = static_cast<unsigned char>((rate >> (8 * i)) & 0xff);
    std::string out = Page(head, sizeof(head), /*bos=*/true, false, 0);
    const std::string vendor = "qwen3-tts-serving";
    std::string tags = "OpusTags";
    for (int i = 0; i < 4; ++i) tags.push_back(static_cast<char>((vendor.size() >> (8 * i)) & 0xff));
    tags += vendor;
    tags.append(4, '\0');  // no user comments
    out += Page(reinterpret_cast<const unsigned char*>(tags.data()), tags.size(), false, false, 0);
    return out;
  }

  std::string Page(const unsigned char* data, size_t n, bool bos, bool eos, int64_t granule) {
    ogg_packet p;
    std::memset(&p, 0, sizeof(p));
    p.packet = const_cast<unsigned char*>(data);
    p.bytes = static_cast<long>(n);
    p.b_o_s = bos ? 1 : 0;
    p.e_o_s = eos ? 1 : 0;
    p.granulepos = granule;
    p.packetno = packet_no_++;
    ogg_stream_packetin(&stream_, &p);
    std::string out;
    ogg_page page;
    while (ogg_stream_flush(&stream_, &page) != 0) {
      out.append(reinterpret_cast<const char*>(page.header), static_cast<size_t>(page.header_len));
      out.append(reinterpret_cast<const char*>(page.body), static_cast<size_t>(page.body_len));
    }
    return out;
  }

  absl::Status Packet(const float* pcm, bool eos, std::string* out, int64_t real_samples = -1) {
    unsigned char packet[4000];
    opus_int32 bytes = opus_encode_float(opus_, pcm, frame_, packet, sizeof(packet));
    if (bytes < 0) return absl::InternalError(absl::StrCat("opus_encode_float failed: ", opus_strerror(bytes)));
    const int64_t step = (real_samples >= 0 ? real_samples : frame_) * 48000 / output_rate();
    granule_ += step;
    *out += Page(packet, static_cast<size_t>(bytes), false, eos, granule_ + pre_skip_);
    return absl::OkStatus();
  }

  OpusEncoder* opus_ = nullptr;
  ogg_stream_state stream_;
  int frame_;
  int pre_skip_ = 0;
  int64_t granule_ = 0;
  int64_t packet_no_ = 0;
  bool headers_sent_ = false;
  std::vector<float> buffer_;
};

class Mp3Encoder final : public EncoderBase {
 public:
  Mp3Encoder(int in_rate, int out_rate) : EncoderBase(in_rate, out_rate) {
    lame_ = lame_init();
    if (lame_ == nullptr) return;
    lame_set_in_samplerate(lame_, out_rate);
    lame_set_out_samplerate(lame_, out_rate);
    lame_set_num_channels(lame_, 1);
    lame_set_mode(lame_, MONO);
    lame_set_brate(lame_, 64);
    lame_set_quality(lame_, 5);
    if (lame_init_params(lame_) < 0) {
      lame_close(lame_);
      lame_ = nullptr;
    }
  }
  ~Mp3Encoder() override {
    if (lame_ != nullptr) lame_close(lame_);
  }
  bool ok() const { return lame_ != nullptr; }
  absl::StatusOr<std::string> EncodeResampled(const std::vector<float>& s) override {
    if (s.empty()) return std::string();
    std::vector<unsigned char> out(static_cast<size_t>(1.25 * s.size() + 7200));
    int n = lame_encode_buffer_ieee_float(lame_, s.data(), s.data(), static_cast<int>(s.size()), out.data(),
                                          static_cast<int>(out.size()));
    if (n < 0) return absl::InternalError(absl::StrCat("lame_encode_buffer_ieee_float failed: ", n));
    return std::string(reinterpret_cast<const char*>(out.data()), static_cast<size_t>(n));
  }
  absl::StatusOr<std::string> Trailer() override {
    unsigned char out[7200];
    int n = lame_encode_flush(lame_, out, sizeof(out));
    if (n < 0) return absl::InternalError("lame_encode_flush failed");
    return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  }

 private:
  lame_global_flags* lame_ = nullptr;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AudioOutputEncoder>> MakeAudioOutputEncoder(OutputFormat format, int input_rate,
                                                                           int output_rate) {
  if (output_rate == 0) output_rate = input_rate;
  if (input_rate <= 0 || output_rate < 8000 || output_rate > 192000) {
    return absl::InvalidArgumentError(absl::StrCat("sample rate ", output_rate, " is out of range (8000..192000)"));
  }
  std::unique_ptr<AudioOutputEncoder> encoder;
  switch (format) {
    case OutputFormat::kPcm16:
    case OutputFormat::kPcmF32:
    case OutputFormat::kWav:
      encoder = std::make_unique<PcmEncoder>(input_rate, output_rate, format);
      break;
    case OutputFormat::kOggOpus: {
      if (output_rate != 8000 && output_rate != 12000 && output_rate != 16000 && output_rate != 24000 && output_rate != 48000) {
        return absl::InvalidArgumentError(absl::StrCat("Opus cannot carry ", output_rate,
                                                       " Hz (supported: 8000, 12000, 16000, 24000, 48000)"));
      }
      auto opus = std::make_unique<OggOpusEncoder>(input_rate, output_rate);
      if (!opus->ok()) return absl::InternalError("cannot create the Opus encoder");
      encoder = std::move(opus);
      break;
    }
    case OutputFormat::kMp3: {
      static const int kRates[] = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000};
      if (std::find(std::begin(kRates), std::end(kRates), output_rate) == std::end(kRates)) {
        return absl::InvalidArgumentError(absl::StrCat("MP3 cannot carry ", output_rate,
                                                       " Hz (supported: 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)"));
      }
      auto mp3 = std::make_unique<Mp3Encoder>(input_rate, output_rate);
      if (!mp3->ok()) return absl::InternalError("cannot create the MP3 encoder");
      encoder = std::move(mp3);
      break;
    }
  }
  if (!static_cast<EncoderBase*>(encoder.get())->resampler_ok()) {
    return absl::InternalError(absl::StrCat("cannot resample ", input_rate, " Hz to ", output_rate, " Hz"));
  }
  return encoder;
}

}  // namespace qwen3tts
