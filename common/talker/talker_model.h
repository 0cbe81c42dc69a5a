// The Qwen3-TTS talker (text + codec embeddings, decoder stack, codec head) and its code
// predictor (15 residual codebooks per frame), loaded from an official checkpoint.
// Weights keep their official names (talker.model.*, talker.text_projection.*, talker.codec_head,
// talker.code_predictor.*).
#pragma once

#include <ATen/Tensor.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/nn/transformer.h"
#include "common/nn/weight_precision.h"
#include "common/talker/prompt_head_cache.h"
#include "common/tensor/checkpoint.h"
#include "common/tensor/model_config.h"

namespace qwen3tts {

// Weights of the talker stage (common/nn/weight_precision.h): float32 (the reference's numbers;
// a linear layer whose every value is a bfloat16, as in the official checkpoints, is kept in
// bfloat16 and widened exactly in the kernels: the same bits from half the memory traffic),
// bfloat16 (every linear layer's weight and the codec embedding tables in bfloat16, float32
// activations and arithmetic: on a bfloat16 checkpoint exactly float32's results), int8 (every linear layer's weight
// quantized per output row, a quarter of the traffic of float32; the linear layers' inputs are
// quantized per block of 32 (nn::Int8Gemv), everything else stays float32) or int4 (the talker's
// and code predictor's transformer layers in 4 bits per block of 32 inputs, nn::Int4Gemv, 0.56x
// the traffic of int8; the text projection and the heads in int8) or int4-g128 (the same layers
// with one scale per 128 inputs, their inputs quantized per 128 too: batched steps on AMX-INT8
// tiles where the CPU has them; bench/RESULTS.md has its accuracy and speed).

// The prompt-head cache's default budget: a head of 9 rows (role, codec tags) takes 2.1 MB of keys
// and values at either size (28 layers of 8 KV heads of 128 in float32: 229 KB per row); a designed
// voice's head with a 40-token description ~11 MB.
constexpr int64_t kDefaultPromptHeadCacheBytes = int64_t{64} << 20;

class TalkerModel {
 public:
  static absl::StatusOr<std::shared_ptr<const TalkerModel>> Load(const Checkpoint& ckpt, const ModelConfig& config,
                                                                 WeightPrecision precision);
  // dtype: float32 (default) or bfloat16, as WeightPrecision::kFloat32 / kBFloat16.
  static absl::StatusOr<std::shared_ptr<const TalkerModel>> Load(const Checkpoint& ckpt, const ModelConfig& config,
                                                                 c10::ScalarType dtype = c10::ScalarType::Float);

  const ModelConfig& config() const { return config_; }
  const TalkerConfig& talker_config() const { return config_.talker; }
  // Activations' dtype: float32 for every precision (precision() says how weights are kept).
  c10::ScalarType dtype() const { return c10::ScalarType::Float; }
  WeightPrecision precision() const { return precision_; }
  int64_t hidden_size() const { return config_.talker.hidden_size; }
  int64_t num_code_groups() const { return config_.talker.num_code_groups; }

  // text_projection(text_embedding(ids)): [N] -> [N, hidden].
  at::Tensor EmbedText(const at::Tensor& ids) const;
  // codec_embedding(ids) (first codebook, control and speaker ids): [N] -> [N, hidden].
  at::Tensor EmbedCodec(const at::Tensor& ids) const;
  // Sum of the 16 codebook embeddings of each frame: codes [T, 16] -> [T, hidden].
  at::Tensor EmbedFrames(const at::Tensor& codes) const;

  // Talker decoder: embeds [T, hidden] -> final-norm hidden [T, hidden].
  at::Tensor RunTalker(const at::Tensor& embeds, std::vector<nn::KvCache>* caches) const;
  // A new sequence's prefill: RunTalker on a prompt whose first `head_rows` rows do not depend on
  // its text (PromptHeadCache). When the head is cached, its keys and values are copied into
  // `caches` and only the rows after it run; *reused_rows says how many were skipped (0 or
  // head_rows), and the result holds the hidden of the rows that ran (the prompt's last row is
  // always among them). Same bits either way.
  at::Tensor RunTalkerPrompt(const at::Tensor& embeds, int64_t head_rows, std::vector<nn::KvCache>* caches,
                             int64_t* reused_rows) const;
  // Shared by every sequence of this model; its budget can be changed at any time.
  PromptHeadCache& prompt_head_cache() const { return *prompt_head_cache_; }
  at::Tensor CodecHead(const at::Tensor& hidden) const { return codec_head_(hidden); }
  std::vector<nn::KvCache> NewTalkerCache(int64_t capacity) const { return talker_.NewCache(capacity); }

  // Batched talker: rows[i] rows of `embeds` belong to the sequence with caches[i].
  at::Tensor RunTalkerBatch(const at::Tensor& embeds, const std::vector<int64_t>& rows,
                            const std::vector<std::vector<nn::KvCache>*>& caches) const;
  // Logits of residual codebook `group` (1..15) from code-predictor hidden states.
  at::Tensor ResidualHead(int64_t group, const at::Tensor& hidden) const { return lm_heads_[group - 1](hidden); }
  std::vector<nn::KvCache> NewCodePredictorCache() const { return code_predictor_.NewCache(num_code_groups() + 1); }

  // ---- The decoding-step path: float32 rows on caller-owned buffers ----
  // A frame's work, for one sequence or several stacked (rows[i] rows belong to the sequence with
  // caches[i]). Nothing is allocated once the calling thread's step buffers have grown.
  int64_t code_predictor_hidden_size() const { return config_.talker.code_predictor.hidden_size; }
  int64_t code_predictor_vocab_size() const { return config_.talker.code_predictor.vocab_size; }
  // out [n, hidden] = codec_embedding(ids).
  void EmbedCodecRows(const int64_t* ids, int64_t n, float* out) const;
  // out [n, hidden] = residual codebook `group`'s (1..15) embedding of ids; with `accumulate`, added to out.
  void EmbedResidualRows(int64_t group, const int64_t* ids, int64_t n, float* out, bool accumulate) const;
  // out [n, hidden] = the sum of each frame's 16 codebook embeddings: codes [n, 16] row-major.
  void EmbedFrameRows(const int64_t* codes, int64_t n, float* out) const;
  // x [total, hidden] becomes the final-norm talker hidden.
  void StepTalker(float* x, const int64_t* rows, std::vector<nn::KvCache>* const* caches, size_t n) const;
  // embeds [total, hidden] (talker width) -> out [total, code-predictor hidden].
  void StepCodePredictor(const float* embeds, const int64_t* rows, std::vector<nn::KvCache>* const* caches, size_t n,
                         float* out) const;
  // logits [rows, vocab] of the codec head and of residual codebook `group` (1..15).
  void CodecHeadRows(const float* hidden, int64_t rows, float* logits) const { codec_head_.Into(hidden, rows, logits); }
  void ResidualHeadRows(int64_t group, const float* hidden, int64_t rows, float* logits) const {
    lm_heads_[group - 1].Into(hidden, rows, logits);
  }

  // Bytes of weights read per frame by the talker stack and by the code predictor (for benches).
  int64_t TalkerBytesPerStep() const { return talker_bytes_; }
  int64_t CodePredictorBytesPerStep() const { return code_predictor_bytes_; }

 private:
  TalkerModel() = default;
  ModelConfig config_;
  WeightPrecision precision_ = WeightPrecision::kFloat32;
  at::Tensor text_embedding_;   // [text_vocab, text_hidden]
  nn::Linear text_fc1_, text_fc2_;
  at::Tensor codec_embedding_;  // [vocab, hidden]
  nn::TransformerStack talker_;
  nn::Linear codec_head_;
  std::vector<at::Tensor> residual_embeddings_;  // 15 x [cp_vocab, hidden]
  bool has_projection_ = false;
  nn::Linear small_to_mtp_;
  nn::TransformerStack code_predictor_;
  std::vector<nn::Linear> lm_heads_;  // 15 x [cp_vocab, cp_hidden]
  int64_t talker_bytes_ = 0, code_predictor_bytes_ = 0;
  std::shared_ptr<PromptHeadCache> prompt_head_cache_ =
      std::make_shared<PromptHeadCache>(kDefaultPromptHeadCacheBytes);
};

}  // namespace qwen3tts
