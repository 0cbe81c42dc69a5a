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
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

// Frames of KV cache a sequence starts with (the cache grows by doubling beyond it).
constexpr int64_t kInitialFrameCapacity = 128;

at::Tensor Ids(const std::vector<int64_t>& ids) { return at::tensor(ids, at::kLong); }
at::Tensor Ids(std::initializer_list<int64_t> ids) { return at::tensor(std::vector<int64_t>(ids), at::kLong); }

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
  if (!instruct_ids.empty()) prompt.insert(prompt.begin(), model.EmbedText(Ids(instruct_ids)));
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
    s->trailing_ = prompt.trailing;
    s->tts_pad_ = prompt.tts_pad;
    s->tts_eos_ = prompt.tts_eos;
    uint64_t seed = request.options.seed.has_value() ? *request.options.seed : std::random_device{}();
    s->generator_ = at::make_generator<at::CPUGeneratorImpl>(seed);
    const TalkerConfig& tc = s->model_->talker_config();
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
    RETURN_IF_ERROR(s->Prefill(prompt.prefill));
    return s;
  });
}

int64_t TalkerSequence::SelectTalkerToken(const at::Tensor& logits, bool record_step0) {
  at::Tensor scores = logits.to(at::kFloat).clone();
  ApplyRepetitionPenalty(scores, tokens_, options_.repetition_penalty);
  SuppressIds(scores, suppressed_);
  if (static_cast<int64_t>(tokens_.size()) < options_.min_new_tokens) {
    scores.index_put_({model_->talker_config().codec_eos_token_id}, -INFINITY);
  }
  if (trace_ != nullptr) {
    trace_->logits.push_back(logits.to(at::kFloat));
    if (record_step0) {
      trace_->logits_step0 = logits.to(at::kFloat);
      trace_->scores_step0 = scores;
    }
  }
  int64_t token = SelectToken(scores, options_.talker, generator_);
  if (trace_ != nullptr) trace_->tokens.push_back(token);
  return token;
}

absl::Status TalkerSequence::Prefill(const at::Tensor& embeds) {
  at::Tensor hidden = model_->RunTalker(embeds, &talker_cache_);
  past_hidden_ = hidden.narrow(0, hidden.size(0) - 1, 1);
  at::Tensor logits = model_->CodecHead(past_hidden_).view({-1});
  if (trace_ != nullptr) trace_->hidden_states.push_back(past_hidden_.view({-1}).to(at::kFloat));
  int64_t token = SelectTalkerToken(logits, /*record_step0=*/true);
  tokens_.push_back(token);
  if (token == model_->talker_config().codec_eos_token_id) {
    eos_hit_ = true;
    finished_ = true;
  }
  if (static_cast<int64_t>(tokens_.size()) >= options_.max_new_tokens) finished_ = true;
  return absl::OkStatus();
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
  trailing_ = at::cat({trailing_, model_->EmbedText(Ids(text_ids))}, 0);
  return absl::OkStatus();
}

void TalkerSequence::CloseText() {
  if (!text_open_) return;
  trailing_ = at::cat({trailing_, tts_eos_}, 0);
  text_open_ = false;
}

absl::StatusOr<std::optional<std::vector<int64_t>>> TalkerSequence::Step() {
  using Result = absl::StatusOr<std::optional<std::vector<int64_t>>>;
  Result result = CatchExceptions("talker step", [&]() -> Result {
    if (state() != State::kRunning) return std::optional<std::vector<int64_t>>();
    const TalkerModel& m = *model_;
    const int64_t groups = m.num_code_groups();
    std::vector<int64_t> codes(groups);
    codes[0] = tokens_.back();

    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    // Code predictor: [talker hidden, embedding of the semantic code] then one step per residual group.
    for (nn::KvCache& c : cp_cache_) c.Reset();
    at::Tensor cp_in = at::cat({past_hidden_, m.EmbedCodec(Ids({codes[0]}))}, 0);
    const bool record = trace_ != nullptr && frames_ == 0;
    if (record) trace_->subtalker_inputs_frame0 = cp_in.to(at::kFloat);
    at::Tensor h = m.RunCodePredictor(cp_in, &cp_cache_);
    h = h.narrow(0, h.size(0) - 1, 1);
    for (int64_t g = 1; g < groups; ++g) {
      if (g > 1) h = m.RunCodePredictor(m.EmbedResidual(g - 1, Ids({codes[g - 1]})), &cp_cache_);
      at::Tensor logits = m.ResidualHead(g, h).view({-1}).to(at::kFloat);
      if (record) trace_->subtalker_logits_frame0.push_back(logits);
      codes[g] = SelectToken(logits, options_.code_predictor, generator_);
    }

    const auto t1 = Clock::now();
    timings_.code_predictor_seconds += std::chrono::duration<double>(t1 - t0).count();
    // Next talker input: all 16 codebook embeddings plus this step's text embedding.
    at::Tensor text_row = generation_step_ < trailing_.size(0) ? trailing_.narrow(0, generation_step_, 1) : tts_pad_;
    at::Tensor input = m.EmbedFrames(Ids(codes).view({1, groups})) + text_row;
    at::Tensor hidden = m.RunTalker(input, &talker_cache_);
    past_hidden_ = hidden;
    if (trace_ != nullptr) trace_->hidden_states.push_back(hidden.view({-1}).to(at::kFloat));
    int64_t token = SelectTalkerToken(m.CodecHead(hidden).view({-1}), /*record_step0=*/false);
    timings_.talker_seconds += std::chrono::duration<double>(Clock::now() - t1).count();
    FinishStep(token);
    return std::optional<std::vector<int64_t>>(std::move(codes));
  });
  if (!result.ok()) finished_ = true;  // only an exception fails a step: its caches may be half-updated
  return result;
}

void TalkerSequence::FinishStep(int64_t token) {
  tokens_.push_back(token);
  ++generation_step_;
  ++frames_;
  if (token == model_->talker_config().codec_eos_token_id) {
    eos_hit_ = true;
    finished_ = true;
  }
  if (static_cast<int64_t>(tokens_.size()) >= options_.max_new_tokens) finished_ = true;
}

absl::Status StepBatch(const std::vector<TalkerSequence*>& sequences,
                       const std::function<void(size_t, const std::vector<int64_t>&)>& on_frame) {
  return CatchExceptions("talker batch step", [&]() -> absl::Status {
    std::vector<size_t> running;
    bool traced = false;
    for (size_t i = 0; i < sequences.size(); ++i) {
      if (sequences[i]->state() != TalkerSequence::State::kRunning) continue;
      running.push_back(i);
      traced |= sequences[i]->trace_ != nullptr;
    }
    // One sequence (or a trace to record) takes the plain path: exactly what Step() computes.
    if (running.size() <= 1 || traced) {
      for (size_t i : running) {
        ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> frame, sequences[i]->Step());
        if (frame.has_value()) on_frame(i, *frame);
      }
      return absl::OkStatus();
    }
    const TalkerModel& m = *sequences[running[0]]->model_;
    for (size_t i : running) {
      if (sequences[i]->model_.get() != &m) return absl::InvalidArgumentError("StepBatch: sequences of different models");
    }
    const int64_t B = static_cast<int64_t>(running.size());
    const int64_t groups = m.num_code_groups();
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();

    // Code predictor for every sequence at once: [past hidden, semantic code embedding] per
    // sequence, then one row per sequence for each residual group.
    std::vector<std::vector<int64_t>> codes(B, std::vector<int64_t>(groups));
    std::vector<std::vector<nn::KvCache>*> cp_caches(B), talker_caches(B);
    std::vector<at::Tensor> prefix;
    std::vector<int64_t> semantic(B);
    for (int64_t b = 0; b < B; ++b) {
      TalkerSequence* s = sequences[running[b]];
      for (nn::KvCache& c : s->cp_cache_) c.Reset();
      cp_caches[b] = &s->cp_cache_;
      talker_caches[b] = &s->talker_cache_;
      codes[b][0] = semantic[b] = s->tokens_.back();
      prefix.push_back(s->past_hidden_);
    }
    at::Tensor semantic_embeds = m.EmbedCodec(Ids(semantic));  // [B, H]
    std::vector<at::Tensor> cp_rows;
    for (int64_t b = 0; b < B; ++b) {
      cp_rows.push_back(prefix[b]);
      cp_rows.push_back(semantic_embeds.narrow(0, b, 1));
    }
    at::Tensor h = m.RunCodePredictorBatch(at::cat(cp_rows, 0), std::vector<int64_t>(B, 2), cp_caches);
    h = h.view({B, 2, -1}).select(1, 1);  // the last row of each sequence
    const std::vector<int64_t> one_row(B, 1);
    for (int64_t g = 1; g < groups; ++g) {
      if (g > 1) {
        std::vector<int64_t> previous(B);
        for (int64_t b = 0; b < B; ++b) previous[b] = codes[b][g - 1];
        h = m.RunCodePredictorBatch(m.EmbedResidual(g - 1, Ids(previous)), one_row, cp_caches);
      }
      at::Tensor logits = m.ResidualHead(g, h).to(at::kFloat);  // [B, V]
      for (int64_t b = 0; b < B; ++b) {
        TalkerSequence* s = sequences[running[b]];
        codes[b][g] = SelectToken(logits[b], s->options_.code_predictor, s->generator_);
      }
    }
    const auto t1 = Clock::now();

    // One talker step for every sequence: 16 code embeddings + its own next text embedding.
    std::vector<int64_t> flat;
    std::vector<at::Tensor> text_rows;
    for (int64_t b = 0; b < B; ++b) {
      TalkerSequence* s = sequences[running[b]];
      flat.insert(flat.end(), codes[b].begin(), codes[b].end());
      text_rows.push_back(s->generation_step_ < s->trailing_.size(0) ? s->trailing_.narrow(0, s->generation_step_, 1)
                                                                        : s->tts_pad_);
    }
    at::Tensor input = m.EmbedFrames(Ids(flat).view({B, groups})) + at::cat(text_rows, 0);
    at::Tensor hidden = m.RunTalkerBatch(input, one_row, talker_caches);  // [B, H]
    at::Tensor head = m.CodecHead(hidden);                                 // [B, vocab]
    const auto t2 = Clock::now();
    for (int64_t b = 0; b < B; ++b) {
      TalkerSequence* s = sequences[running[b]];
      s->past_hidden_ = hidden.narrow(0, b, 1);
      const int64_t token = s->SelectTalkerToken(head[b], /*record_step0=*/false);
      s->timings_.code_predictor_seconds += std::chrono::duration<double>(t1 - t0).count();
      s->timings_.talker_seconds += std::chrono::duration<double>(t2 - t1).count();
      s->FinishStep(token);
      on_frame(running[b], codes[b]);
    }
    return absl::OkStatus();
  });
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
