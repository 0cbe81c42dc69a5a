// Streaming decoder: any chunking of the frames gives the whole-utterance output, decoding is
// causal (latency 0), and invalid codes are rejected with precise messages; several sessions
// pushed together (directly or through the DecodeBatcher) give each its own samples. Uses a small
// random decoder (the golden tests check the numbers against the reference).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/codec/decode_batcher.h"
#include "common/codec/decoder.h"
#include "common/codec/decoder_random_weights.h"
#include "common/tensor/safetensors.h"

namespace qwen3tts {
namespace {

// Small but structurally complete: 2 ConvNeXt upsampling stages, 4 SnakeBeta blocks
// (1920 samples per frame), sliding window 4 so that short tests already exceed it.
CodecDecoderConfig SmallConfig() {
  CodecDecoderConfig c;
  c.codebook_size = 64;
  c.codebook_dim = 16;
  c.hidden_size = 16;
  c.latent_dim = 24;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 12;
  c.sliding_window = 4;
  c.intermediate_size = 32;
  c.num_hidden_layers = 2;
  c.num_quantizers = 16;
  c.upsample_rates = {8, 5, 4, 3};
  c.upsampling_ratios = {2, 2};
  c.decoder_dim = 32;
  return c;
}

absl::StatusOr<std::shared_ptr<const CodecDecoder>> CreateSmallDecoder(
    WeightPrecision precision, WeightPrecision conv_precision = WeightPrecision::kFloat32) {
  const std::string path = absl::StrCat(::testing::TempDir(), "codec_decoder_unit_", getpid(), "_",
                                        WeightPrecisionName(precision), "_", WeightPrecisionName(conv_precision),
                                        ".safetensors");
  auto weights = RandomDecoderWeights(SmallConfig(), 1234);
  absl::Status written = WriteSafetensors(path, weights);
  EXPECT_TRUE(written.ok()) << written;
  auto ckpt = Checkpoint::Open(path);
  EXPECT_TRUE(ckpt.ok()) << ckpt.status();
  if (!ckpt.ok()) return ckpt.status();
  auto d = CodecDecoder::Create(*ckpt, SmallConfig(), 24000, precision, conv_precision);
  std::remove(path.c_str());
  return d;
}

std::shared_ptr<const CodecDecoder> SmallDecoder() {
  static std::shared_ptr<const CodecDecoder> decoder = [] {
    auto d = CreateSmallDecoder(WeightPrecision::kFloat32);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : nullptr;
  }();
  return decoder;
}

at::Tensor RandomCodes(int64_t frames, int64_t quantizers, int64_t codebook_size, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(codebook_size, {frames, quantizers}, gen, at::kLong);
}

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// Decodes `codes` through one session in chunks of the given sizes (cycled), plus Flush.
at::Tensor DecodeStreaming(const std::shared_ptr<const CodecDecoder>& decoder,
                           const at::Tensor& codes, const std::vector<int64_t>& chunk_sizes) {
  DecoderSession session(decoder);
  std::vector<at::Tensor> pieces;
  int64_t pos = 0;
  for (size_t i = 0; pos < codes.size(0); ++i) {
    const int64_t n = std::min(chunk_sizes[i % chunk_sizes.size()], codes.size(0) - pos);
    auto out = session.Push(codes.narrow(0, pos, n));
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return at::Tensor();
    // Latency 0: every pushed frame is returned in full by the same call.
    EXPECT_EQ(out->size(0), n * decoder->samples_per_frame());
    pieces.push_back(*out);
    pos += n;
  }
  auto tail = session.Flush();
  EXPECT_TRUE(tail.ok()) << tail.status();
  EXPECT_EQ(tail->numel(), DecoderSession::kLatencySamples);
  pieces.push_back(*tail);
  EXPECT_EQ(session.frames_decoded(), codes.size(0));
  return at::cat(pieces, 0);
}

TEST(CodecDecoderTest, SamplesPerFrameComesFromConfig) {
  auto decoder = SmallDecoder();
  ASSERT_NE(decoder, nullptr);
  EXPECT_EQ(decoder->samples_per_frame(), 2 * 2 * 8 * 5 * 4 * 3);
  auto wav = decoder->Decode(RandomCodes(3, 16, 64, 1));
  ASSERT_TRUE(wav.ok()) << wav.status();
  EXPECT_EQ(wav->sizes(), (std::vector<int64_t>{3 * 1920}));
  EXPECT_EQ(wav->scalar_type(), at::kFloat);
  EXPECT_LE(wav->abs().max().item<double>(), 1.0);
  EXPECT_GT(wav->abs().max().item<double>(), 0.0);  // a random decoder makes some sound
}

TEST(CodecDecoderTest, StreamingEqualsOfflineForAnyChunking) {
  auto decoder = SmallDecoder();
  ASSERT_NE(decoder, nullptr);
  std::mt19937 rng(7);
  // 37 frames: more than one pre-transformer pass (DecoderSession::kFramesPerTransformerPass) in a chunk.
  static_assert(DecoderSession::kFramesPerTransformerPass < 37);
  for (int64_t frames : {1, 2, 5, 9, 23, 37}) {
    at::Tensor codes = RandomCodes(frames, 16, 64, 100 + frames);
    auto offline = decoder->Decode(codes);
    ASSERT_TRUE(offline.ok()) << offline.status();
    // The reference-structured whole-sequence computation shares no state machinery with the
    // session: agreement with it is what shows that the carried state is right.
    auto batched = decoder->DecodeBatched(codes);
    ASSERT_TRUE(batched.ok()) << batched.status();
    ASSERT_EQ(batched->sizes(), offline->sizes());
    EXPECT_LE(MaxAbsDiff(*offline, *batched), 1e-5) << "frames " << frames;
    std::vector<std::vector<int64_t>> chunkings = {{1}, {2}, {7}, {frames}};
    for (int r = 0; r < 3; ++r) {
      std::vector<int64_t> sizes;
      for (int i = 0; i < 16; ++i) sizes.push_back(std::uniform_int_distribution<int64_t>(1, 6)(rng));
      chunkings.push_back(sizes);
    }
    for (const auto& chunks : chunkings) {
      at::Tensor streamed = DecodeStreaming(decoder, codes, chunks);
      ASSERT_TRUE(streamed.defined());
      ASSERT_EQ(streamed.sizes(), offline->sizes());
      EXPECT_TRUE(at::equal(streamed, *offline)) << "frames " << frames << ", first chunk size " << chunks[0];
      EXPECT_LE(MaxAbsDiff(streamed, *batched), 1e-5)
          << "frames " << frames << ", first chunk size " << chunks[0];
    }
  }
}

double SnrDb(const at::Tensor& reference, const at::Tensor& x) {
  return 10 * std::log10(reference.pow(2).sum().item<double>() / (x - reference).pow(2).sum().item<double>());
}

// Quantized linear layers (int8: the pre-transformer and ConvNeXt; int4 and int4-g128: the
// pre-transformer's layers in 4 bits, the rest int8): streaming stays exact for every chunking, the
// audio stays close to float32's, the precision is reported and really in use; bfloat16 is refused
// by name.
TEST(CodecDecoderTest, QuantizedDecodersStreamExactlyAndStayCloseToFloat32) {
  auto float32 = SmallDecoder();
  ASSERT_NE(float32, nullptr);
  EXPECT_EQ(float32->precision(), WeightPrecision::kFloat32);
  at::Tensor codes = RandomCodes(11, 16, 64, 41);
  auto reference = float32->Decode(codes);
  ASSERT_TRUE(reference.ok()) << reference.status();
  at::Tensor int8_audio;
  // The 4-bit layers add their rounding to int8's: a looser bound.
  for (auto [precision, min_snr_db] : {std::pair{WeightPrecision::kInt8, 20.0}, std::pair{WeightPrecision::kInt4, 12.0},
                                       std::pair{WeightPrecision::kInt4G128, 12.0}}) {
    SCOPED_TRACE(WeightPrecisionName(precision));
    auto decoder = CreateSmallDecoder(precision);
    ASSERT_TRUE(decoder.ok()) << decoder.status();
    EXPECT_EQ((*decoder)->precision(), precision);
    auto offline = (*decoder)->Decode(codes);
    ASSERT_TRUE(offline.ok()) << offline.status();
    for (const std::vector<int64_t>& chunks : std::vector<std::vector<int64_t>>{{1}, {3}, {2, 5}, {4}, {11}}) {
      at::Tensor streamed = DecodeStreaming(*decoder, codes, chunks);
      ASSERT_TRUE(streamed.defined());
      EXPECT_TRUE(at::equal(streamed, *offline)) << "first chunk " << chunks[0];
    }
    const double snr_db = SnrDb(*reference, *offline);
    std::printf("%s linear layers: SNR vs float32 %.1f dB\n", WeightPrecisionName(precision), snr_db);
    EXPECT_GT(snr_db, min_snr_db) << "decoder SNR vs float32";
    EXPECT_FALSE(at::equal(*offline, *reference));  // the quantized layers are really in use
    if (precision == WeightPrecision::kInt8) {
      int8_audio = *offline;
    } else {
      EXPECT_FALSE(at::equal(*offline, int8_audio));  // and the 4-bit ones are not int8's
    }
  }

  auto bf16 = CreateSmallDecoder(WeightPrecision::kBFloat16);
  EXPECT_EQ(bf16.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bf16.status().message().find("allowed: float32, int8, int4, int4-g128"), std::string::npos)
      << bf16.status();
}

// The weights a decode call reads: in float32, every decoder parameter but the quantizer's, 4 bytes
// each, with the transposed convolutions' bias once per output sample of a block (their rows); the
// quantized linear layers read fewer. (Not the bfloat16 tiles: they pad these tiny channel counts
// to whole tiles; the full-size decoder reads 373 MB with them against 489 in float32.)
TEST(CodecDecoderTest, WeightBytesPerCallCountEveryLayerInItsForm) {
  int64_t parameters = 0;
  for (const auto& [name, tensor] : RandomDecoderWeights(SmallConfig(), 1234)) {
    if (name.rfind("decoder.quantizer.", 0) != 0) parameters += tensor.numel();
  }
  // Upsampling: each ConvNeXt stage's (latent_dim outputs, stride = ratio) and each decoder
  // block's (decoder_dim >> (i + 1) outputs, stride = rate).
  const CodecDecoderConfig config = SmallConfig();
  int64_t repeated_bias = 0;
  for (int64_t ratio : config.upsampling_ratios) repeated_bias += (ratio - 1) * config.latent_dim;
  for (size_t i = 0; i < config.upsample_rates.size(); ++i) {
    repeated_bias += (config.upsample_rates[i] - 1) * (config.decoder_dim >> (i + 1));
  }
  auto float32 = SmallDecoder();
  ASSERT_NE(float32, nullptr);
  EXPECT_EQ(float32->weight_bytes_per_call(), 4 * (parameters + repeated_bias));
  auto int8 = CreateSmallDecoder(WeightPrecision::kInt8);
  ASSERT_TRUE(int8.ok()) << int8.status();
  auto int4 = CreateSmallDecoder(WeightPrecision::kInt4);
  ASSERT_TRUE(int4.ok()) << int4.status();
  EXPECT_LT((*int8)->weight_bytes_per_call(), float32->weight_bytes_per_call());
  EXPECT_LT((*int4)->weight_bytes_per_call(), (*int8)->weight_bytes_per_call());
}

// bfloat16 or int8 convolutions (alone and with int8 linear layers): streaming stays exact for
// every chunking, the whole-sequence form agrees with it to the precision's rounding, the audio
// stays close to float32's; int4 convolutions are refused by name.
void ExpectConvolutionsStreamExactlyAndStayClose(WeightPrecision convolutions, double min_snr_db) {
  auto float32 = SmallDecoder();
  ASSERT_NE(float32, nullptr);
  EXPECT_EQ(float32->conv_precision(), WeightPrecision::kFloat32);
  at::Tensor codes = RandomCodes(11, 16, 64, 43);
  auto reference = float32->Decode(codes);
  ASSERT_TRUE(reference.ok()) << reference.status();
  for (WeightPrecision linears : {WeightPrecision::kFloat32, WeightPrecision::kInt8}) {
    SCOPED_TRACE(WeightPrecisionName(linears));
    auto decoder = CreateSmallDecoder(linears, convolutions);
    ASSERT_TRUE(decoder.ok()) << decoder.status();
    EXPECT_EQ((*decoder)->conv_precision(), convolutions);
    // int8 convolutions, and bfloat16 ones on AMX tiles, take several frames per pass (so the
    // chunkings below, 1 frame per call against groups, check that grouping is exact); oneDNN's
    // bfloat16 ones one frame at a time.
    const bool grouped = convolutions == WeightPrecision::kInt8 ||
                         (convolutions == WeightPrecision::kBFloat16 && Bfloat16ConvolutionsOnTiles());
    EXPECT_EQ((*decoder)->frames_per_convolution_pass(), grouped ? DecoderSession::kFramesPerConvolutionPass : 1);
    auto offline = (*decoder)->Decode(codes);
    ASSERT_TRUE(offline.ok()) << offline.status();
    for (const std::vector<int64_t>& chunks : std::vector<std::vector<int64_t>>{{1}, {3}, {2, 5}, {11}}) {
      at::Tensor streamed = DecodeStreaming(*decoder, codes, chunks);
      ASSERT_TRUE(streamed.defined());
      EXPECT_TRUE(at::equal(streamed.narrow(0, 0, offline->size(0)), *offline)) << "first chunk " << chunks[0];
    }
    auto batched = (*decoder)->DecodeBatched(codes);
    ASSERT_TRUE(batched.ok()) << batched.status();
    EXPECT_GT(SnrDb(*offline, *batched), 30.0) << "whole-sequence form vs streaming";
    const double snr = SnrDb(*reference, *offline);
    std::printf("%s convolutions%s, %s linear layers: SNR vs float32 %.1f dB\n", WeightPrecisionName(convolutions),
                convolutions == WeightPrecision::kBFloat16 && Bfloat16ConvolutionsOnTiles() ? " (AMX tiles)" : "",
                WeightPrecisionName(linears), snr);
    EXPECT_GT(snr, min_snr_db) << "convolutions vs float32";
    EXPECT_FALSE(at::equal(*offline, *reference));  // the convolutions' precision is really in use
  }
}

TEST(CodecDecoderTest, Bfloat16ConvolutionsStreamExactlyAndStayCloseToFloat32) {
  ExpectConvolutionsStreamExactlyAndStayClose(WeightPrecision::kBFloat16, 20.0);
}

TEST(CodecDecoderTest, Int8ConvolutionsStreamExactlyAndStayCloseToFloat32) {
  ExpectConvolutionsStreamExactlyAndStayClose(WeightPrecision::kInt8, 25.0);
  auto int4 = CreateSmallDecoder(WeightPrecision::kFloat32, WeightPrecision::kInt4);
  EXPECT_EQ(int4.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(int4.status().message().find("allowed: float32, bfloat16, int8"), std::string::npos) << int4.status();
}

// A cancelled push stops before the next frame (group of frames, with int8 convolutions) and ends
// the session; without cancellation the callback changes nothing.
TEST(CodecDecoderTest, CancelledPushStopsAtTheNextFrameOrGroup) {
  auto decoder = SmallDecoder();
  ASSERT_NE(decoder, nullptr);
  at::Tensor codes = RandomCodes(6, 16, 64, 9);
  DecoderSession session(decoder);
  int asked = 0;
  auto cancelled = session.Push(codes, [&asked] { return ++asked > 2; });  // true before frame 3
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled) << cancelled.status();
  EXPECT_EQ(asked, 3);
  EXPECT_EQ(session.frames_decoded(), 2);
  EXPECT_EQ(session.Push(codes.narrow(0, 0, 1)).status().code(), absl::StatusCode::kFailedPrecondition);

  DecoderSession plain(decoder);
  auto all = plain.Push(codes, [] { return false; });
  ASSERT_TRUE(all.ok()) << all.status();
  auto offline = decoder->Decode(codes);
  ASSERT_TRUE(offline.ok());
  EXPECT_TRUE(at::equal(*all, *offline));
  EXPECT_EQ(decoder->frames_per_convolution_pass(), 1);

  auto grouped = CreateSmallDecoder(WeightPrecision::kInt8, WeightPrecision::kInt8);
  ASSERT_TRUE(grouped.ok()) << grouped.status();
  const int64_t group = (*grouped)->frames_per_convolution_pass();
  ASSERT_EQ(group, DecoderSession::kFramesPerConvolutionPass);
  at::Tensor long_codes = RandomCodes(2 * group + 1, 16, 64, 10);
  DecoderSession grouped_session(*grouped);
  asked = 0;
  cancelled = grouped_session.Push(long_codes, [&asked] { return ++asked > 1; });  // true before the second group
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled) << cancelled.status();
  EXPECT_EQ(asked, 2);
  EXPECT_EQ(grouped_session.frames_decoded(), group);
}

TEST(CodecDecoderTest, AppendingFramesNeverChangesEarlierOutput) {
  auto decoder = SmallDecoder();
  ASSERT_NE(decoder, nullptr);
  const int64_t spf = decoder->samples_per_frame();
  at::Tensor codes = RandomCodes(14, 16, 64, 99);
  // The whole-sequence (batched) path: its causality comes from the padding and masks, not
  // from the session's construction.
  auto full = decoder->DecodeBatched(codes);
  ASSERT_TRUE(full.ok()) << full.status();
  for (int64_t prefix : {1, 3, 4, 5, 13}) {
    auto part = decoder->DecodeBatched(codes.narrow(0, 0, prefix));
    ASSERT_TRUE(part.ok()) << part.status();
    EXPECT_LE(MaxAbsDiff(*part, full->narrow(0, 0, prefix * spf)), 1e-5) << "prefix " << prefix;
  }
  // And the converse: changing a later frame leaves every earlier sample untouched.
  at::Tensor changed = codes.clone();
  changed[9].fill_(0);
  auto other = decoder->DecodeBatched(changed);
  ASSERT_TRUE(other.ok());
  EXPECT_LE(MaxAbsDiff(other->narrow(0, 0, 9 * spf), full->narrow(0, 0, 9 * spf)), 1e-5);
  EXPECT_GT(MaxAbsDiff(other->narrow(0, 9 * spf, spf), full->narrow(0, 9 * spf, spf)), 0.0);
}

// The random weights must make a decoder that behaves like a trained one in scale (little
// clipping, audible level); otherwise benchmarks and tests exercise a saturated network.
TEST(CodecDecoderTest, RandomDecoderIsWellScaled) {
  auto decoder = SmallDecoder();
  ASSERT_NE(decoder, nullptr);
  auto wav = decoder->Decode(RandomCodes(23, 16, 64, 77));
  ASSERT_TRUE(wav.ok()) << wav.status();
  const double clipped = (wav->abs() >= 1.0).to(at::kFloat).mean().item<double>();
  const double stddev = wav->std().item<double>();
  EXPECT_LT(clipped, 0.01);
  EXPECT_GT(stddev, 0.01);
  EXPECT_TRUE(wav->isfinite().all().item<bool>());
}

TEST(CodecDecoderTest, ChunkedLikeReferenceEqualsDecodeWhenOneChunk) {
  auto decoder = SmallDecoder();
  ASSERT_NE(decoder, nullptr);
  at::Tensor codes = RandomCodes(12, 16, 64, 5);
  auto full = decoder->Decode(codes);
  auto chunked = decoder->DecodeChunkedLikeReference(codes, /*chunk_size=*/12, /*left_context=*/3);
  ASSERT_TRUE(full.ok() && chunked.ok());
  EXPECT_LE(MaxAbsDiff(*full, *chunked), 1e-6);
  // With more context than the receptive field of the sliding window alone cannot give, the
  // chunked decode is an approximation; it still returns exactly frames * spf samples.
  auto small_chunks = decoder->DecodeChunkedLikeReference(codes, 5, 2);
  ASSERT_TRUE(small_chunks.ok()) << small_chunks.status();
  EXPECT_EQ(small_chunks->size(0), full->size(0));
}

TEST(CodecDecoderTest, RejectsInvalidCodes) {
  auto decoder = SmallDecoder();
  ASSERT_NE(decoder, nullptr);
  at::Tensor codes = RandomCodes(6, 16, 64, 3);
  codes[3][5] = 64;
  auto result = decoder->Decode(codes);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(result.status().message());
  EXPECT_NE(message.find("frame 3"), std::string::npos) << message;
  EXPECT_NE(message.find("codebook 5"), std::string::npos) << message;
  EXPECT_NE(message.find("[0, 64)"), std::string::npos) << message;

  codes[3][5] = -1;
  EXPECT_EQ(decoder->Decode(codes).status().code(), absl::StatusCode::kInvalidArgument);

  auto wrong_books = decoder->Decode(RandomCodes(2, 15, 64, 1));
  EXPECT_EQ(wrong_books.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(wrong_books.status().message()).find("expected 16"), std::string::npos);

  EXPECT_EQ(decoder->Decode(at::zeros({16}, at::kLong)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(decoder->Decode(at::zeros({2, 16}, at::kFloat)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(decoder->Decode(at::Tensor()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CodecDecoderTest, SessionSurvivesRejectedChunkAndNumbersFramesAbsolutely) {
  auto decoder = SmallDecoder();
  ASSERT_NE(decoder, nullptr);
  at::Tensor codes = RandomCodes(8, 16, 64, 11);
  auto offline = decoder->Decode(codes);
  ASSERT_TRUE(offline.ok());

  DecoderSession session(decoder);
  std::vector<at::Tensor> pieces;
  auto first = session.Push(codes.narrow(0, 0, 4));
  ASSERT_TRUE(first.ok());
  pieces.push_back(*first);
  at::Tensor bad = codes.narrow(0, 4, 4).clone();
  bad[2][0] = 1000;
  auto rejected = session.Push(bad);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(rejected.status().message()).find("frame 6"), std::string::npos)
      << rejected.status();
  EXPECT_EQ(session.frames_decoded(), 4);
  auto second = session.Push(codes.narrow(0, 4, 4));
  ASSERT_TRUE(second.ok());
  pieces.push_back(*second);
  EXPECT_LE(MaxAbsDiff(at::cat(pieces, 0), *offline), 1e-5);

  ASSERT_TRUE(session.Flush().ok());
  EXPECT_EQ(session.Push(codes.narrow(0, 0, 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CodecDecoderTest, EmptyInputGivesEmptyOutput) {
  auto decoder = SmallDecoder();
  ASSERT_NE(decoder, nullptr);
  auto wav = decoder->Decode(at::zeros({0, 16}, at::kLong));
  ASSERT_TRUE(wav.ok()) << wav.status();
  EXPECT_EQ(wav->numel(), 0);
}

TEST(CodecDecoderTest, IclReferenceCutFollowsReferenceFormula) {
  // int(ref_len / max(total_len, 1) * len) as qwen3_tts_model.py computes it (Python floats).
  EXPECT_EQ(IclReferenceCutSamples(43, 66, 126720), 82560);
  EXPECT_EQ(IclReferenceCutSamples(14, 37, 71040), 26880);
  EXPECT_EQ(IclReferenceCutSamples(0, 0, 100), 0);
  at::Tensor wav = at::arange(10, at::kFloat);
  at::Tensor cut = CutIclReference(wav, 1, 4);  // int(0.25 * 10) = 2
  ASSERT_EQ(cut.size(0), 8);
  EXPECT_EQ(cut[0].item<float>(), 2.0f);
}

TEST(CodecDecoderTest, RejectsBadConfigAndMissingWeights) {
  CodecDecoderConfig config = SmallConfig();
  auto weights = RandomDecoderWeights(config, 1);
  const std::string path = absl::StrCat(::testing::TempDir(), "codec_decoder_bad_", getpid(),
                                        ".safetensors");
  weights.pop_back();  // drop the final conv bias
  ASSERT_TRUE(WriteSafetensors(path, weights).ok());
  auto ckpt = Checkpoint::Open(path);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto missing = CodecDecoder::Create(*ckpt, config);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();

  CodecDecoderConfig wrong = config;
  wrong.latent_dim = 40;  // shapes no longer match the tensors
  EXPECT_EQ(CodecDecoder::Create(*ckpt, wrong).status().code(),
            absl::StatusCode::kInvalidArgument);
  wrong = config;
  wrong.hidden_act = "gelu";
  EXPECT_EQ(CodecDecoder::Create(*ckpt, wrong).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------------------------
// Sessions pushed together.

// Streams of different lengths pushed together in rounds, each round's chunk sizes cycling
// through `chunks` (offset per stream, 0 included); every stream's samples must equal its own
// offline decode, bit for bit. Round sizes above kFramesPerTransformerPass and streams whose rows
// overflow one joint pass (kRowsPerJointPass) are covered by the long streams.
void ExpectJointPushesDecodeEachStreamExactly(const std::shared_ptr<const CodecDecoder>& decoder) {
  const std::vector<int64_t> lengths = {70, 3, 45, 1, 60, 38};
  const std::vector<int64_t> chunks = {1, 40, 0, 2, 33, 5};
  std::vector<DecoderSession> sessions;
  std::vector<at::Tensor> codes, expected;
  for (size_t s = 0; s < lengths.size(); ++s) {
    sessions.emplace_back(decoder);
    codes.push_back(RandomCodes(lengths[s], 16, 64, 100 + s));
    auto offline = decoder->Decode(codes.back());
    ASSERT_TRUE(offline.ok()) << offline.status();
    expected.push_back(*offline);
  }
  std::vector<std::vector<at::Tensor>> pieces(lengths.size());
  std::vector<int64_t> pos(lengths.size(), 0);
  for (size_t round = 0;; ++round) {
    std::vector<DecoderSession*> pushed;
    std::vector<at::Tensor> round_codes;
    std::vector<size_t> stream;
    for (size_t s = 0; s < lengths.size(); ++s) {
      if (pos[s] == lengths[s]) continue;
      const int64_t n = std::min(chunks[(round + s) % chunks.size()], lengths[s] - pos[s]);
      pushed.push_back(&sessions[s]);
      round_codes.push_back(codes[s].narrow(0, pos[s], n));
      stream.push_back(s);
    }
    if (pushed.empty()) break;
    auto results = DecoderSession::PushTogether(pushed, round_codes);
    ASSERT_EQ(results.size(), pushed.size());
    for (size_t i = 0; i < pushed.size(); ++i) {
      ASSERT_TRUE(results[i].ok()) << results[i].status();
      EXPECT_EQ(results[i]->numel(), round_codes[i].size(0) * decoder->samples_per_frame());
      pieces[stream[i]].push_back(*results[i]);
      pos[stream[i]] += round_codes[i].size(0);
    }
  }
  for (size_t s = 0; s < lengths.size(); ++s) {
    EXPECT_EQ(sessions[s].frames_decoded(), lengths[s]);
    EXPECT_TRUE(at::equal(at::cat(pieces[s], 0), expected[s])) << "stream " << s;
  }
}

TEST(CodecDecoderTest, SessionsPushedTogetherGetTheirOwnSamplesExactly) {
  {
    SCOPED_TRACE("float32");
    ExpectJointPushesDecodeEachStreamExactly(SmallDecoder());
  }
  for (WeightPrecision convolutions : {WeightPrecision::kInt8, WeightPrecision::kBFloat16}) {
    SCOPED_TRACE(absl::StrCat("int8 linears, ", WeightPrecisionName(convolutions), " convolutions"));
    auto decoder = CreateSmallDecoder(WeightPrecision::kInt8, convolutions);
    ASSERT_TRUE(decoder.ok()) << decoder.status();
    ExpectJointPushesDecodeEachStreamExactly(*decoder);
  }
}

// One session's bad input or cancellation fails only that session's part of a joint push.
TEST(CodecDecoderTest, JointPushFailsOnlyTheSessionAtFault) {
  auto decoder = SmallDecoder();
  ASSERT_NE(decoder, nullptr);
  auto other_decoder = CreateSmallDecoder(WeightPrecision::kInt8);
  ASSERT_TRUE(other_decoder.ok()) << other_decoder.status();
  at::Tensor good = RandomCodes(6, 16, 64, 5);
  at::Tensor bad = good.clone();
  bad[2][7] = 64;  // codebook_size 64: out of range
  auto expected = decoder->Decode(good);
  ASSERT_TRUE(expected.ok()) << expected.status();

  DecoderSession ok_session(decoder), bad_session(decoder), cancelled_session(decoder), foreign(*other_decoder);
  std::vector<DecoderSession*> sessions = {&ok_session, &bad_session, &cancelled_session, &ok_session, &foreign};
  std::vector<at::Tensor> codes = {good, bad, good, good, good};
  std::vector<std::function<bool()>> cancelled = {nullptr, nullptr, [] { return true; }, nullptr, nullptr};
  auto results = DecoderSession::PushTogether(sessions, codes, cancelled);
  ASSERT_EQ(results.size(), 5u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_TRUE(at::equal(*results[0], *expected));
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(results[1].status().message().find("frame 2, codebook 7"), std::string::npos) << results[1].status();
  EXPECT_EQ(results[2].status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(results[3].status().code(), absl::StatusCode::kInvalidArgument);  // ok_session twice
  EXPECT_NE(results[3].status().message().find("only once"), std::string::npos) << results[3].status();
  EXPECT_EQ(results[4].status().code(), absl::StatusCode::kInvalidArgument);  // another decoder's session
  EXPECT_NE(results[4].status().message().find("share one decoder"), std::string::npos) << results[4].status();

  // The rejected chunk consumed nothing; the cancelled session has ended.
  auto retried = bad_session.Push(good);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_TRUE(at::equal(*retried, *expected));
  EXPECT_EQ(cancelled_session.Push(good).status().code(), absl::StatusCode::kFailedPrecondition);
  auto mismatched = DecoderSession::PushTogether(sessions, codes, absl::MakeConstSpan(cancelled).subspan(1));
  ASSERT_EQ(mismatched.size(), 5u);
  EXPECT_EQ(mismatched[0].status().code(), absl::StatusCode::kInvalidArgument);
}

// Each thread streams its own frames through the batcher in chunks of its own sizes; every
// stream's samples equal its offline decode.
TEST(DecodeBatcherTest, ConcurrentStreamsGetTheirOwnSamplesExactly) {
  auto decoder = CreateSmallDecoder(WeightPrecision::kInt8, WeightPrecision::kInt8);
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  std::vector<int> rounds_seen;
  std::mutex rounds_mu;
  DecodeBatcher batcher(1, [&](int calls) {
    std::lock_guard<std::mutex> lock(rounds_mu);
    rounds_seen.push_back(calls);
  });
  constexpr int kStreams = 6;
  std::vector<at::Tensor> codes, streamed(kStreams);
  for (int s = 0; s < kStreams; ++s) codes.push_back(RandomCodes(20 + 9 * s, 16, 64, 200 + s));
  std::atomic<int64_t> calls{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kStreams; ++s) {
    threads.emplace_back([&, s] {
      DecoderSession session(*decoder);
      std::vector<at::Tensor> pieces;
      const std::vector<int64_t> chunks = {1, 1, 2, 37, 1, 4};
      for (int64_t pos = 0, i = s; pos < codes[s].size(0); ++i) {
        const int64_t n = std::min(chunks[i % chunks.size()], codes[s].size(0) - pos);
        auto out = batcher.Push(&session, codes[s].narrow(0, pos, n));
        ASSERT_TRUE(out.ok()) << out.status();
        pieces.push_back(*out);
        pos += n;
        ++calls;
      }
      streamed[s] = at::cat(pieces, 0);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int s = 0; s < kStreams; ++s) {
    auto offline = (*decoder)->Decode(codes[s]);
    ASSERT_TRUE(offline.ok()) << offline.status();
    ASSERT_TRUE(streamed[s].defined());
    EXPECT_TRUE(at::equal(streamed[s], *offline)) << "stream " << s;
  }
  const DecodeBatcher::Stats stats = batcher.stats();
  EXPECT_EQ(stats.calls, calls.load());
  EXPECT_EQ(stats.rounds, static_cast<int64_t>(rounds_seen.size()));
  EXPECT_EQ(batcher.pending_calls(), 0);
  // Bad codes are refused before they reach the worker; the session is still usable.
  DecoderSession session(*decoder);
  at::Tensor bad = codes[0].narrow(0, 0, 2).clone();
  bad[1][0] = -1;
  EXPECT_EQ(batcher.Push(&session, bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(batcher.Push(&session, codes[0].narrow(0, 0, 0))->numel(), 0);
  auto first = batcher.Push(&session, codes[0].narrow(0, 0, 2));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(at::equal(*first, streamed[0].narrow(0, 0, 2 * (*decoder)->samples_per_frame())));
}

// While the worker decodes one call, the calls that arrive wait and are then decoded together in
// one round; a long call is decoded a pass at a time, so a short call that arrives meanwhile
// returns before it. (The first call's cancel callback, which the worker asks during its round,
// holds the round until the others are waiting, so the rounds do not depend on timing.)
TEST(DecodeBatcherTest, WaitingCallsAreDecodedTogetherAndLongCallsDoNotHoldUpShortOnes) {
  auto decoder = SmallDecoder();
  ASSERT_NE(decoder, nullptr);
  DecodeBatcher batcher;
  const int64_t long_frames = 3 * DecoderSession::kFramesPerTransformerPass + 5;
  at::Tensor long_codes = RandomCodes(long_frames, 16, 64, 300);
  std::atomic<bool> first_round{false}, short_returned{false}, short_returned_first{false}, long_returned{false};
  auto wait_for = [](const std::function<bool()>& condition) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!condition() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  constexpr int kShortCalls = 3;
  std::vector<at::Tensor> short_codes, short_out(kShortCalls);
  for (int i = 0; i < kShortCalls; ++i) short_codes.push_back(RandomCodes(1 + i, 16, 64, 310 + i));
  std::thread long_thread([&] {
    DecoderSession session(decoder);
    auto out = batcher.Push(&session, long_codes, [&] {
      const int64_t rounds = batcher.stats().rounds;
      if (rounds == 0) {
        first_round = true;
        wait_for([&] { return batcher.pending_calls() == 1 + kShortCalls; });
      }
      // From the third round on, the short calls (all in the second round) must have returned.
      if (rounds >= 2) wait_for([&] { return short_returned.load(); });
      return false;
    });
    ASSERT_TRUE(out.ok()) << out.status();
    auto offline = decoder->Decode(long_codes);
    ASSERT_TRUE(offline.ok()) << offline.status();
    EXPECT_TRUE(at::equal(*out, *offline));
    long_returned = true;
  });
  wait_for([&] { return first_round.load(); });  // the short calls then all go in the second round
  std::vector<std::thread> short_threads;
  for (int i = 0; i < kShortCalls; ++i) {
    short_threads.emplace_back([&, i] {
      DecoderSession session(decoder);
      auto out = batcher.Push(&session, short_codes[i]);
      ASSERT_TRUE(out.ok()) << out.status();
      short_out[i] = *out;
      if (i == 0) {
        short_returned_first = !long_returned.load();
        short_returned = true;
      }
    });
  }
  for (std::thread& t : short_threads) t.join();
  long_thread.join();
  EXPECT_TRUE(short_returned_first.load());
  for (int i = 0; i < kShortCalls; ++i) {
    auto offline = decoder->Decode(short_codes[i]);
    ASSERT_TRUE(offline.ok()) << offline.status();
    EXPECT_TRUE(at::equal(short_out[i], *offline)) << "short call " << i;
  }
  const DecodeBatcher::Stats stats = batcher.stats();
  EXPECT_EQ(stats.calls, 1 + kShortCalls);
  EXPECT_EQ(stats.rounds, 4);  // the long call's 4 passes; the short calls with its second
  EXPECT_EQ(stats.most_calls_in_a_round, 1 + kShortCalls);
  EXPECT_EQ(stats.call_rounds, 4 + kShortCalls);
}

// With a gather window, a round waits until every open stream has a call waiting: two streams'
// later frames go in one round however far apart they arrive (within the window), the samples
// unchanged. It never waits for a stream's first frames, nor past the window, and a stream that
// closes stops the wait. The windows are long (minutes) where the test asserts that nothing waited
// for them, so the outcome does not depend on the machine's speed.
TEST(DecodeBatcherTest, GatherWindowWaitsForEveryOpenStreamsCall) {
  auto decoder = SmallDecoder();
  ASSERT_NE(decoder, nullptr);
  const at::Tensor codes_a = RandomCodes(3, 16, 64, 400), codes_b = RandomCodes(3, 16, 64, 401);
  const auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  {
    DecodeBatcher batcher(1, nullptr, std::chrono::minutes(5));
    DecodeBatcher::Stream open_a(batcher), open_b(batcher);
    DecoderSession a(decoder), b(decoder);
    // First calls: no waiting for the other stream.
    const auto start = std::chrono::steady_clock::now();
    auto first_a = batcher.Push(&a, codes_a.narrow(0, 0, 1));
    auto first_b = batcher.Push(&b, codes_b.narrow(0, 0, 1));
    ASSERT_TRUE(first_a.ok() && first_b.ok());
    EXPECT_LT(seconds_since(start), 60.0);
    EXPECT_EQ(batcher.stats().gathered_rounds, 0);
    // Later calls: a's waits for b's, sent 200 ms later; both in one round.
    at::Tensor second_a;
    std::thread thread_a([&] {
      auto out = batcher.Push(&a, codes_a.narrow(0, 1, 2));
      ASSERT_TRUE(out.ok()) << out.status();
      second_a = *out;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto second_b = batcher.Push(&b, codes_b.narrow(0, 1, 2));
    thread_a.join();
    ASSERT_TRUE(second_b.ok()) << second_b.status();
    EXPECT_LT(seconds_since(start), 60.0);
    const DecodeBatcher::Stats stats = batcher.stats();
    EXPECT_EQ(stats.rounds, 3);
    EXPECT_EQ(stats.most_calls_in_a_round, 2);
    EXPECT_EQ(stats.gathered_rounds, 1);
    auto offline_a = decoder->Decode(codes_a), offline_b = decoder->Decode(codes_b);
    ASSERT_TRUE(offline_a.ok() && offline_b.ok());
    EXPECT_TRUE(at::equal(at::cat({*first_a, second_a}, 0), *offline_a));
    EXPECT_TRUE(at::equal(at::cat({*first_b, *second_b}, 0), *offline_b));
  }
  {
    // A stream that closes ends the wait for it.
    DecodeBatcher batcher(1, nullptr, std::chrono::minutes(5));
    DecodeBatcher::Stream open_a(batcher);
    auto open_b = std::make_unique<DecodeBatcher::Stream>(batcher);
    DecoderSession a(decoder);
    ASSERT_TRUE(batcher.Push(&a, codes_a.narrow(0, 0, 1)).ok());
    const auto start = std::chrono::steady_clock::now();
    std::thread closer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      open_b.reset();
    });
    EXPECT_TRUE(batcher.Push(&a, codes_a.narrow(0, 1, 1)).ok());
    closer.join();
    EXPECT_LT(seconds_since(start), 60.0);
    EXPECT_EQ(batcher.stats().gathered_rounds, 1);
  }
  {
    // A stream that sends nothing holds a round up for the window only.
    DecodeBatcher batcher(1, nullptr, std::chrono::milliseconds(300));
    DecodeBatcher::Stream open_a(batcher), open_b(batcher);
    DecoderSession a(decoder);
    ASSERT_TRUE(batcher.Push(&a, codes_a.narrow(0, 0, 1)).ok());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(batcher.Push(&a, codes_a.narrow(0, 1, 1)).ok());
    EXPECT_GE(seconds_since(start), 0.29);
    EXPECT_EQ(batcher.stats().gathered_rounds, 1);
  }
}

}  // namespace
}  // namespace qwen3tts
