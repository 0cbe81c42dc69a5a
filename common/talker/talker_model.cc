#include "common/talker/talker_model.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

nn::BlockConfig QwenBlock(const TransformerConfig& c) {
  nn::BlockConfig b;
  b.hidden_size = c.hidden_size;
  b.num_heads = c.num_attention_heads;
  b.num_kv_heads = c.num_key_value_heads;
  b.head_dim = c.head_dim;
  b.intermediate_size = c.intermediate_size;
  b.norm_eps = c.rms_norm_eps;
  b.norm = nn::NormKind::kRms;
  b.mlp = nn::MlpKind::kSwiGlu;
  b.qk_norm = true;
  b.attention_bias = c.attention_bias;
  b.sliding_window = c.sliding_window;
  return b;
}


}  // namespace

absl::StatusOr<std::shared_ptr<const TalkerModel>> TalkerModel::Load(const Checkpoint& ckpt, const ModelConfig& config,
                                                                     c10::ScalarType dtype) {
  if (dtype != at::kFloat && dtype != at::kBFloat16) {
    return absl::InvalidArgumentError("talker dtype must be float32 or bfloat16");
  }
  return Load(ckpt, config, dtype == at::kBFloat16 ? WeightPrecision::kBFloat16 : WeightPrecision::kFloat32);
}

absl::StatusOr<std::shared_ptr<const TalkerModel>> TalkerModel::Load(const Checkpoint& ckpt, const ModelConfig& config,
                                                                     WeightPrecision precision) {
  // Activations are float32 for every precision; bfloat16 and the quantized precisions change how
  // the linear layers' weights are kept.
  const c10::ScalarType dtype = at::kFloat;
  if (config.talker.hidden_act != "silu") {
    return absl::UnimplementedError(absl::StrCat(config.file, ": talker_config.hidden_act '",
                                                 config.talker.hidden_act, "' is not supported (supported: silu)"));
  }
  std::shared_ptr<TalkerModel> m(new TalkerModel());
  m->config_ = config;
  m->precision_ = precision;
  const TalkerConfig& t = config.talker;
  const CodePredictorConfig& cp = t.code_predictor;
  // The text embedding (151k rows: 1.2 GB in float32 for either size) is only ever looked up a few
  // rows at a time, so a 16-bit checkpoint keeps it in its stored type and widens the rows looked
  // up: exactly the same values, half the memory.
  const std::string text_embedding = "talker.model.text_embedding.weight";
  c10::ScalarType text_embedding_dtype = dtype;
  if (const TensorEntry* e = ckpt.Find(text_embedding);
      e != nullptr && (e->dtype == StDType::kBF16 || e->dtype == StDType::kF16)) {
    text_embedding_dtype = ToScalarType(e->dtype);
  }
  // The codec embedding tables are read a row at a time too; bfloat16 keeps them in bfloat16.
  const c10::ScalarType table_dtype = precision == WeightPrecision::kBFloat16 ? at::kBFloat16 : dtype;
  ASSIGN_OR_RETURN(m->text_embedding_, ckpt.LoadShaped(text_embedding, {t.text_vocab_size, t.text_hidden_size},
                                                       text_embedding_dtype));
  ASSIGN_OR_RETURN(m->text_fc1_, nn::LoadLinear(ckpt, "talker.text_projection.linear_fc1", t.text_hidden_size,
                                                t.text_hidden_size, true, dtype));
  ASSIGN_OR_RETURN(m->text_fc2_, nn::LoadLinear(ckpt, "talker.text_projection.linear_fc2", t.text_hidden_size,
                                                t.hidden_size, true, dtype));
  ASSIGN_OR_RETURN(m->codec_embedding_,
                   ckpt.LoadShaped("talker.model.codec_embedding.weight", {t.vocab_size, t.hidden_size}, table_dtype));
  // The transformer layers in the precision's form; the text projection and the heads as its
  // `others` (int8 for int4 and int4-g128: the heads' logits pick the codes).
  const nn::LinearQuantizations quantizations = nn::LinearQuantizationsFor(precision);
  const nn::LinearQuantization layers = quantizations.layers, heads = quantizations.others;
  ASSIGN_OR_RETURN(m->talker_, nn::TransformerStack::Load(ckpt, "talker.model.", t.num_hidden_layers, "talker.model.norm",
                                                          QwenBlock(t), t.rope_theta, dtype, layers));
  ASSIGN_OR_RETURN(m->codec_head_, nn::LoadLinear(ckpt, "talker.codec_head", t.hidden_size, t.vocab_size, false, dtype));
  const int64_t residual_groups = t.num_code_groups - 1;
  for (int64_t g = 0; g < residual_groups; ++g) {
    ASSIGN_OR_RETURN(at::Tensor emb, ckpt.LoadShaped(absl::StrCat("talker.code_predictor.model.codec_embedding.", g, ".weight"),
                                                     {cp.vocab_size, t.hidden_size}, table_dtype));
    m->residual_embeddings_.push_back(emb);
    ASSIGN_OR_RETURN(nn::Linear head, nn::LoadLinear(ckpt, absl::StrCat("talker.code_predictor.lm_head.", g),
                                                     cp.hidden_size, cp.vocab_size, false, dtype));
    m->lm_heads_.push_back(head);
  }
  m->has_projection_ = cp.hidden_size != t.hidden_size;
  if (m->has_projection_) {
    ASSIGN_OR_RETURN(m->small_to_mtp_, nn::LoadLinear(ckpt, "talker.code_predictor.small_to_mtp_projection",
                                                      t.hidden_size, cp.hidden_size, true, dtype));
  }
  ASSIGN_OR_RETURN(m->code_predictor_,
                   nn::TransformerStack::Load(ckpt, "talker.code_predictor.model.", cp.num_hidden_layers,
                                              "talker.code_predictor.model.norm", QwenBlock(cp), cp.rope_theta, dtype,
                                              layers));
  for (nn::Linear* l : {&m->text_fc1_, &m->text_fc2_, &m->codec_head_, &m->small_to_mtp_}) l->Quantize(heads);
  for (nn::Linear& head : m->lm_heads_) head.Quantize(heads);
  // Per-frame weight traffic: every talker layer and the codec head once; the code predictor
  // stack and one residual head per residual codebook.
  m->talker_bytes_ = m->talker_.bytes() + m->codec_head_.bytes();
  m->code_predictor_bytes_ = (m->code_predictor_.bytes() + m->lm_heads_[0].bytes()) * residual_groups;
  return std::shared_ptr<const TalkerModel>(std::move(m));
}

at::Tensor TalkerModel::EmbedText(const at::Tensor& ids) const {
  at::Tensor e = at::embedding(text_embedding_, ids).to(at::kFloat);
  return text_fc2_(at::silu(text_fc1_(e)));
}

at::Tensor TalkerModel::EmbedCodec(const at::Tensor& ids) const {
  return at::embedding(codec_embedding_, ids).to(at::kFloat);
}

at::Tensor TalkerModel::EmbedFrames(const at::Tensor& codes) const {
  at::Tensor ids = codes.to(at::kLong).contiguous();
  at::Tensor sum = at::empty({ids.size(0), hidden_size()}, at::kFloat);
  EmbedFrameRows(ids.data_ptr<int64_t>(), ids.size(0), sum.data_ptr<float>());
  return sum;
}

namespace {

// Rows of an embedding table (float32, or bfloat16 for a bfloat16 talker) as float32:
// out[r] = table[ids[r]] or out[r] += table[ids[r]].
template <typename T>
void TableRows(const at::Tensor& table, const int64_t* ids, int64_t n, float* out, bool accumulate) {
  const int64_t width = table.size(1);
  const T* data = table.data_ptr<T>();
  for (int64_t r = 0; r < n; ++r) {
    const T* row = data + ids[r] * width;
    float* o = out + r * width;
    if (accumulate) {
      for (int64_t i = 0; i < width; ++i) o[i] += static_cast<float>(row[i]);
    } else {
      for (int64_t i = 0; i < width; ++i) o[i] = static_cast<float>(row[i]);
    }
  }
}

void EmbeddingRows(const at::Tensor& table, const int64_t* ids, int64_t n, float* out, bool accumulate) {
  if (table.scalar_type() == at::kFloat) {
    TableRows<float>(table, ids, n, out, accumulate);
  } else {
    TableRows<at::BFloat16>(table, ids, n, out, accumulate);
  }
}

}  // namespace

void TalkerModel::EmbedCodecRows(const int64_t* ids, int64_t n, float* out) const {
  EmbeddingRows(codec_embedding_, ids, n, out, /*accumulate=*/false);
}

void TalkerModel::EmbedResidualRows(int64_t group, const int64_t* ids, int64_t n, float* out, bool accumulate) const {
  EmbeddingRows(residual_embeddings_[group - 1], ids, n, out, accumulate);
}

void TalkerModel::EmbedFrameRows(const int64_t* codes, int64_t n, float* out) const {
  const int64_t groups = num_code_groups(), width = hidden_size();
  for (int64_t r = 0; r < n; ++r) {
    // In codebook order, as the reference sums them.
    EmbedCodecRows(codes + r * groups, 1, out + r * width);
    for (int64_t g = 1; g < groups; ++g) EmbedResidualRows(g, codes + r * groups + g, 1, out + r * width, true);
  }
}

void TalkerModel::StepTalker(float* x, const int64_t* rows, std::vector<nn::KvCache>* const* caches, size_t n) const {
  talker_.StepInPlace(x, rows, caches, n);
}

void TalkerModel::StepCodePredictor(const float* embeds, const int64_t* rows, std::vector<nn::KvCache>* const* caches,
                                    size_t n, float* out) const {
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) total += rows[i];
  if (has_projection_) {
    small_to_mtp_.Into(embeds, total, out);
  } else {
    std::copy(embeds, embeds + total * hidden_size(), out);
  }
  code_predictor_.StepInPlace(out, rows, caches, n);
}

at::Tensor TalkerModel::RunTalker(const at::Tensor& embeds, std::vector<nn::KvCache>* caches) const {
  return talker_.Forward(embeds, caches);
}

at::Tensor TalkerModel::RunTalkerPrompt(const at::Tensor& embeds, int64_t head_rows, std::vector<nn::KvCache>* caches,
                                        int64_t* reused_rows) const {
  *reused_rows = 0;
  const int64_t rows = embeds.size(0);
  // Only for a sequence's first rows, with rows after the head, and where the whole prompt takes the
  // row path (the only path on which a row's arithmetic does not depend on the others).
  PromptHeadCache& cache = *prompt_head_cache_;
  if (cache.max_bytes() <= 0 || head_rows <= 0 || head_rows >= rows || caches->empty() ||
      caches->front().length() != 0 || !talker_.StepsOnRows(rows)) {
    return RunTalker(embeds, caches);
  }
  const at::Tensor head = embeds.narrow(0, 0, head_rows);
  if (std::shared_ptr<const PromptHeadCache::Layers> cached = cache.Find(head)) {
    for (size_t layer = 0; layer < caches->size(); ++layer) (*caches)[layer].AssignPrefix((*cached)[layer]);
    *reused_rows = head_rows;
    return RunTalker(embeds.narrow(0, head_rows, rows - head_rows), caches);
  }
  at::Tensor hidden = RunTalker(embeds, caches);
  PromptHeadCache::Layers layers;
  layers.reserve(caches->size());
  for (const nn::KvCache& layer : *caches) layers.push_back(layer.CopyOfPrefix(head_rows));
  cache.Insert(head, std::move(layers));
  return hidden;
}

at::Tensor TalkerModel::RunTalkerBatch(const at::Tensor& embeds, const std::vector<int64_t>& rows,
                                       const std::vector<std::vector<nn::KvCache>*>& caches) const {
  return talker_.ForwardBatch(embeds, rows, caches);
}

}  // namespace qwen3tts
