// Talker generation: prompt construction for every voice mode (identical to the reference's
// Qwen3TTSForConditionalGeneration.generate) and the frame loop (talker token -> code predictor's
// 15 residual codes -> summed codebook embeddings + next text embedding -> next talker token).
//
// A TalkerSequence is one utterance with its own KV caches, sampling parameters, RNG and text
// buffer. Frames are handed out as they are produced. Text may keep arriving while generating
// (streaming text input): when the buffer runs dry before the caller closes it, the sequence
// waits instead of padding. StepBatch advances several independent sequences by one frame.
#pragma once

#include <ATen/Tensor.h>
#include <ATen/core/Generator.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/talker/sampling.h"
#include "common/talker/talker_model.h"

namespace qwen3tts {

struct GenerationOptions {
  SamplingParams talker;
  SamplingParams code_predictor;
  double repetition_penalty = 1.05;  // over previously generated first-codebook tokens
  int64_t min_new_tokens = 2;        // EOS masked for the first tokens
  // Talker tokens; the last token never becomes a frame, so at most max_new_tokens - 1 frames.
  int64_t max_new_tokens = 4096;
  std::optional<uint64_t> seed;      // reproducible sampling when set
};

// The model's generation_config.json defaults.
GenerationOptions DefaultGenerationOptions(const GenerationConfig& config);
absl::Status ValidateGenerationOptions(const GenerationOptions& options);

struct TalkerRequest {
  // Token ids of <|im_start|>assistant\n{text}<|im_end|>\n<|im_start|>assistant\n (see
  // common/text/chat_template.h). With text_input_open, only <|im_start|>assistant\n{text so far}
  // (at least one text token): more text comes through AppendText and ends with CloseText.
  std::vector<int64_t> input_ids;
  bool text_input_open = false;
  // <|im_start|>user\n{instruct}<|im_end|>\n; empty = no instruction.
  std::vector<int64_t> instruct_ids;
  std::string speaker;           // CustomVoice preset (case-insensitive)
  std::string language = "auto"; // a codec language name (case-insensitive) or "auto"
  at::Tensor speaker_embedding;  // Base: x-vector [hidden]
  // Base in-context cloning: <|im_start|>assistant\n{ref_text}<|im_end|>\n and its codec codes [T, 16].
  std::vector<int64_t> ref_ids;
  at::Tensor ref_codes;
  // The reference's non_streaming_mode: the whole text in the prompt (true) or one text token fed
  // per frame (false). Streaming text input needs false.
  bool non_streaming_mode = false;
  GenerationOptions options;
};

// Intermediate tensors, recorded when a trace is passed (golden tests, debugging).
struct GenerationTrace {
  at::Tensor prefill_embeds;          // [P, H]
  at::Tensor trailing_text_hidden;    // [N, H] as built at the start
  at::Tensor tts_pad_embed;           // [H]
  at::Tensor logits_step0, scores_step0;            // [vocab]
  at::Tensor subtalker_inputs_frame0;               // [2, H]
  std::vector<at::Tensor> subtalker_logits_frame0;  // 15 x [cp_vocab]
  std::vector<at::Tensor> logits;                   // raw talker logits per token
  std::vector<at::Tensor> hidden_states;            // talker hidden that produced each token
  std::vector<int64_t> tokens;                      // talker tokens as selected (EOS included)
  int64_t prompt_head_rows = 0;     // the prompt's leading rows that do not depend on the text
  int64_t prompt_rows_reused = 0;   // of those, rows taken from the prompt-head cache (0 or all)
};

class TalkerSequence {
 public:
  enum class State { kRunning, kWaitingForText, kFinished };

  // Validates the request, builds the prompt and runs the prefill (which yields the first token).
  static absl::StatusOr<std::unique_ptr<TalkerSequence>> Start(std::shared_ptr<const TalkerModel> model,
                                                               const TalkerRequest& request,
                                                               GenerationTrace* trace = nullptr);

  State state() const;
  // Streaming text input. FAILED_PRECONDITION after CloseText or for a request that was not open.
  absl::Status AppendText(const std::vector<int64_t>& text_ids);
  void CloseText();

  // Produces the next frame (16 codes), or nullopt when finished or waiting for text.
  absl::StatusOr<std::optional<std::vector<int64_t>>> Step();

  const std::vector<int64_t>& talker_tokens() const { return tokens_; }
  int64_t frames_produced() const { return frames_; }
  bool eos_hit() const { return eos_hit_; }
  // Prompt rows whose keys and values came from the model's prompt-head cache instead of the
  // prefill (0 when the head was not cached).
  int64_t prompt_rows_reused() const { return prompt_rows_reused_; }
  int64_t prompt_rows() const { return prompt_rows_; }
  // Wall time spent so far in the talker stack (prefill excluded) and in the code predictor.
  struct Timings {
    double talker_seconds = 0;
    double code_predictor_seconds = 0;
  };
  const Timings& timings() const { return timings_; }
  // Non-fatal notes about the request (e.g. an instruction the model ignores).
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  friend struct FrameStepper;
  TalkerSequence() = default;
  // head_rows: the prompt's leading rows that do not depend on the text (TalkerModel::RunTalkerPrompt).
  absl::Status Prefill(const at::Tensor& embeds, int64_t head_rows);
  // Applies the repetition penalty, suppressed ids and minimum length to `logits` [vocab] (copied
  // into `scores`) and selects the next talker token.
  int64_t SelectTalkerToken(const float* logits, float* scores, SamplingScratch* scratch, bool record_step0);
  // Records a talker token (EOS, length limit, repetition-penalty set); FinishStep also counts the
  // frame a step produced.
  void RecordToken(int64_t token);
  void FinishStep(int64_t token);
  // The text embedding this step adds: the next trailing text row, or tts_pad once it ran out.
  const float* NextTextRow() const;

  std::shared_ptr<const TalkerModel> model_;
  GenerationOptions options_;
  GenerationTrace* trace_ = nullptr;
  at::Generator generator_;
  std::vector<nn::KvCache> talker_cache_, cp_cache_;
  std::vector<int64_t> suppressed_;
  at::Tensor trailing_;       // [N, H] float32 text embeddings consumed one per frame
  at::Tensor tts_pad_, tts_eos_;  // [1, H] float32
  bool text_open_ = false;
  std::vector<float> past_hidden_;  // [H] talker hidden that produced the pending token
  std::vector<int64_t> tokens_;
  // The distinct tokens generated so far (the repetition penalty applies once per token).
  std::vector<int64_t> distinct_tokens_;
  std::vector<bool> token_seen_;
  int64_t generation_step_ = 0;
  int64_t frames_ = 0;
  int64_t prompt_rows_reused_ = 0, prompt_rows_ = 0;
  bool eos_hit_ = false;
  bool finished_ = false;
  std::vector<std::string> warnings_;
  Timings timings_;
};

// Advances every running sequence by one frame; `on_frame(index, codes)` gets each produced frame
// as soon as its codes are chosen, before the talker's step that prepares the next frame (so the
// sequence's frame count and state still read as before this step; the step may then finish it).
// Running sequences of one model are batched: the code predictor's 16 passes and the talker step
// run once for all of them (each keeps its own caches, position, sampling parameters, RNG and
// text), so the weights are read once per frame for the whole batch. Sequences waiting for text or
// finished are skipped. Step() is this for one sequence. Once the calling thread has stepped a
// batch as large, a step allocates nothing (float32, int8 and int4 weights) until on_frame.
// An error (INTERNAL: an exception inside a step) finishes every sequence that was stepped.
absl::Status StepBatch(absl::Span<TalkerSequence* const> sequences,
                       absl::FunctionRef<void(size_t, const std::vector<int64_t>&)> on_frame);

// Runs a request to the end: codes [frames, 16] (int64).
absl::StatusOr<at::Tensor> GenerateCodes(std::shared_ptr<const TalkerModel> model, const TalkerRequest& request,
                                         GenerationTrace* trace = nullptr);

}  // namespace qwen3tts
