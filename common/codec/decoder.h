// The 12 Hz speech-tokenizer decoder (codes -> 24 kHz waveform), whole-utterance and streaming.
//
// Pipeline (reference: Qwen3TTSTokenizerV2Decoder): split RVQ dequantization -> causal pre-conv
// (k=3) -> pre-transformer (input_proj, sliding-window layers with layer scale, norm,
// output_proj) -> upsampling stages (causal transposed conv + ConvNeXt) -> causal conv (k=7) ->
// SnakeBeta decoder blocks (causal transposed conv + 3 residual units) -> SnakeBeta -> causal
// conv (k=7) -> clamp to [-1, 1]. One frame = prod(upsampling_ratios) * prod(upsample_rates)
// samples (1920 at 24 kHz for the official configs).
//
// Latency: every stage is causal (left-padded convolutions, transposed convolutions whose right
// overhang is trimmed, causally masked attention), so the 1920 samples of frame n depend on
// frames <= n only. A DecoderSession therefore returns all samples of frame n in the call that
// delivers frame n: the algorithmic latency is 0 frames / 0 samples
// (DecoderSession::kLatencySamples), and Flush() has nothing left to emit. The transposed
// convolutions' overlap into the next frame is not emitted early: it is recomputed from the
// carried input frame when the next frame arrives, which is what makes the output exact.
//
// Per-frame work is O(1) in the utterance length: convolutions carry (kernel-1)*dilation input
// samples, transposed convolutions carry ceil(K/stride)-1 input frames, and each transformer
// layer keeps a ring KV cache of `sliding_window` positions (common/nn).
//
// Exactness: the session runs every frame through kernels of identical shapes (the pre-transformer
// takes several frames' rows at once, and so do int8 convolutions and bfloat16 ones on AMX tiles,
// through kernels whose rows do not interact), so any chunking gives bit-identical samples, and
// Decode() is that same engine over all frames. DecodeBatched()
// is an independent whole-sequence implementation (the reference's structure); it agrees with
// Decode() up to float32 rounding. Random-weight decoders amplify rounding strongly (the golden
// tiny model: ~3e-4 between any two float32 implementations, the reference included), which is
// why exact streaming is defined by identical per-frame computation rather than by batching.
//
// Reference detail: Qwen3TTSTokenizerV2Model.decode runs `chunked_decode` (chunks of 300 frames
// with 25 frames of left context); up to 300 frames that equals Decode(); beyond, the reference
// output differs slightly from an exact decode. DecodeChunkedLikeReference() reproduces it.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/codec/decoder_layers.h"
#include "common/codec/decoder_quantizer.h"
#include "common/nn/transformer.h"
#include "common/nn/weight_precision.h"
#include "common/tensor/checkpoint.h"
#include "common/tensor/model_config.h"

namespace qwen3tts {

class DecoderSession;

class CodecDecoder : public std::enable_shared_from_this<CodecDecoder> {
 public:
  // `speech_tokenizer_dir` holds config.json and model.safetensors (decoder.* tensors).
  // precision: float32 (the reference's numbers) or int8 for the layers whose weights a streaming
  // step reads once per frame and that dominate its memory traffic: the pre-transformer's and the
  // ConvNeXt blocks' linear layers (nn::Int8Gemv; 436 of the 0.6B decoder's ~700 MB read per
  // frame); int4 / int4-g128: the same, with the pre-transformer's layers in 4 bits (nn::Int4Gemv,
  // blocks of 32 / 128 inputs). bfloat16 is INVALID_ARGUMENT.
  // conv_precision: the convolutions' arithmetic, where the decoder spends its time: float32, or
  // bfloat16 (CpuHasBfloat16Arithmetic in decoder_layers.h: about twice as fast on CPUs with
  // AVX512-BF16, slower than float32 elsewhere, which the load logs; on AMX tiles where the CPU has
  // them, Bfloat16ConvolutionsOnTiles, faster than int8), or int8 (weights per output channel, each
  // input step per block of 32 channels). Depthwise convolutions stay float32 in both.
  static absl::StatusOr<std::shared_ptr<const CodecDecoder>> Load(
      const std::string& speech_tokenizer_dir, WeightPrecision precision = WeightPrecision::kFloat32,
      WeightPrecision conv_precision = WeightPrecision::kFloat32);
  // From an open checkpoint (official names) and the decoder config.
  static absl::StatusOr<std::shared_ptr<const CodecDecoder>> Create(
      const Checkpoint& weights, const CodecDecoderConfig& config, int64_t sample_rate = 24000,
      WeightPrecision precision = WeightPrecision::kFloat32,
      WeightPrecision conv_precision = WeightPrecision::kFloat32);

  // codes: [frames, num_quantizers] integer. Returns float32 [frames * samples_per_frame].
  // INVALID_ARGUMENT for bad codes (see ValidateDecoderCodes). Thread-safe.
  // Runs the streaming engine over all frames, so a DecoderSession fed any chunking returns
  // exactly these samples.
  absl::StatusOr<at::Tensor> Decode(const at::Tensor& codes) const;
  // The same function computed the way the reference does (whole sequence through each layer,
  // padding instead of carried state). Independent of the streaming machinery, which the tests
  // check against it; slower than Decode at every precision measured (bench/RESULTS.md: the
  // streaming path's row kernels won). It differs from Decode only by float32 rounding, which
  // random-weight decoders amplify (up to ~3e-4 on the golden tiny model, < 1e-5 on well-scaled
  // weights).
  absl::StatusOr<at::Tensor> DecodeBatched(const at::Tensor& codes) const;
  // The reference's chunked_decode (chunk_size frames, left_context frames of context), each
  // chunk decoded with Decode.
  absl::StatusOr<at::Tensor> DecodeChunkedLikeReference(const at::Tensor& codes,
                                                        int64_t chunk_size = 300,
                                                        int64_t left_context = 25) const;

  // Bytes of the weights a decode call reads whatever its number of frames, in the forms the
  // precisions keep: every layer's but the quantizer's (its codebooks are read a row per frame, its
  // projections are < 1 MB). At one frame per call they are streamed once per frame, which bounds a
  // frame's time by memory bandwidth (the harness reports that bound).
  int64_t weight_bytes_per_call() const;
  int64_t samples_per_frame() const { return samples_per_frame_; }
  int64_t sample_rate() const { return sample_rate_; }
  int64_t num_quantizers() const { return config_.num_quantizers; }
  int64_t codebook_size() const { return config_.codebook_size; }
  const CodecDecoderConfig& config() const { return config_; }
  WeightPrecision precision() const { return precision_; }
  WeightPrecision conv_precision() const { return conv_precision_; }
  // Frames a DecoderSession decodes per pass of the convolutional part: kFramesPerConvolutionPass
  // with int8 convolutions (and ConvNeXt linears whose row kernels cover that many frames'
  // steps), else 1. Either way the samples are the same for any chunking.
  int64_t frames_per_convolution_pass() const { return frames_per_convolution_pass_; }

 private:
  friend class DecoderSession;
  CodecDecoder() = default;
  absl::StatusOr<at::Tensor> Validate(const at::Tensor& codes, int64_t first_frame) const;
  // Transformer part on [T, latent] rows, continuing `caches`.
  at::Tensor Transform(const at::Tensor& latent_rows, std::vector<nn::KvCache>* caches) const;
  // The same on raw rows [sum of counts, latent_dim], in place: `sequences` streams' rows one after
  // the other, stream i's counts[i] rows continuing caches[i] (a streaming pass: the projections'
  // and the stack's row kernels, nothing allocated once the thread's buffers have grown).
  void TransformRows(float* rows, const int64_t* counts, std::vector<nn::KvCache>* const* caches,
                     size_t sequences) const;
  // Whether `rows` rows (any streams') go through TransformRows on kernels whose rows do not
  // interact, so that each stream's rows come out as they would on their own.
  bool TransformsRowsIndependently(int64_t rows) const;
  void AppendInitialStates(StreamStates* states) const;

  CodecDecoderConfig config_;
  WeightPrecision precision_ = WeightPrecision::kFloat32;
  WeightPrecision conv_precision_ = WeightPrecision::kFloat32;
  int64_t sample_rate_ = 24000;
  int64_t samples_per_frame_ = 0;
  int64_t frames_per_convolution_pass_ = 1;
  // int8 convolutions or bfloat16 ones on AMX tiles: a row's arithmetic does not depend on the
  // other rows of its call (SnakeDecoderBlock::Step's chunks, and the frame groups above).
  bool row_independent_convolutions_ = false;
  SplitRvqDequantizer quantizer_;
  CausalConv1d pre_conv_;
  nn::Linear input_proj_, output_proj_;
  nn::TransformerStack transformer_;
  std::vector<CausalConvTranspose1d> upsample_convs_;
  std::vector<ConvNeXtBlock> upsample_blocks_;
  CausalConv1d decoder_in_conv_;
  std::vector<SnakeDecoderBlock> decoder_blocks_;
  SnakeBeta final_act_;
  CausalConv1d final_conv_;
};

// Incremental decoding of one stream. Not thread-safe (one session per stream); many sessions
// may share one CodecDecoder.
class DecoderSession {
 public:
  // Samples of frame n that can only be emitted after frame n + k arrives: none (see above).
  static constexpr int64_t kLatencyFrames = 0;
  static constexpr int64_t kLatencySamples = 0;
  // Up to this many frames of a chunk go through the pre-transformer together: its weights (110 MB
  // in int8, 440 MB in float32 at the 12 Hz decoder's real shape, more than the L3 cache) are then
  // read once per pass instead of once per frame, which made it ~3.8 of a ~22 ms int8 frame. The
  // pass stays bit-identical to one frame at a time: its linear layers run the few-rows kernels
  // (float32 up to nn::kFloatGemvMaxRows rows, int8 any), whose rows do not interact, and its
  // attention takes the rows one position at a time (nn::TransformerStack's decoding-step path).
  static constexpr int64_t kFramesPerTransformerPass = 32;
  // Up to this many frames of a chunk go through the upsampler and the convolutional decoder
  // together, where that is exact (CodecDecoder::frames_per_convolution_pass(): int8
  // convolutions). Each weight is then read once per group instead of once per frame: the
  // ConvNeXt linears and the first convolutions (~27 MB in int8, more than a core's share of L3)
  // were streamed from memory for only 2-4 rows each. Measured on the 0.6B decoder, one core, 4
  // frames per call: 12.4-12.8 against 14.1-14.6 ms per frame (bench/RESULTS.md); 16 frames per
  // group was no faster than 4 (the later blocks' activations, 0.7 MB per frame, then leave the L2
  // cache).
  static constexpr int64_t kFramesPerConvolutionPass = 4;

  explicit DecoderSession(std::shared_ptr<const CodecDecoder> decoder);

  // codes: [n, num_quantizers] (n >= 0). Returns the n * samples_per_frame samples these frames
  // determine. The concatenation of all returned chunks equals CodecDecoder::Decode of all
  // frames (bit-identical for every chunking: see kFramesPerTransformerPass).
  // On INVALID_ARGUMENT nothing of the chunk is consumed and the session stays usable; an
  // INTERNAL error ends the session. `cancelled`, when given, is asked before each group of
  // frames_per_convolution_pass() frames (1 to 4): once it says true the call returns CANCELLED
  // (the frames decoded so far are dropped) and the session ends, so a cancelled stream stops
  // within a few frames however long its chunk.
  absl::StatusOr<at::Tensor> Push(const at::Tensor& codes, const std::function<bool()>& cancelled = nullptr);
  // Push to several sessions at once: result i is what sessions[i]->Push(codes[i], cancelled[i])
  // returns, bit for bit, but the sessions' frames go through the pre-transformer in joint passes
  // (up to kFramesPerTransformerPass frames of each, kRowsPerJointPass rows in all), so its weights
  // are read once per pass for all of them instead of once per session, and then through the
  // convolutional part together, layer by layer (convolutions on AMX tiles read each weight once
  // for all of them: StreamPart). For a vocoder serving many streams: each stream's call then holds
  // one or two frames (one per talker step), and per 1-frame call the pre-transformer (110 MB of
  // int8 weights at the real shape) was about a third of the time and the first convolutions
  // (~100 MB in bfloat16) most of the rest. Measured, one core, 8 streams of 1-frame calls: 15.0
  // ms per frame, against 22.6 with the pre-transformer alone joint and 31-34 one call at a time. The sessions must be distinct and share one CodecDecoder
  // (INVALID_ARGUMENT for the ones that do not); `cancelled` is empty or holds one callback (or
  // nullptr) per session.
  static std::vector<absl::StatusOr<at::Tensor>> PushTogether(absl::Span<DecoderSession* const> sessions,
                                                              absl::Span<const at::Tensor> codes,
                                                              absl::Span<const std::function<bool()>> cancelled = {});
  // Most rows of one joint pre-transformer pass (the float32 row kernels take up to 128).
  static constexpr int64_t kRowsPerJointPass = 128;
  // The codes Push would accept from this session: validated [n, num_quantizers] int64, or
  // INVALID_ARGUMENT naming the frame (numbered from the session's next one) and the code.
  absl::StatusOr<at::Tensor> ValidateCodes(const at::Tensor& codes) const;
  // Ends the stream; returns the remaining samples (always empty: latency 0).
  // Push after Flush is FAILED_PRECONDITION.
  absl::StatusOr<at::Tensor> Flush();

  int64_t frames_decoded() const { return frames_; }
  int64_t samples_emitted() const { return frames_ * decoder_->samples_per_frame(); }

 private:
  // One session's part of a pass through the quantizer and the pre-convolution: n validated frames
  // (rows of num_quantizers codes) into rows [n, latent_dim] (the pre-transformer's input).
  struct PreConvolutionPart {
    DecoderSession* session;
    const int64_t* codes;
    int64_t n;
    float* rows;
  };
  // Every part's frames, the pre-convolution taking all the parts' rows in one product (several
  // streams, each 1 frame or more: one group of tile rows instead of one per frame and stream).
  static void PreConvolveFrames(const PreConvolutionPart* parts, size_t count);
  // One session's part of a pass through the convolutional part: `frames` consecutive
  // pre-transformer output rows (latent_dim floats each; at most frames_per_convolution_pass())
  // into frames * samples_per_frame samples.
  struct ConvolutionPart {
    DecoderSession* session;
    const float* latent_rows;
    int64_t frames;
    float* samples;
  };
  // The parts (distinct sessions of one decoder) through the upsampler and the convolutional
  // decoder, layer by layer for all of them (StreamPart). Allocates nothing once its per-thread
  // buffers have grown.
  static void DecodeLatentFrames(const ConvolutionPart* parts, size_t count);

  std::shared_ptr<const CodecDecoder> decoder_;
  StreamStates states_;
  std::vector<nn::KvCache> caches_;
  int64_t frames_ = 0;
  bool finished_ = false;
};

// In-context voice cloning decodes reference codes + generated codes together and drops the
// reference part of the audio; the reference cuts int(ref_frames / max(total_frames, 1) *
// num_samples) samples (Python float arithmetic, truncation). Returns that sample count.
int64_t IclReferenceCutSamples(int64_t ref_frames, int64_t total_frames, int64_t num_samples);
// `waveform` ([samples]) without its first IclReferenceCutSamples(...) samples.
at::Tensor CutIclReference(const at::Tensor& waveform, int64_t ref_frames, int64_t total_frames);

}  // namespace qwen3tts
