#include "common/codec/decoder.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/nn/float_gemv.h"
#include "common/nn/row_ops.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

// Beyond the few-rows kernel's rows, float32 linear layers switch to GEMM, which rounds differently.
static_assert(DecoderSession::kFramesPerTransformerPass <= nn::kFloatGemvMaxRows);

absl::Status CheckConfig(const CodecDecoderConfig& c) {
  auto positive = [](const char* field, int64_t value) -> absl::Status {
    if (value > 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("decoder_config.", field, " must be > 0, got ", value));
  };
  RETURN_IF_ERROR(positive("codebook_size", c.codebook_size));
  RETURN_IF_ERROR(positive("codebook_dim", c.codebook_dim));
  RETURN_IF_ERROR(positive("hidden_size", c.hidden_size));
  RETURN_IF_ERROR(positive("latent_dim", c.latent_dim));
  RETURN_IF_ERROR(positive("num_attention_heads", c.num_attention_heads));
  RETURN_IF_ERROR(positive("num_key_value_heads", c.num_key_value_heads));
  RETURN_IF_ERROR(positive("head_dim", c.head_dim));
  RETURN_IF_ERROR(positive("sliding_window", c.sliding_window));
  RETURN_IF_ERROR(positive("decoder_dim", c.decoder_dim));
  if (c.codebook_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("decoder_config.codebook_dim must be even, got ", c.codebook_dim));
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "decoder_config.num_attention_heads (", c.num_attention_heads,
        ") must be a multiple of num_key_value_heads (", c.num_key_value_heads, ")"));
  }
  if (c.hidden_act != "silu") {
    return absl::InvalidArgumentError(absl::StrCat("decoder_config.hidden_act '", c.hidden_act,
                                                   "' is not supported; allowed: silu"));
  }
  if (c.upsample_rates.empty()) {
    return absl::InvalidArgumentError("decoder_config.upsample_rates must not be empty");
  }
  for (int64_t r : c.upsample_rates) RETURN_IF_ERROR(positive("upsample_rates[i]", r));
  for (int64_t r : c.upsampling_ratios) RETURN_IF_ERROR(positive("upsampling_ratios[i]", r));
  if ((c.decoder_dim >> c.upsample_rates.size()) <= 0 ||
      c.decoder_dim % (int64_t{1} << c.upsample_rates.size()) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "decoder_config.decoder_dim ", c.decoder_dim, " must be divisible by 2^",
        c.upsample_rates.size(), " (one halving per upsample rate)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CodecDecoder>> CodecDecoder::Load(
    const std::string& speech_tokenizer_dir, WeightPrecision precision, WeightPrecision conv_precision) {
  ASSIGN_OR_RETURN(SpeechTokenizerConfig config,
                   ParseSpeechTokenizerConfig(speech_tokenizer_dir + "/config.json"));
  ASSIGN_OR_RETURN(Checkpoint weights, Checkpoint::Open(speech_tokenizer_dir));
  ASSIGN_OR_RETURN(std::shared_ptr<const CodecDecoder> decoder,
                   Create(weights, config.decoder, config.output_sample_rate, precision, conv_precision));
  if (config.decode_upsample_rate != decoder->samples_per_frame()) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.file, ": decode_upsample_rate ", config.decode_upsample_rate,
        " disagrees with the decoder's upsampling (prod(upsampling_ratios) * prod(upsample_rates)"
        " = ", decoder->samples_per_frame(), ")"));
  }
  return decoder;
}

absl::StatusOr<std::shared_ptr<const CodecDecoder>> CodecDecoder::Create(
    const Checkpoint& weights, const CodecDecoderConfig& config, int64_t sample_rate,
    WeightPrecision precision, WeightPrecision conv_precision) {
  if (precision == WeightPrecision::kBFloat16) {
    return absl::InvalidArgumentError(absl::StrCat("codec decoder dtype '", WeightPrecisionName(precision),
                                                   "' is not supported (allowed: float32, int8, int4, int4-g128)"));
  }
  if (conv_precision != WeightPrecision::kFloat32 && conv_precision != WeightPrecision::kBFloat16 &&
      conv_precision != WeightPrecision::kInt8) {
    return absl::InvalidArgumentError(absl::StrCat("codec decoder conv dtype '", WeightPrecisionName(conv_precision),
                                                   "' is not supported (allowed: float32, bfloat16, int8)"));
  }
  const bool bf16_convs = conv_precision == WeightPrecision::kBFloat16;
  if (bf16_convs && !CpuHasBfloat16Arithmetic()) {
    std::fprintf(stderr,
                 "warning: codec decoder conv dtype bfloat16 on a CPU without AVX512-BF16: the convolutions "
                 "run emulated, slower than float32\n");
  }
  if (bf16_convs && Bfloat16ConvolutionsOnTiles()) {
    // Which arithmetic runs depends on the CPU: say so once, where the operator looks.
    std::fprintf(stderr, "codec decoder: bfloat16 convolutions on AMX tiles (QWEN3TTS_AMX=0 turns them off)\n");
  }
  RETURN_IF_ERROR(CheckConfig(config));
  std::shared_ptr<CodecDecoder> d(new CodecDecoder());
  d->config_ = config;
  d->precision_ = precision;
  d->conv_precision_ = conv_precision;
  d->sample_rate_ = sample_rate;
  d->samples_per_frame_ = 1;
  for (int64_t r : config.upsampling_ratios) d->samples_per_frame_ *= r;
  for (int64_t r : config.upsample_rates) d->samples_per_frame_ *= r;

  ASSIGN_OR_RETURN(d->quantizer_, SplitRvqDequantizer::Load(weights, config));
  ASSIGN_OR_RETURN(d->pre_conv_, CausalConv1d::Load(weights, "decoder.pre_conv",
                                                    config.codebook_dim, config.latent_dim, 3));

  const std::string tf = "decoder.pre_transformer.";
  ASSIGN_OR_RETURN(d->input_proj_, nn::LoadLinear(weights, tf + "input_proj", config.latent_dim,
                                                  config.hidden_size, true, at::kFloat));
  ASSIGN_OR_RETURN(d->output_proj_, nn::LoadLinear(weights, tf + "output_proj", config.hidden_size,
                                                   config.latent_dim, true, at::kFloat));
  nn::BlockConfig block;
  block.hidden_size = config.hidden_size;
  block.num_heads = config.num_attention_heads;
  block.num_kv_heads = config.num_key_value_heads;
  block.head_dim = config.head_dim;
  block.intermediate_size = config.intermediate_size;
  block.norm_eps = config.rms_norm_eps;
  block.norm = nn::NormKind::kRms;
  block.mlp = nn::MlpKind::kSwiGlu;
  block.qk_norm = false;
  block.layer_scale = true;
  block.attention_bias = config.attention_bias;
  block.sliding_window = config.sliding_window;
  // The pre-transformer's layers in the precision's form, the projections and the ConvNeXt blocks
  // as its `others` (nn::LinearQuantizationsFor). float32 keeps the official bfloat16 weights as
  // they are: one frame per call reads the pre-transformer's weights once per frame, and half the
  // bytes give the same bits. int4 and int4-g128 take only the pre-transformer's layers to 4 bits
  // (109 M of the 0.6B decoder's 130 M linear weights: one frame per call streams them once, ~45 %
  // of its bytes).
  const nn::LinearQuantizations quantizations = nn::LinearQuantizationsFor(precision);
  const nn::LinearQuantization linears = quantizations.others;
  ASSIGN_OR_RETURN(d->transformer_, nn::TransformerStack::Load(weights, tf, config.num_hidden_layers, tf + "norm",
                                                               block, config.rope_theta, at::kFloat,
                                                               quantizations.layers));
  d->input_proj_.Quantize(linears);
  d->output_proj_.Quantize(linears);

  for (size_t i = 0; i < config.upsampling_ratios.size(); ++i) {
    const int64_t factor = config.upsampling_ratios[i];
    const std::string prefix = absl::StrCat("decoder.upsample.", i);
    ASSIGN_OR_RETURN(CausalConvTranspose1d conv,
                     CausalConvTranspose1d::Load(weights, prefix + ".0", config.latent_dim,
                                                 config.latent_dim, factor, factor));
    ASSIGN_OR_RETURN(ConvNeXtBlock convnext,
                     ConvNeXtBlock::Load(weights, prefix + ".1", config.latent_dim));
    convnext.QuantizeLinears(linears);
    d->upsample_convs_.push_back(std::move(conv));
    d->upsample_blocks_.push_back(std::move(convnext));
  }

  ASSIGN_OR_RETURN(d->decoder_in_conv_, CausalConv1d::Load(weights, "decoder.decoder.0",
                                                           config.latent_dim, config.decoder_dim, 7));
  const size_t stages = config.upsample_rates.size();
  for (size_t i = 0; i < stages; ++i) {
    const int64_t in_dim = config.decoder_dim >> i;
    const int64_t out_dim = config.decoder_dim >> (i + 1);
    ASSIGN_OR_RETURN(SnakeDecoderBlock blk,
                     SnakeDecoderBlock::Load(weights, absl::StrCat("decoder.decoder.", i + 1),
                                             in_dim, out_dim, config.upsample_rates[i]));
    d->decoder_blocks_.push_back(std::move(blk));
  }
  const int64_t output_dim = config.decoder_dim >> stages;
  ASSIGN_OR_RETURN(d->final_act_,
                   SnakeBeta::Load(weights, absl::StrCat("decoder.decoder.", stages + 1), output_dim));
  ASSIGN_OR_RETURN(d->final_conv_,
                   CausalConv1d::Load(weights, absl::StrCat("decoder.decoder.", stages + 2),
                                      output_dim, 1, 7));
  d->pre_conv_.SetPrecision(conv_precision);
  for (auto& conv : d->upsample_convs_) conv.SetPrecision(conv_precision);
  for (auto& block : d->upsample_blocks_) block.SetConvolutionPrecision(conv_precision);
  d->decoder_in_conv_.SetPrecision(conv_precision);
  for (auto& block : d->decoder_blocks_) block.SetConvolutionPrecision(conv_precision);
  d->final_conv_.SetPrecision(conv_precision);
  // Several frames through the convolutional part at once only where every layer's arithmetic per
  // step is the same for any number of steps (DecoderSession::kFramesPerConvolutionPass): int8
  // convolutions and bfloat16 ones on AMX tiles (row-independent products; the depthwise ones stay
  // float32 per channel), and ConvNeXt linear layers in int8 or within the float row kernels' rows.
  // float32 convolutions and oneDNN's bfloat16 ones switch kernels (and sums) with the step count.
  int64_t convnext_steps_per_frame = 1;
  for (int64_t r : config.upsampling_ratios) convnext_steps_per_frame *= r;
  d->row_independent_convolutions_ =
      conv_precision == WeightPrecision::kInt8 ||
      (conv_precision == WeightPrecision::kBFloat16 && Bfloat16ConvolutionsOnTiles());
  if (d->row_independent_convolutions_ &&
      (linears == nn::LinearQuantization::kInt8 ||
       DecoderSession::kFramesPerConvolutionPass * convnext_steps_per_frame <= nn::kFloatGemvMaxRows)) {
    d->frames_per_convolution_pass_ = DecoderSession::kFramesPerConvolutionPass;
  }
  return std::shared_ptr<const CodecDecoder>(std::move(d));
}

int64_t CodecDecoder::weight_bytes_per_call() const {
  int64_t n = pre_conv_.bytes() + input_proj_.bytes() + transformer_.bytes() + output_proj_.bytes() +
              decoder_in_conv_.bytes() + final_act_.bytes() + final_conv_.bytes();
  for (const CausalConvTranspose1d& conv : upsample_convs_) n += conv.bytes();
  for (const ConvNeXtBlock& block : upsample_blocks_) n += block.bytes();
  for (const SnakeDecoderBlock& block : decoder_blocks_) n += block.bytes();
  return n;
}

absl::StatusOr<at::Tensor> CodecDecoder::Validate(const at::Tensor& codes,
                                                  int64_t first_frame) const {
  return ValidateDecoderCodes(codes, config_.num_quantizers, config_.codebook_size, first_frame);
}

at::Tensor CodecDecoder::Transform(const at::Tensor& latent_rows,
                                   std::vector<nn::KvCache>* caches) const {
  at::Tensor h = input_proj_(latent_rows);
  h = transformer_.Forward(h, caches);
  return output_proj_(h);
}

void CodecDecoder::TransformRows(float* rows, const int64_t* counts, std::vector<nn::KvCache>* const* caches,
                                 size_t sequences) const {
  int64_t n = 0;
  for (size_t i = 0; i < sequences; ++i) n += counts[i];
  thread_local std::vector<float> hidden_buffer;
  float* hidden = nn::GrowTo(&hidden_buffer, n * config_.hidden_size);
  input_proj_.Into(rows, n, hidden);
  transformer_.StepInPlace(hidden, counts, caches, sequences);
  output_proj_.Into(hidden, n, rows);
}

bool CodecDecoder::TransformsRowsIndependently(int64_t rows) const {
  return transformer_.StepsOnRows(rows) && input_proj_.TakesRows(rows) && output_proj_.TakesRows(rows);
}

absl::StatusOr<at::Tensor> CodecDecoder::Decode(const at::Tensor& codes) const {
  DecoderSession session(shared_from_this());
  ASSIGN_OR_RETURN(at::Tensor samples, session.Push(codes));
  ASSIGN_OR_RETURN(at::Tensor tail, session.Flush());
  if (tail.numel() == 0) return samples;
  return at::cat({samples, tail}, 0);
}

absl::StatusOr<at::Tensor> CodecDecoder::DecodeBatched(const at::Tensor& codes) const {
  ASSIGN_OR_RETURN(at::Tensor valid, Validate(codes, 0));
  const int64_t frames = valid.size(0);
  if (frames == 0) return at::zeros({0}, at::kFloat);
  return CatchExceptions("decoder", [&]() -> absl::StatusOr<at::Tensor> {
    at::Tensor h = pre_conv_.Forward(quantizer_.Dequantize(valid));  // [1, latent, T]
    std::vector<nn::KvCache> caches = transformer_.NewCache(frames);
    h = Transform(h.squeeze(0).t().contiguous(), &caches).t().unsqueeze(0);
    for (size_t i = 0; i < upsample_convs_.size(); ++i) {
      h = upsample_blocks_[i].Forward(upsample_convs_[i].Forward(h));
    }
    h = decoder_in_conv_.Forward(h);
    for (const auto& block : decoder_blocks_) h = block.Forward(h);
    h = final_conv_.Forward(final_act_.Forward(h));
    return h.clamp(-1.0, 1.0).reshape({-1});
  });
}

absl::StatusOr<at::Tensor> CodecDecoder::DecodeChunkedLikeReference(const at::Tensor& codes,
                                                                    int64_t chunk_size,
                                                                    int64_t left_context) const {
  if (chunk_size <= 0 || left_context < 0) {
    return absl::InvalidArgumentError(absl::StrCat("chunked decode: chunk_size ", chunk_size,
                                                   " must be > 0 and left_context ", left_context,
                                                   " >= 0"));
  }
  ASSIGN_OR_RETURN(at::Tensor valid, Validate(codes, 0));
  const int64_t frames = valid.size(0);
  std::vector<at::Tensor> pieces;
  for (int64_t start = 0; start < frames;) {
    const int64_t end = std::min(start + chunk_size, frames);
    // As the reference: the full context only when strictly more than left_context frames
    // precede the chunk, otherwise everything before it.
    const int64_t context = start - left_context > 0 ? left_context : start;
    ASSIGN_OR_RETURN(at::Tensor wav, Decode(valid.narrow(0, start - context, end - start + context)));
    pieces.push_back(wav.narrow(0, context * samples_per_frame_, (end - start) * samples_per_frame_));
    start = end;
  }
  if (pieces.empty()) return at::zeros({0}, at::kFloat);
  return at::cat(pieces, 0);
}

void CodecDecoder::AppendInitialStates(StreamStates* states) const {
  pre_conv_.AppendInitialStates(states);
  for (size_t i = 0; i < upsample_convs_.size(); ++i) {
    upsample_convs_[i].AppendInitialStates(states);
    upsample_blocks_[i].AppendInitialStates(states);
  }
  decoder_in_conv_.AppendInitialStates(states);
  for (const auto& block : decoder_blocks_) block.AppendInitialStates(states);
  final_conv_.AppendInitialStates(states);
}

// ---------------------------------------------------------------------------------------------
DecoderSession::DecoderSession(std::shared_ptr<const CodecDecoder> decoder)
    : decoder_(std::move(decoder)) {
  decoder_->AppendInitialStates(&states_);
  // Sliding-window caches hold `sliding_window` positions regardless of the argument.
  caches_ = decoder_->transformer_.NewCache(decoder_->config_.sliding_window);
}

absl::StatusOr<at::Tensor> DecoderSession::Push(const at::Tensor& codes, const std::function<bool()>& cancelled) {
  DecoderSession* self = this;
  return std::move(PushTogether(absl::MakeConstSpan(&self, 1), absl::MakeConstSpan(&codes, 1),
                                absl::MakeConstSpan(&cancelled, 1))
                       .front());
}

absl::StatusOr<at::Tensor> DecoderSession::ValidateCodes(const at::Tensor& codes) const {
  return decoder_->Validate(codes, frames_);
}

std::vector<absl::StatusOr<at::Tensor>> DecoderSession::PushTogether(absl::Span<DecoderSession* const> sessions,
                                                                     absl::Span<const at::Tensor> codes,
                                                                     absl::Span<const std::function<bool()>> cancelled) {
  const size_t count = sessions.size();
  std::vector<absl::StatusOr<at::Tensor>> results(count, at::Tensor());
  if (codes.size() != count || (!cancelled.empty() && cancelled.size() != count)) {
    for (auto& r : results) {
      r = absl::InvalidArgumentError(absl::StrCat("decoder sessions: ", count, " sessions need as many codes (got ",
                                                  codes.size(), ") and cancel callbacks (got ", cancelled.size(),
                                                  "; none is also allowed)"));
    }
    return results;
  }
  // A session's progress through its frames.
  struct Work {
    DecoderSession* session;
    size_t result;               // its index in `results`
    at::Tensor valid;            // [n, num_quantizers]
    float* samples = nullptr;    // n * samples_per_frame
    int64_t n = 0, done = 0;     // frames, frames decoded
    int64_t take = 0;            // frames in the current joint pass
    int64_t row = 0;             // their first row in the pass's rows
  };
  std::vector<Work> work;
  const CodecDecoder* decoder = count > 0 ? sessions.front()->decoder_.get() : nullptr;
  for (size_t i = 0; i < count; ++i) {
    DecoderSession* s = sessions[i];
    if (s->decoder_.get() != decoder) {
      results[i] = absl::InvalidArgumentError("decoder sessions: sessions pushed together must share one decoder");
      continue;
    }
    if (std::find(sessions.begin(), sessions.begin() + i, s) != sessions.begin() + i) {
      results[i] = absl::InvalidArgumentError("decoder sessions: a session may appear only once in a joint push");
      continue;
    }
    if (s->finished_) {
      results[i] = absl::FailedPreconditionError("decoder session: Push after Flush (or after an internal error)");
      continue;
    }
    absl::StatusOr<at::Tensor> valid = s->ValidateCodes(codes[i]);
    if (!valid.ok()) {
      results[i] = valid.status();
      continue;
    }
    const int64_t n = valid->size(0);
    results[i] = at::empty({n * decoder->samples_per_frame_}, at::kFloat);
    if (n == 0) continue;
    work.push_back(Work{s, i, *valid, results[i]->data_ptr<float>(), n});
  }
  // Ends work[k] with `status` (the session cannot go on: its carried state may be half-updated).
  auto fail = [&](size_t k, absl::Status status) {
    work[k].session->finished_ = true;
    work[k].n = work[k].done;
    results[work[k].result] = std::move(status);
  };
  auto is_cancelled = [&](size_t k, int64_t decoded) {
    const std::function<bool()>* c = cancelled.empty() ? nullptr : &cancelled[work[k].result];
    if (c == nullptr || !*c || !(*c)()) return false;
    fail(k, absl::CancelledError(absl::StrCat("decoder session: cancelled after ", decoded, " of ", work[k].n,
                                              " frames")));
    return true;
  };
  if (decoder == nullptr) return results;
  const CodecDecoder& d = *decoder;
  const int64_t latent = d.config_.latent_dim, quantizers = d.num_quantizers();
  const int64_t group = d.frames_per_convolution_pass_;
  thread_local std::vector<float> rows_buffer;
  std::vector<size_t> pass;  // work indices in this pass
  std::vector<int64_t> counts;
  std::vector<std::vector<nn::KvCache>*> caches;
  std::vector<PreConvolutionPart> pre_parts;
  std::vector<ConvolutionPart> group_parts;  // a group's sessions: their parts and work indices
  std::vector<size_t> group_work;
  while (true) {
    // The next joint pass: each unfinished session's next frames (up to kFramesPerTransformerPass),
    // while the pre-transformer takes the rows independently. The first session always goes in.
    pass.clear();
    counts.clear();
    caches.clear();
    int64_t total = 0;
    for (size_t k = 0; k < work.size(); ++k) {
      Work& w = work[k];
      if (w.done == w.n) continue;
      const int64_t take = std::min(w.n - w.done, kFramesPerTransformerPass);
      if (!pass.empty() && (total + take > kRowsPerJointPass || !d.TransformsRowsIndependently(total + take))) continue;
      if (is_cancelled(k, w.done)) continue;
      w.take = take;
      w.row = total;
      pass.push_back(k);
      counts.push_back(take);
      caches.push_back(&w.session->caches_);
      total += take;
    }
    if (pass.empty()) break;
    float* rows = nn::GrowTo(&rows_buffer, total * latent);
    absl::Status transformed = CatchExceptions("decoder session", [&]() -> absl::Status {
      pre_parts.clear();
      for (size_t k : pass) {
        const Work& w = work[k];
        pre_parts.push_back(PreConvolutionPart{w.session, w.valid.data_ptr<int64_t>() + w.done * quantizers, w.take,
                                               rows + w.row * latent});
      }
      PreConvolveFrames(pre_parts.data(), pre_parts.size());
      d.TransformRows(rows, counts.data(), caches.data(), pass.size());
      return absl::OkStatus();
    });
    if (!transformed.ok()) {
      for (size_t k : pass) fail(k, transformed);
      continue;
    }
    // Then the sessions' frames of the pass through the convolutional part together, in groups of
    // up to frames_per_convolution_pass() frames each, asking before each group whether a
    // session's call was cancelled.
    for (int64_t j = 0;; j += group) {
      group_parts.clear();
      group_work.clear();
      for (size_t k : pass) {
        Work& w = work[k];
        if (w.n == w.done || j >= w.take) continue;  // failed or cancelled, or done with this pass
        if (j > 0 && is_cancelled(k, w.done + j)) continue;
        const int64_t frames = std::min(group, w.take - j);
        group_parts.push_back(ConvolutionPart{w.session, rows + (w.row + j) * latent, frames,
                                              w.samples + (w.done + j) * d.samples_per_frame_});
        group_work.push_back(k);
      }
      if (group_parts.empty()) break;
      absl::Status decoded = CatchExceptions("decoder session", [&]() -> absl::Status {
        DecodeLatentFrames(group_parts.data(), group_parts.size());
        return absl::OkStatus();
      });
      for (size_t q = 0; q < group_work.size(); ++q) {
        if (!decoded.ok()) {
          fail(group_work[q], decoded);
        } else {
          group_parts[q].session->frames_ += group_parts[q].frames;
        }
      }
    }
    for (size_t k : pass) {
      if (work[k].n != work[k].done) work[k].done += work[k].take;  // unless it failed or was cancelled
    }
  }
  return results;
}

void DecoderSession::PreConvolveFrames(const PreConvolutionPart* parts, size_t count) {
  if (count == 0) return;
  const CodecDecoder& d = *parts[0].session->decoder_;
  const int64_t quantizers = d.num_quantizers(), dim = d.config_.codebook_dim;
  int64_t frames = 0;
  for (size_t k = 0; k < count; ++k) frames += parts[k].n;
  thread_local std::vector<float> embedding_buffer;
  thread_local std::vector<StreamPart> streams;
  float* embeddings = nn::GrowTo(&embedding_buffer, frames * dim);
  streams.resize(count);
  for (size_t k = 0, row = 0; k < count; ++k) {
    const PreConvolutionPart& part = parts[k];
    for (int64_t i = 0; i < part.n; ++i) {
      d.quantizer_.DequantizeFrame(part.codes + i * quantizers, embeddings + (row + i) * dim);
    }
    streams[k] = StreamPart{embeddings + row * dim, part.n, part.rows, &part.session->states_};
    row += part.n;
  }
  size_t slot = 0;  // the pre-convolution's state is the session's first (AppendInitialStates)
  d.pre_conv_.StepParts(streams.data(), count, slot);
}

void DecoderSession::DecodeLatentFrames(const ConvolutionPart* parts, size_t count) {
  if (count == 0) return;
  const CodecDecoder& d = *parts[0].session->decoder_;
  // Two streaming-row buffers per stream and thread: each stage that changes the shape reads one and
  // writes the other, the rest work in place. They only grow, so after the first group a group
  // allocates nothing.
  thread_local std::vector<std::vector<float>> buffers;
  thread_local std::vector<StreamPart> streams;
  if (buffers.size() < 2 * count) buffers.resize(2 * count);
  streams.resize(count);
  for (size_t i = 0; i < count; ++i) {
    // The first stages only read their input: the latent rows in place.
    streams[i] = StreamPart{const_cast<float*>(parts[i].latent_rows), parts[i].frames, nullptr,
                            &parts[i].session->states_};
  }
  int current = 0;  // the buffers holding x
  // Each stream's other buffer, for `rate` times its steps of `channels`, as its output.
  auto output = [&](int64_t rate, int64_t channels) {
    current = 1 - current;
    for (size_t i = 0; i < count; ++i) {
      streams[i].y = nn::GrowTo(&buffers[2 * i + current], streams[i].steps * rate * channels);
    }
  };
  // The output becomes the input of what follows.
  auto advance = [&](int64_t rate) {
    for (StreamPart& s : streams) {
      s.x = s.y;
      s.steps *= rate;
    }
  };
  size_t slot = 1;  // after the pre-convolution's one state (PreConvolveFrames)
  for (size_t i = 0; i < d.upsample_convs_.size(); ++i) {
    const CausalConvTranspose1d& upsample = d.upsample_convs_[i];
    output(upsample.stride(), upsample.out_channels());
    upsample.StepParts(streams.data(), count, slot);
    advance(upsample.stride());
    d.upsample_blocks_[i].StepParts(streams.data(), count, slot);
  }
  output(1, d.decoder_in_conv_.out_channels());
  d.decoder_in_conv_.StepParts(streams.data(), count, slot);
  advance(1);
  for (const auto& block : d.decoder_blocks_) {
    output(block.upsample_rate(), block.out_channels());
    block.StepParts(streams.data(), count, slot, d.row_independent_convolutions_);
    advance(block.upsample_rate());
  }
  output(1, 1);
  d.final_conv_.StepParts(streams.data(), count, slot, ConvolutionStepOptions{/*activation=*/&d.final_act_});
  advance(1);
  for (size_t i = 0; i < count; ++i) {
    for (int64_t t = 0; t < streams[i].steps; ++t) parts[i].samples[t] = std::clamp(streams[i].x[t], -1.0f, 1.0f);
  }
}

absl::StatusOr<at::Tensor> DecoderSession::Flush() {
  finished_ = true;
  return at::zeros({0}, at::kFloat);
}

int64_t IclReferenceCutSamples(int64_t ref_frames, int64_t total_frames, int64_t num_samples) {
  const double ratio =
      static_cast<double>(ref_frames) / static_cast<double>(std::max<int64_t>(total_frames, 1));
  const int64_t cut = static_cast<int64_t>(ratio * static_cast<double>(num_samples));
  return std::clamp<int64_t>(cut, 0, num_samples);
}

at::Tensor CutIclReference(const at::Tensor& waveform, int64_t ref_frames, int64_t total_frames) {
  const int64_t len = waveform.size(0);
  const int64_t cut = IclReferenceCutSamples(ref_frames, total_frames, len);
  return waveform.narrow(0, cut, len - cut);
}

}  // namespace qwen3tts
