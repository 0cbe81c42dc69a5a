// In-process text-to-speech: tokenizer + talker + code predictor + streaming codec decoder (and,
// for Base models, the speech-tokenizer encoder and speaker encoder for cloning), for the CLI, the
// all-in-one server and tests. Audio is handed out frame by frame as it is decoded; it equals the
// reference's whole-utterance output (the decoder session is exact).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/codec/decoder.h"
#include "common/codec/speech_encoder.h"
#include "common/codec/xvector_encoder.h"
#include "common/talker/talker_generator.h"
#include "common/text/tokenizer.h"

namespace qwen3tts {

struct EngineOptions {
  WeightPrecision talker_precision = WeightPrecision::kFloat32;
  WeightPrecision decoder_precision = WeightPrecision::kFloat32;       // float32 or int8 (CodecDecoder)
  WeightPrecision decoder_conv_precision = WeightPrecision::kFloat32;  // float32 or bfloat16
};

struct SynthesisRequest {
  std::string text;
  std::string language = "auto";
  std::string speaker;   // CustomVoice
  std::string instruct;  // CustomVoice (1.7B) and VoiceDesign
  // Base: reference audio (mono, 24 kHz) and, for in-context cloning, its transcript.
  std::vector<float> ref_audio;
  std::string ref_text;
  bool x_vector_only = false;
  // The reference's defaults: non-streaming prompt for CustomVoice/VoiceDesign, streaming for clones.
  std::optional<bool> non_streaming_mode;
  GenerationOptions options;
};

struct SynthesisSummary {
  int64_t frames = 0;
  int64_t samples = 0;
  bool eos = false;
  double seconds_to_first_audio = 0;
  double seconds_total = 0;
  std::vector<std::string> warnings;
};

class TtsEngine {
 public:
  static absl::StatusOr<std::shared_ptr<const TtsEngine>> Load(const std::string& model_dir,
                                                               const EngineOptions& options = {});

  const ModelInfo& info() const { return info_; }
  const TextTokenizer& tokenizer() const { return *tokenizer_; }
  // generation_config.json defaults.
  GenerationOptions DefaultOptions() const { return DefaultGenerationOptions(info_.generation); }
  int64_t sample_rate() const { return decoder_->sample_rate(); }
  // The talker model, for tools that need codes rather than audio (benchmarks, comparisons).
  std::shared_ptr<const TalkerModel> talker() const { return talker_; }

  // Validates and tokenizes a request into a talker request (clone inputs are encoded here).
  absl::StatusOr<TalkerRequest> PrepareTalkerRequest(const SynthesisRequest& request) const;

  // Synthesizes, calling on_audio with each decoded chunk (24 kHz float) as soon as it exists.
  // on_audio returning false cancels generation (the summary reports what was produced).
  absl::StatusOr<SynthesisSummary> Synthesize(const SynthesisRequest& request,
                                              const std::function<bool(const std::vector<float>&)>& on_audio) const;

 private:
  TtsEngine() = default;
  ModelInfo info_;
  std::shared_ptr<const TextTokenizer> tokenizer_;
  std::shared_ptr<const TalkerModel> talker_;
  std::shared_ptr<const CodecDecoder> decoder_;
  std::shared_ptr<const SpeechEncoder> speech_encoder_;  // Base models only
  std::shared_ptr<const XVectorEncoder> xvector_;        // Base models only
};

}  // namespace qwen3tts
