#include "common/talker/talker_generator.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/nn/row_ops.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

// Frames of KV cache a sequence starts with (the cache grows by doubling beyond it).
constexpr int64_t kInitialFrameCapacity = 128;

at::Tensor Ids(const std::vector<int64_t>& ids) { return at::tensor(ids, at::kLong); }
at::Tensor Ids(std::initializer_list<int64_t> ids) { return at::tensor(std::vector<int64_t>(ids), at::kLong); }
// A copy of n floats as a tensor (trace recording).
at::Tensor RowTensor(const float* values, int64_t n) {
  return at::from_blob(const_cast<float*>(values), {n}, at::kFloat).clone();
}

template <typename Map>
std::string Keys(const Map& map) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : map) keys.push_back(k);
  return absl::StrJoin(keys, ", ");
}

absl::Status CheckIdsInRange(const std::vector<int64_t>& ids, int64_t vocab, const char* field) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "] = ", ids[i], " is outside the text vocabulary [0, ", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

// The prompt of one request: prefill embeddings and the per-frame text embeddings.
struct Prompt {
  at::Tensor prefill;   // [P, H]
  int64_t head_rows = 0;  // the prefill's leading rows that do not depend on the text (PromptHeadCache)
  at::Tensor trailing;  // [N, H]
  at::Tensor tts_pad, tts_eos;  // [1, H]
};

absl::StatusOr<Prompt> BuildPrompt(const TalkerModel& model, const TalkerRequest& r, std::vector<std::string>* warnings) {
  const ModelConfig& mc = model.config();
  const TalkerConfig& tc = mc.talker;
  const int64_t H = tc.hidden_size;
  RETURN_IF_ERROR(CheckIdsInRange(r.input_ids, tc.text_vocab_size, "input_ids"));
  RETURN_IF_ERROR(CheckIdsInRange(r.instruct_ids, tc.text_vocab_size, "instruct_ids"));
  RETURN_IF_ERROR(CheckIdsInRange(r.ref_ids, tc.text_vocab_size, "ref_ids"));

  // input_ids = role(3) text... [suffix(5)]
  const int64_t n = static_cast<int64_t>(r.input_ids.size());
  const int64_t text_end = r.text_input_open ? n : n - 5;
  if (text_end - 3 < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input_ids must hold <|im_start|>assistant\\n, at least one text token",
        r.text_input_open ? "" : " and the 5-token template suffix", "; got ", n, " ids (is the text empty?)"));
  }
  if (r.text_input_open && r.non_streaming_mode) {
    return absl::InvalidArgumentError("non_streaming_mode needs the whole text up front; it cannot be combined with streaming text input");
  }
  std::vector<int64_t> role(r.input_ids.begin(), r.input_ids.begin() + 3);
  std::vector<int64_t> text(r.input_ids.begin() + 3, r.input_ids.begin() + text_end);

  // Voice conditioning by model variant.
  at::Tensor speaker_embed;  // [1, H] or undefined
  std::string speaker = absl::AsciiStrToLower(r.speaker);
  std::vector<int64_t> instruct_ids = r.instruct_ids;
  const bool icl = !r.ref_ids.empty() || r.ref_codes.defined();
  switch (mc.variant) {
    case ModelVariant::kCustomVoice: {
      if (speaker.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("speaker is required by this CustomVoice model (available: ", Keys(tc.spk_id), ")"));
      }
      auto it = tc.spk_id.find(speaker);
      if (it == tc.spk_id.end()) {
        return absl::InvalidArgumentError(absl::StrCat("unknown speaker '", r.speaker, "' (available: ", Keys(tc.spk_id), ")"));
      }
      speaker_embed = model.EmbedCodec(Ids({it->second}));
      // The reference ignores instructions on 0.6B CustomVoice models (its size check is a substring test).
      if (!instruct_ids.empty() && std::string("0b6").find(mc.tts_model_size) != std::string::npos) {
        warnings->push_back("instruct is ignored: 0.6B CustomVoice models do not support instructions");
        instruct_ids.clear();
      }
      if (icl || r.speaker_embedding.defined()) {
        return absl::InvalidArgumentError("voice cloning (speaker_embedding, ref_ids, ref_codes) needs a Base model; this is a CustomVoice model");
      }
      break;
    }
    case ModelVariant::kVoiceDesign:
      if (!speaker.empty()) {
        return absl::InvalidArgumentError("speaker is not available on a VoiceDesign model: describe the voice in instruct instead");
      }
      if (icl || r.speaker_embedding.defined()) {
        return absl::InvalidArgumentError("voice cloning (speaker_embedding, ref_ids, ref_codes) needs a Base model; this is a VoiceDesign model");
      }
      break;
    case ModelVariant::kBase: {
      if (!speaker.empty()) {
        return absl::InvalidArgumentError("speaker presets are not available on a Base model: clone a voice with speaker_embedding (and ref_ids + ref_codes)");
      }
      if (!r.speaker_embedding.defined()) {
        return absl::InvalidArgumentError("speaker_embedding is required by a Base model (voice cloning)");
      }
      at::Tensor e = r.speaker_embedding.to(at::kFloat).reshape({-1});
      if (e.numel() != H) {
        return absl::InvalidArgumentError(absl::StrCat("speaker_embedding must have ", H, " values, got ", e.numel()));
      }
      if (!at::isfinite(e).all().item<bool>()) {
        return absl::InvalidArgumentError("speaker_embedding contains NaN or Inf");
      }
      speaker_embed = e.view({1, H}).to(model.dtype());
      if (!instruct_ids.empty()) {
        warnings->push_back("instruct is ignored: Base models do not take instructions");
        instruct_ids.clear();
      }
      break;
    }
  }
  if (icl) {
    if (r.ref_ids.size() < 6) {
      return absl::InvalidArgumentError("ref_ids must hold <|im_start|>assistant\\n{ref_text}<|im_end|>\\n with a non-empty ref_text");
    }
    if (!r.ref_codes.defined() || r.ref_codes.dim() != 2 || r.ref_codes.size(1) != tc.num_code_groups || r.ref_codes.size(0) < 1) {
      return absl::InvalidArgumentError(absl::StrCat("ref_codes must be [frames >= 1, ", tc.num_code_groups, "] codec codes"));
    }
    at::Tensor codes = r.ref_codes.to(at::kLong);
    const int64_t cp_vocab = tc.code_predictor.vocab_size;
    if (codes.min().item<int64_t>() < 0 || codes.narrow(1, 0, 1).max().item<int64_t>() >= cp_vocab ||
        codes.narrow(1, 1, tc.num_code_groups - 1).max().item<int64_t>() >= cp_vocab) {
      return absl::InvalidArgumentError(absl::StrCat("ref_codes values must be in [0, ", cp_vocab, ")"));
    }
    if (r.text_input_open) {
      return absl::InvalidArgumentError("in-context cloning (ref_ids + ref_codes) needs the whole text up front; streaming text input is not supported with it");
    }
  }

  // Language: "auto" lets the model decide; dialect speakers override Chinese/auto.
  std::string language = absl::AsciiStrToLower(r.language.empty() ? "auto" : r.language);
  std::optional<int64_t> language_id;
  if (language != "auto") {
    auto it = tc.codec_language_id.find(language);
    if (it == tc.codec_language_id.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown language '", r.language, "' (available: auto, ", Keys(tc.codec_language_id), ")"));
    }
    language_id = it->second;
  }
  if (!speaker.empty() && (language == "chinese" || language == "auto")) {
    auto dialect = tc.spk_is_dialect.find(speaker);
    if (dialect != tc.spk_is_dialect.end()) language_id = tc.codec_language_id.at(dialect->second);
  }

  Prompt p;
  at::Tensor special = model.EmbedText(Ids({mc.tts_bos_token_id, mc.tts_eos_token_id, mc.tts_pad_token_id}));
  at::Tensor tts_bos = special.narrow(0, 0, 1);
  p.tts_eos = special.narrow(0, 1, 1);
  p.tts_pad = special.narrow(0, 2, 1);

  std::vector<int64_t> prefix = language_id.has_value()
      ? std::vector<int64_t>{tc.codec_think_id, tc.codec_think_bos_id, *language_id, tc.codec_think_eos_id}
      : std::vector<int64_t>{tc.codec_nothink_id, tc.codec_think_bos_id, tc.codec_think_eos_id};
  std::vector<at::Tensor> codec_parts = {model.EmbedCodec(Ids(prefix))};
  if (speaker_embed.defined()) codec_parts.push_back(speaker_embed);
  codec_parts.push_back(model.EmbedCodec(Ids({tc.codec_pad_id, tc.codec_bos_id})));
  at::Tensor codec = at::cat(codec_parts, 0);  // [L, H]
  const int64_t L = codec.size(0);

  // Text channel: tts_pad under the codec tags, tts_bos under the last tag; codec channel shifted.
  at::Tensor tags = at::cat({p.tts_pad.expand({L - 2, H}), tts_bos}, 0) + codec.narrow(0, 0, L - 1);
  std::vector<at::Tensor> prompt = {model.EmbedText(Ids(role)), tags};
  p.head_rows = prompt[0].size(0) + prompt[1].size(0);

  if (icl) {
    std::vector<int64_t> ref_text(r.ref_ids.begin() + 3, r.ref_ids.end() - 2);
    std::vector<int64_t> all_text = ref_text;
    all_text.insert(all_text.end(), text.begin(), text.end());
    at::Tensor text_embed = at::cat({model.EmbedText(Ids(all_text)), p.tts_eos}, 0);  // [T1, H]
    at::Tensor codec_embed = at::cat({model.EmbedCodec(Ids({tc.codec_bos_id})),
                                      model.EmbedFrames(r.ref_codes.to(at::kLong))}, 0);  // [T2, H]
    const int64_t t1 = text_embed.size(0), t2 = codec_embed.size(0);
    if (r.non_streaming_mode) {
      at::Tensor pad_codec = model.EmbedCodec(Ids({tc.codec_pad_id}));
      prompt.push_back(text_embed + pad_codec);
      prompt.push_back(codec_embed + p.tts_pad);
      p.trailing = p.tts_pad;
    } else if (t1 > t2) {
      prompt.push_back(text_embed.narrow(0, 0, t2) + codec_embed);
      p.trailing = text_embed.narrow(0, t2, t1 - t2);
    } else {
      prompt.push_back(at::cat({text_embed, p.tts_pad.expand({t2 - t1, H})}, 0) + codec_embed);
      p.trailing = p.tts_pad;
    }
  } else if (r.non_streaming_mode) {
    at::Tensor pad_codec = model.EmbedCodec(Ids({tc.codec_pad_id}));
    prompt.push_back(at::cat({model.EmbedText(Ids(text)), p.tts_eos}, 0) + pad_codec);
    prompt.push_back(p.tts_pad + model.EmbedCodec(Ids({tc.codec_bos_id})));
    p.trailing = p.tts_pad;
  } else {
    prompt.push_back(model.EmbedText(Ids({text[0]})) + codec.narrow(0, L - 1, 1));
    std::vector<int64_t> rest(text.begin() + 1, text.end());
    at::Tensor rest_embed = rest.empty() ? at::zeros({0, H}, p.tts_pad.options()) : model.EmbedText(Ids(rest));
    p.trailing = r.text_input_open ? rest_embed : at::cat({rest_embed, p.tts_eos}, 0);
  }
  if (!instruct_ids.empty()) {
    prompt.insert(prompt.begin(), model.EmbedText(Ids(instruct_ids)));
    p.head_rows += prompt.front().size(0);
  }
  p.prefill = at::cat(prompt, 0);
  return p;
}

}  // namespace

GenerationOptions DefaultGenerationOptions(const GenerationConfig& g) {
  GenerationOptions o;
  o.talker = {g.do_sample, g.top_k, g.top_p, g.temperature};
  o.code_predictor = {g.subtalker_do_sample, g.subtalker_top_k, g.subtalker_top_p, g.subtalker_temperature};
  o.repetition_penalty = g.repetition_penalty;
  o.max_new_tokens = g.max_new_tokens;
  return o;
}

absl::Status ValidateGenerationOptions(const GenerationOptions& o) {
  RETURN_IF_ERROR(ValidateSamplingParams(o.talker, "sampling"));
  RETURN_IF_ERROR(ValidateSamplingParams(o.code_predictor, "code_predictor_sampling"));
  if (!(o.repetition_penalty > 0.0 && o.repetition_penalty <= 10.0)) {
    return absl::InvalidArgumentError(absl::StrCat("repetition_penalty must be in (0, 10], got ", o.repetition_penalty));
  }
  if (o.min_new_tokens < 0) return absl::InvalidArgumentError("min_new_tokens must be >= 0");
  if (o.max_new_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_new_tokens must be >= 1, got ", o.max_new_tokens));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TalkerSequence>> TalkerSequence::Start(std::shared_ptr<const TalkerModel> model,
                                                                      const TalkerRequest& request,
                                                                      GenerationTrace* trace) {
  return CatchExceptions("talker start", [&]() -> absl::StatusOr<std::unique_ptr<TalkerSequence>> {
    RETURN_IF_ERROR(ValidateGenerationOptions(request.options));
    std::unique_ptr<TalkerSequence> s(new TalkerSequence());
    ASSIGN_OR_RETURN(Prompt prompt, BuildPrompt(*model, request, &s->warnings_));
    s->model_ = std::move(model);
    s->options_ = request.options;
    s->trace_ = trace;
    s->text_open_ = request.text_input_open;
    // Float32 rows: a step adds the next one to the frame's summed codebook embeddings.
    s->trailing_ = prompt.trailing.to(at::kFloat).contiguous();
    s->tts_pad_ = prompt.tts_pad.to(at::kFloat).contiguous();
    s->tts_eos_ = prompt.tts_eos.to(at::kFloat).contiguous();
    uint64_t seed = request.options.seed.has_value() ? *request.options.seed : std::random_device{}();
    s->generator_ = at::make_generator<at::CPUGeneratorImpl>(seed);
    const TalkerConfig& tc = s->model_->talker_config();
    s->token_seen_.assign(static_cast<size_t>(tc.vocab_size), false);
    s->distinct_tokens_.reserve(static_cast<size_t>(tc.vocab_size));
    s->tokens_.reserve(static_cast<size_t>(std::min<int64_t>(request.options.max_new_tokens, 8192)));
    for (int64_t id = tc.vocab_size - 1024; id < tc.vocab_size; ++id) {
      if (id >= 0 && id != tc.codec_eos_token_id) s->suppressed_.push_back(id);
    }
    // Room for the prompt and the first frames only: the cache doubles when it fills (the attention
    // grows it), so a request pays for the positions it uses. Sized for max_new_tokens (4096 by
    // default) it zero-filled ~950 MB per 0.6B request before the prefill could start (274 ms of the
    // time to first audio, and that much resident memory per stream).
    s->talker_cache_ = s->model_->NewTalkerCache(prompt.prefill.size(0) +
                                                 std::min<int64_t>(request.options.max_new_tokens, kInitialFrameCapacity) + 1);
    s->cp_cache_ = s->model_->NewCodePredictorCache();
    if (trace != nullptr) {
      trace->prefill_embeds = prompt.prefill;
      trace->trailing_text_hidden = prompt.trailing;
      trace->tts_pad_embed = prompt.tts_pad.view({-1});
    }
    RETURN_IF_ERROR(s->Prefill(prompt.prefill, prompt.head_rows));
    if (trace != nullptr) {
      trace->prompt_head_rows = prompt.head_rows;
      trace->prompt_rows_reused = s->prompt_rows_reused_;
    }
    return s;
  });
}

int64_t TalkerSequence::SelectTalkerToken(const float* logits, float* scores, SamplingScratch* scratch,
                                          bool record_step0) {
  const int64_t vocab = model_->talker_config().vocab_size;
  std::copy(logits, logits + vocab, scores);
  ApplyRepetitionPenalty(scores, distinct_tokens_, options_.repetition_penalty);
  SuppressIds(scores, suppressed_);
  if (static_cast<int64_t>(tokens_.size()) < options_.min_new_tokens) {
    scores[model_->talker_config().codec_eos_token_id] = -INFINITY;
  }
  if (trace_ != nullptr) {
    trace_->logits.push_back(RowTensor(logits, vocab));
    if (record_step0) {
      trace_->logits_step0 = RowTensor(logits, vocab);
      trace_->scores_step0 = RowTensor(scores, vocab);
    }
  }
  const int64_t token = SelectToken(scores, vocab, options_.talker, generator_, scratch);
  if (trace_ != nullptr) trace_->tokens.push_back(token);
  return token;
}

absl::Status TalkerSequence::Prefill(const at::Tensor& embeds, int64_t head_rows) {
  prompt_rows_ = embeds.size(0);
  at::Tensor hidden = model_->RunTalkerPrompt(embeds, head_rows, &talker_cache_, &prompt_rows_reused_);
  at::Tensor last = hidden.narrow(0, hidden.size(0) - 1, 1).to(at::kFloat).contiguous();
  past_hidden_.assign(last.data_ptr<float>(), last.data_ptr<float>() + last.numel());
  at::Tensor logits = model_->CodecHead(last.to(hidden.scalar_type())).to(at::kFloat).contiguous();
  if (trace_ != nullptr) trace_->hidden_states.push_back(last.view({-1}).clone());
  std::vector<float> scores(static_cast<size_t>(logits.numel()));
  SamplingScratch scratch;
  RecordToken(SelectTalkerToken(logits.data_ptr<float>(), scores.data(), &scratch, /*record_step0=*/true));
  return absl::OkStatus();
}

void TalkerSequence::RecordToken(int64_t token) {
  tokens_.push_back(token);
  if (!token_seen_[token]) {
    token_seen_[token] = true;
    distinct_tokens_.push_back(token);
  }
  if (token == model_->talker_config().codec_eos_token_id) {
    eos_hit_ = true;
    finished_ = true;
  }
  if (static_cast<int64_t>(tokens_.size()) >= options_.max_new_tokens) finished_ = true;
}

TalkerSequence::State TalkerSequence::state() const {
  if (finished_) return State::kFinished;
  if (text_open_ && generation_step_ >= trailing_.size(0)) return State::kWaitingForText;
  return State::kRunning;
}

absl::Status TalkerSequence::AppendText(const std::vector<int64_t>& text_ids) {
  if (!text_open_) return absl::FailedPreconditionError("the text input is closed; no more text can be appended");
  if (text_ids.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(CheckIdsInRange(text_ids, model_->talker_config().text_vocab_size, "text_ids"));
  trailing_ = at::cat({trailing_, model_->EmbedText(Ids(text_ids)).to(at::kFloat)}, 0);
  return absl::OkStatus();
}

void TalkerSequence::CloseText() {
  if (!text_open_) return;
  trailing_ = at::cat({trailing_, tts_eos_}, 0);
  text_open_ = false;
}

absl::StatusOr<std::optional<std::vector<int64_t>>> TalkerSequence::Step() {
  std::optional<std::vector<int64_t>> frame;
  TalkerSequence* self = this;
  RETURN_IF_ERROR(StepBatch(absl::MakeConstSpan(&self, 1),
                            [&frame](size_t, const std::vector<int64_t>& codes) { frame = codes; }));
  return frame;
}

const float* TalkerSequence::NextTextRow() const {
  const at::Tensor& rows = generation_step_ < trailing_.size(0) ? trailing_ : tts_pad_;
  const int64_t row = generation_step_ < trailing_.size(0) ? generation_step_ : 0;
  return rows.data_ptr<float>() + row * rows.size(1);
}

// One frame for every running sequence. The buffers are the stepping thread's, grown to the
// largest batch seen: after the first frames a step allocates nothing (for float32, int8 and
// int4 weights; tests/unit/talker_hot_path_test.cc counts).
struct FrameStepper {
  std::vector<size_t> running;
  std::vector<TalkerSequence*> batch;
  std::vector<int64_t> rows, codes;  // codes [B, groups]
  std::vector<std::vector<nn::KvCache>*> caches;
  std::vector<float> cp_input, cp_output, cp_hidden, cp_logits, talker_rows, talker_logits, scores;
  std::vector<int64_t> frame;
  SamplingScratch sampling;

  static FrameStepper& ForThisThread() {
    thread_local FrameStepper stepper;
    return stepper;
  }

  absl::Status Step(absl::Span<TalkerSequence* const> sequences,
                    absl::FunctionRef<void(size_t, const std::vector<int64_t>&)> on_frame) {
    running.clear();
    batch.clear();
    for (size_t i = 0; i < sequences.size(); ++i) {
      if (sequences[i]->state() != TalkerSequence::State::kRunning) continue;
      running.push_back(i);
      batch.push_back(sequences[i]);
    }
    if (batch.empty()) return absl::OkStatus();
    const TalkerModel& m = *batch[0]->model_;
    for (TalkerSequence* s : batch) {
      if (s->model_.get() != &m) return absl::InvalidArgumentError("StepBatch: sequences of different models");
    }
    absl::Status status = CatchExceptions("talker step", [&] { return StepRunning(m, on_frame); });
    // Only an exception fails a step, and it may leave caches half-updated.
    if (!status.ok()) {
      for (TalkerSequence* s : batch) s->finished_ = true;
    }
    return status;
  }

 private:
  absl::Status StepRunning(const TalkerModel& m, absl::FunctionRef<void(size_t, const std::vector<int64_t>&)> on_frame) {
    using Clock = std::chrono::steady_clock;
    const int64_t B = static_cast<int64_t>(batch.size()), G = m.num_code_groups(), H = m.hidden_size();
    const int64_t cp_hidden_size = m.code_predictor_hidden_size(), cp_vocab = m.code_predictor_vocab_size();
    const int64_t vocab = m.talker_config().vocab_size;
    int64_t* code = nn::GrowTo(&codes, B * G);
    rows.assign(static_cast<size_t>(B), 2);
    caches.resize(static_cast<size_t>(B));
    const auto t0 = Clock::now();

    // Code predictor: [talker hidden, embedding of the semantic code] per sequence, then one row
    // per sequence for each residual codebook; every pass runs once for the whole batch.
    float* cp_in = nn::GrowTo(&cp_input, B * 2 * H);
    for (int64_t b = 0; b < B; ++b) {
      TalkerSequence* s = batch[b];
      code[b * G] = s->tokens_.back();
      std::copy(s->past_hidden_.begin(), s->past_hidden_.end(), cp_in + 2 * b * H);
      m.EmbedCodecRows(&code[b * G], 1, cp_in + (2 * b + 1) * H);
      for (nn::KvCache& c : s->cp_cache_) c.Reset();
      caches[b] = &s->cp_cache_;
      if (RecordsFrameZero(*s)) s->trace_->subtalker_inputs_frame0 = RowTensor(cp_in + 2 * b * H, 2 * H).view({2, H});
    }
    float* cp_out = nn::GrowTo(&cp_output, B * 2 * cp_hidden_size);
    m.StepCodePredictor(cp_in, rows.data(), caches.data(), batch.size(), cp_out);
    float* h = nn::GrowTo(&cp_hidden, B * cp_hidden_size);
    for (int64_t b = 0; b < B; ++b) {  // the last row of each sequence
      std::copy(cp_out + (2 * b + 1) * cp_hidden_size, cp_out + (2 * b + 2) * cp_hidden_size, h + b * cp_hidden_size);
    }
    rows.assign(static_cast<size_t>(B), 1);
    float* logits = nn::GrowTo(&cp_logits, B * cp_vocab);
    for (int64_t g = 1; g < G; ++g) {
      if (g > 1) {
        for (int64_t b = 0; b < B; ++b) m.EmbedResidualRows(g - 1, &code[b * G + g - 1], 1, cp_in + b * H, false);
        m.StepCodePredictor(cp_in, rows.data(), caches.data(), batch.size(), h);
      }
      m.ResidualHeadRows(g, h, B, logits);
      for (int64_t b = 0; b < B; ++b) {
        TalkerSequence* s = batch[b];
        if (RecordsFrameZero(*s)) s->trace_->subtalker_logits_frame0.push_back(RowTensor(logits + b * cp_vocab, cp_vocab));
        code[b * G + g] = SelectToken(logits + b * cp_vocab, cp_vocab, s->options_.code_predictor, s->generator_, &sampling);
      }
    }
    const auto t1 = Clock::now();
    // Each frame is complete once its residual codes are chosen: hand it out now, not after the
    // talker's step below, which only prepares the next frame (its first code, or EOS). Readers and
    // the vocoder then start on it a talker step earlier (0.6B int4: about a third of a batched
    // step at 8 streams, ~15 ms of a single stream's), and the results are the same.
    for (int64_t b = 0; b < B; ++b) {
      frame.assign(code + b * G, code + (b + 1) * G);
      on_frame(running[b], frame);
    }

    // One talker step for every sequence: its 16 codebook embeddings summed plus its own next
    // text embedding.
    float* x = nn::GrowTo(&talker_rows, B * H);
    for (int64_t b = 0; b < B; ++b) {
      TalkerSequence* s = batch[b];
      float* row = x + b * H;
      m.EmbedFrameRows(&code[b * G], 1, row);
      const float* text = s->NextTextRow();
      for (int64_t i = 0; i < H; ++i) row[i] += text[i];
      caches[b] = &s->talker_cache_;
    }
    m.StepTalker(x, rows.data(), caches.data(), batch.size());
    float* head = nn::GrowTo(&talker_logits, B * vocab);
    m.CodecHeadRows(x, B, head);
    const auto t2 = Clock::now();

    float* token_scores = nn::GrowTo(&scores, vocab);
    for (int64_t b = 0; b < B; ++b) {
      TalkerSequence* s = batch[b];
      s->past_hidden_.assign(x + b * H, x + (b + 1) * H);
      if (s->trace_ != nullptr) s->trace_->hidden_states.push_back(RowTensor(x + b * H, H));
      const int64_t token = s->SelectTalkerToken(head + b * vocab, token_scores, &sampling, /*record_step0=*/false);
      s->timings_.code_predictor_seconds += std::chrono::duration<double>(t1 - t0).count();
      s->timings_.talker_seconds += std::chrono::duration<double>(t2 - t1).count();
      s->FinishStep(token);
    }
    return absl::OkStatus();
  }

  static bool RecordsFrameZero(const TalkerSequence& s) { return s.trace_ != nullptr && s.frames_ == 0; }
};

void TalkerSequence::FinishStep(int64_t token) {
  ++generation_step_;
  ++frames_;
  RecordToken(token);
}

absl::Status StepBatch(absl::Span<TalkerSequence* const> sequences,
                       absl::FunctionRef<void(size_t, const std::vector<int64_t>&)> on_frame) {
  return FrameStepper::ForThisThread().Step(sequences, on_frame);
}

absl::StatusOr<at::Tensor> GenerateCodes(std::shared_ptr<const TalkerModel> model, const TalkerRequest& request,
                                         GenerationTrace* trace) {
  if (request.text_input_open) {
    return absl::InvalidArgumentError("GenerateCodes needs the whole text (text_input_open must be false)");
  }
  const int64_t seq_groups = model->num_code_groups();
  ASSIGN_OR_RETURN(std::unique_ptr<TalkerSequence> seq, TalkerSequence::Start(std::move(model), request, trace));
  std::vector<at::Tensor> frames;
  while (seq->state() == TalkerSequence::State::kRunning) {
    ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> frame, seq->Step());
    if (frame.has_value()) frames.push_back(Ids(*frame));
  }
  if (frames.empty()) return at::zeros({0, seq_groups}, at::kLong);
  return at::stack(frames, 0);
}

}  // namespace qwen3tts
