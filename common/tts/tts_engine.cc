#include "common/tts/tts_engine.h"

#include <ATen/ATen.h>

#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/text/chat_template.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace qwen3tts {

absl::StatusOr<std::shared_ptr<const TtsEngine>> TtsEngine::Load(const std::string& model_dir,
                                                                 const EngineOptions& options) {
  std::shared_ptr<TtsEngine> e(new TtsEngine());
  ASSIGN_OR_RETURN(e->info_, LoadModelInfo(model_dir));
  if (!e->info_.speech_tokenizer.has_value()) {
    return absl::NotFoundError(absl::StrCat(model_dir, ": no speech_tokenizer/config.json (the 12 Hz codec)"));
  }
  ASSIGN_OR_RETURN(e->tokenizer_, TextTokenizer::LoadFromDir(model_dir));
  ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::Open(model_dir));
  ASSIGN_OR_RETURN(e->talker_, TalkerModel::Load(ckpt, e->info_.config, options.talker_precision));
  const std::string st_dir = JoinPath(model_dir, "speech_tokenizer");
  ASSIGN_OR_RETURN(e->decoder_, CodecDecoder::Load(st_dir, options.decoder_precision, options.decoder_conv_precision));
  if (e->info_.config.variant == ModelVariant::kBase) {
    if (!e->info_.config.speaker_encoder.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(e->info_.config.file, ": a Base model needs speaker_encoder_config"));
    }
    ASSIGN_OR_RETURN(e->xvector_, XVectorEncoder::Load(ckpt, *e->info_.config.speaker_encoder));
    ASSIGN_OR_RETURN(Checkpoint st_ckpt, Checkpoint::Open(st_dir));
    ASSIGN_OR_RETURN(e->speech_encoder_, SpeechEncoder::Load(st_ckpt, *e->info_.speech_tokenizer));
  }
  return std::shared_ptr<const TtsEngine>(std::move(e));
}

absl::StatusOr<TalkerRequest> TtsEngine::PrepareTalkerRequest(const SynthesisRequest& s) const {
  if (s.text.empty()) return absl::InvalidArgumentError("text is empty");
  TalkerRequest r;
  ASSIGN_OR_RETURN(r.input_ids, BuildAssistantTextIds(*tokenizer_, s.text));
  if (!s.instruct.empty()) {
    ASSIGN_OR_RETURN(r.instruct_ids, BuildInstructIds(*tokenizer_, s.instruct));
  }
  r.speaker = s.speaker;
  r.language = s.language;
  r.options = s.options;
  const bool base = info_.config.variant == ModelVariant::kBase;
  r.non_streaming_mode = s.non_streaming_mode.value_or(!base);
  if (base) {
    if (s.ref_audio.empty()) {
      return absl::InvalidArgumentError("ref_audio is required by a Base model (voice cloning)");
    }
    at::Tensor wav = at::from_blob(const_cast<float*>(s.ref_audio.data()), {static_cast<int64_t>(s.ref_audio.size())},
                                   at::kFloat).clone();
    ASSIGN_OR_RETURN(r.speaker_embedding, xvector_->EmbedAudio(wav));
    if (!s.x_vector_only) {
      if (s.ref_text.empty()) {
        return absl::InvalidArgumentError("ref_text is required for in-context cloning (or set x_vector_only)");
      }
      ASSIGN_OR_RETURN(r.ref_ids, BuildRefTextIds(*tokenizer_, s.ref_text));
      ASSIGN_OR_RETURN(r.ref_codes, speech_encoder_->Encode(wav));
    }
  } else if (!s.ref_audio.empty() || !s.ref_text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("ref_audio/ref_text need a Base model; this model is ",
                                                   ModelVariantName(info_.config.variant)));
  }
  return r;
}

absl::StatusOr<SynthesisSummary> TtsEngine::Synthesize(
    const SynthesisRequest& request, const std::function<bool(const std::vector<float>&)>& on_audio) const {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  ASSIGN_OR_RETURN(TalkerRequest talker_request, PrepareTalkerRequest(request));
  ASSIGN_OR_RETURN(std::unique_ptr<TalkerSequence> sequence, TalkerSequence::Start(talker_, talker_request));
  SynthesisSummary summary;
  summary.warnings = sequence->warnings();
  DecoderSession session(decoder_);
  // In-context cloning: the reference decodes reference + generated codes and cuts the reference
  // part; priming the stateful decoder with the reference codes gives the same continuation.
  if (talker_request.ref_codes.defined()) {
    ASSIGN_OR_RETURN(at::Tensor discarded, session.Push(talker_request.ref_codes));
    (void)discarded;
  }
  std::vector<float> chunk;
  bool cancelled = false;
  while (!cancelled && sequence->state() == TalkerSequence::State::kRunning) {
    ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> frame, sequence->Step());
    if (!frame.has_value()) continue;
    ASSIGN_OR_RETURN(at::Tensor audio, session.Push(at::tensor(*frame, at::kLong).view({1, -1})));
    audio = audio.contiguous();
    chunk.assign(audio.data_ptr<float>(), audio.data_ptr<float>() + audio.numel());
    if (summary.frames == 0) summary.seconds_to_first_audio = std::chrono::duration<double>(Clock::now() - start).count();
    ++summary.frames;
    summary.samples += static_cast<int64_t>(chunk.size());
    cancelled = !on_audio(chunk);
  }
  summary.eos = sequence->eos_hit();
  summary.seconds_total = std::chrono::duration<double>(Clock::now() - start).count();
  return summary;
}

}  // namespace qwen3tts
