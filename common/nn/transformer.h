// Shared transformer building blocks: one decoder block implementation serves the talker, the
// code predictor and the speech-tokenizer transformers.
//
// Activations are [T, hidden] rows without a batch dimension. Forward runs one sequence;
// ForwardBatch runs several independent sequences (each with its own cache and position) with
// their rows stacked, so that the weights are streamed once per step for the whole batch.
#pragma once

#include <ATen/Tensor.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/nn/int8_gemv.h"
#include "common/nn/weight_precision.h"
#include "common/tensor/checkpoint.h"

namespace qwen3tts::nn {

// Bytes of a tensor's elements (0 when undefined): the weight storage layers report as bytes().
inline int64_t TensorBytes(const at::Tensor& t) { return t.defined() ? t.numel() * t.element_size() : 0; }

// How a stack's or layer's linear weights are kept: as loaded, rounded to bfloat16 (float32
// arithmetic on the widened weights, float_gemv.h), in bfloat16 only where that loses nothing
// (every value of the matrix is a bfloat16: a bfloat16 checkpoint's, widened at load), or
// quantized (int8_gemv.h).
enum class LinearQuantization { kNone, kBFloat16, kBFloat16WhereExact, kInt8, kInt4, kInt4G128 };

// How a stage's precision keeps its linear layers: `layers`, the transformer layers that carry
// nearly all of a step's weight traffic, and `others` (heads, projections, the codec decoder's
// ConvNeXt blocks). int4 and int4-g128 take the layers to 4 bits and keep the others, which matter
// more per weight (a talker's logits pick its codes), in int8. bfloat16 keeps every layer in
// bfloat16; float32 does too where no value changes: the official checkpoints are stored in
// bfloat16, and a decoding step, which streams its weights from memory, then reads half the bytes
// for the same bits.
struct LinearQuantizations {
  LinearQuantization layers, others;
};
LinearQuantizations LinearQuantizationsFor(WeightPrecision precision);

// y = x W^T + b with W [out, in] as stored in checkpoints, or kept in bfloat16 or quantized to int8
// or int4 (Quantize).
class Linear {
 public:
  Linear() = default;
  Linear(at::Tensor weight, at::Tensor bias);  // bias may be undefined
  at::Tensor operator()(const at::Tensor& x) const;
  // Whether Into takes `rows` float32 rows on the row kernels: quantized weights always, float32
  // and bfloat16 weights up to FloatGemvMaxRows() (beyond that a GEMM is faster).
  bool TakesRows(int64_t rows) const;
  // y [rows, out] = x [rows, in] W^T + b on raw float32 buffers. Allocates nothing when
  // TakesRows(rows) (a decoding step's layers); otherwise goes through the tensor product.
  void Into(const float* x, int64_t rows, float* y) const;
  // Several layers' products of the same input rows (a block's q, k and v; gate and up):
  // y = x W^T + b for each. When every layer is int8, or every one int4 with the same blocks, x is
  // quantized once for all of them (each output has the bits of the layer's own Into); otherwise
  // each takes its Into.
  struct Output {
    const Linear* layer;
    float* y;
  };
  static void IntoEach(const float* x, int64_t rows, std::initializer_list<Output> outputs);
  int64_t out_features() const {
    return weight_.defined() ? weight_.size(0) : int8_.packed.defined() ? int8_.out : int4_.out;
  }
  // Bytes of parameters read by one application (what a decoding step streams from memory).
  int64_t bytes() const;
  // Replaces a float32 weight by its bfloat16 rounding (float32 activations and arithmetic:
  // nn::Bf16GemvInto for a few rows, the float32 GEMM of the widened weight for more; a float32
  // bias stays float32), by the same only when the rounding changes no value
  // (kBFloat16WhereExact: then every product has the bits the float32 weight gives, from half the
  // bytes), or by its int8 or int4 quantization (nn::Int8Gemv / nn::Int4Gemv, activations quantized
  // per block of 32; kInt4G128: weights and activations per block of 128). kNone keeps it.
  void Quantize(LinearQuantization quantization);
  void QuantizeInt8() { Quantize(LinearQuantization::kInt8); }

 private:
  // at::linear in x's dtype (weights of another dtype converted for the call): many rows, or
  // activations that are not float32.
  at::Tensor TensorProduct(const at::Tensor& x) const;
  void AddBias(float* y, int64_t rows) const;

  at::Tensor weight_;  // float32 or bfloat16; undefined once quantized to int8 / int4
  Int8Weight int8_;    // one of the two, once quantized
  Int4Weight int4_;
  at::Tensor bias_;
};

// Loads `<prefix>.weight` (and `<prefix>.bias` when `bias`), checking shapes.
absl::StatusOr<Linear> LoadLinear(const Checkpoint& ckpt, const std::string& prefix, int64_t in_features,
                                  int64_t out_features, bool bias, c10::ScalarType dtype);
absl::StatusOr<at::Tensor> LoadVector(const Checkpoint& ckpt, const std::string& name, int64_t size,
                                      c10::ScalarType dtype);

// RMSNorm as the reference computes it: in float32, then scaled by the weight.
at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps);

// Rotary position embedding tables (rotate-half layout), cos/sin of shape [positions, head_dim],
// computed in float32 like the reference and grown on demand.
//
// The talker's multimodal RoPE (mrope_section, interleaved) gives each frequency its position from
// one of three streams (temporal/height/width). For speech every stream carries the same text
// position, so the selection is the identity and plain RoPE is exact; a config with identical
// streams is all the reference ever produces for TTS.
class RotaryTable {
 public:
  RotaryTable() = default;
  RotaryTable(int64_t head_dim, double theta);
  // Rows [start, start + length) of cos and sin, in `dtype`. Thread-safe.
  std::pair<at::Tensor, at::Tensor> Slice(int64_t start, int64_t length, c10::ScalarType dtype) const;
  // The same float32 rows as raw pointers (a decoding step takes them without creating tensors),
  // valid as long as the table: a grown table keeps its earlier arrays, which other threads may
  // still be reading. Thread-safe.
  std::pair<const float*, const float*> FloatRows(int64_t start, int64_t length) const;

 private:
  struct Tables {
    std::mutex mu;
    at::Tensor cos, sin;  // [positions, head_dim]; float32 and, when asked, the compute dtype
    at::Tensor cos_cast, sin_cast;
    std::vector<at::Tensor> retired;  // replaced float32 tables (FloatRows pointers stay valid)
  };
  void GrowLocked(int64_t positions) const;
  int64_t head_dim_ = 0;
  double theta_ = 10000.0;
  std::shared_ptr<Tables> tables_;
};

// Keys and values of one layer for one sequence, allocated once with a capacity (no per-step
// concatenation). Rows hold keys after RoPE. With a sliding window the cache keeps only the last
// `window` positions (a ring: attention is order-independent once keys are rotated), so an
// unbounded stream uses bounded memory.
class KvCache {
 public:
  KvCache() = default;
  // capacity: maximum positions kept (the window for a sliding cache).
  KvCache(int64_t kv_heads, int64_t head_dim, int64_t capacity, bool sliding, c10::ScalarType dtype);
  int64_t length() const { return length_; }  // positions seen so far
  void Reset() { length_ = 0; }
  bool allocated() const { return k_.defined(); }
  // The first `positions` positions (<= length()) as a cache of their own, with exactly that
  // capacity, and this cache's contents replaced by such a copy (growing it if needed): another
  // sequence whose prompt starts with the same rows continues from the copy with the keys and
  // values it would have computed (common/talker/prompt_head_cache.h). Non-sliding caches only.
  KvCache CopyOfPrefix(int64_t positions) const;
  void AssignPrefix(const KvCache& prefix);
  int64_t bytes() const;

 private:
  friend class TransformerBlock;
  // Makes room for `positions` (non-sliding caches; rare: reallocates with doubling, amortized O(1)).
  void Reserve(int64_t positions);
  at::Tensor k_, v_;  // [kv_heads, capacity, head_dim]
  int64_t capacity_ = 0;
  int64_t length_ = 0;
  bool sliding_ = false;
};

enum class NormKind { kRms, kLayerNorm };
enum class MlpKind { kSwiGlu, kGeluFc };

struct BlockConfig {
  int64_t hidden_size = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  double norm_eps = 1e-6;
  NormKind norm = NormKind::kRms;
  MlpKind mlp = MlpKind::kSwiGlu;
  bool qk_norm = false;       // per-head RMSNorm of q and k (Qwen3)
  bool layer_scale = false;   // self_attn_layer_scale / mlp_layer_scale (Mimi-style)
  bool attention_bias = false;
  std::optional<int64_t> sliding_window;  // attend to the last `window` positions only
};

// One pre-norm decoder block:
//   h = x + ls_a * Attn(Norm(x));  y = h + ls_m * Mlp(Norm(h))
// Weight names: input_layernorm, self_attn.{q,k,v,o}_proj, self_attn.{q,k}_norm,
// post_attention_layernorm, mlp.{gate,up,down}_proj | mlp.{fc1,fc2}, {self_attn,mlp}_layer_scale.scale.
class TransformerBlock {
 public:
  static absl::StatusOr<TransformerBlock> Load(const Checkpoint& ckpt, const std::string& prefix,
                                               const BlockConfig& config, c10::ScalarType dtype);
  // x: [T, hidden] at positions cache->length() .. +T; cos/sin: [T, head_dim]. Appends to the cache.
  at::Tensor Forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, KvCache* cache) const;

  // Several independent sequences in one call: x holds their rows back to back; each segment names
  // its row count, RoPE rows and cache. Linear layers run once over all rows (the weights are read
  // once for the whole batch), attention per segment.
  struct Segment {
    int64_t rows = 0;
    at::Tensor cos, sin;
    KvCache* cache = nullptr;
  };
  at::Tensor ForwardSegments(const at::Tensor& x, const std::vector<Segment>& segments) const;
  const BlockConfig& config() const { return config_; }

  // The decoding-step path: float32 rows updated in place, every operation on raw buffers
  // (nn/row_ops.h), nothing allocated once `buffers` have grown. Rows are attended one position at
  // a time in order (written to the cache, then attending to it), which is causal attention for a
  // chunk of any length and keeps a sliding ring exact. Same segments as ForwardSegments, with
  // RoPE rows as float32 pointers.
  struct RowSegment {
    int64_t rows = 0;
    const float* cos = nullptr;  // [rows, head_dim]
    const float* sin = nullptr;
    KvCache* cache = nullptr;
  };
  struct StepBuffers;
  bool TakesRows(int64_t rows) const;  // float32 activations and every projection takes them
  void StepRows(float* x, int64_t rows, const RowSegment* segments, size_t num_segments, StepBuffers* buffers) const;
  // Quantization of the attention and MLP projections (Linear::Quantize).
  void QuantizeLinears(LinearQuantization quantization);
  // Bytes of parameters one application of the block reads (norms, projections, scales).
  int64_t bytes() const;

 private:
  at::Tensor Norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const;
  at::Tensor Attention(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, KvCache* cache) const;
  // Attention of one sequence's projected rows ([T, heads*head_dim] q, [T, kv_heads*head_dim] k/v)
  // against its cache; returns [T, heads*head_dim] before o_proj.
  at::Tensor AttendSegment(const at::Tensor& q_rows, const at::Tensor& k_rows, const at::Tensor& v_rows,
                           const at::Tensor& cos, const at::Tensor& sin, KvCache* cache) const;
  at::Tensor Mlp(const at::Tensor& x) const;

  BlockConfig config_;
  at::Tensor input_norm_w_, input_norm_b_, post_norm_w_, post_norm_b_;
  Linear q_proj_, k_proj_, v_proj_, o_proj_;
  at::Tensor q_norm_w_, k_norm_w_;
  Linear gate_proj_, up_proj_, down_proj_;  // SwiGLU: gate/up/down; GELU: fc1 = up, fc2 = down
  at::Tensor attn_scale_, mlp_scale_;
};

// A stack of blocks plus the final norm, with plain RoPE.
class TransformerStack {
 public:
  // Loads `<prefix>layers.<i>.` for i < num_layers and `<final_norm>` (empty: no final norm).
  // quantization: of each block's projections, as it is loaded (dtype float32 when quantized or
  // kept in bfloat16: the activations, norms and caches).
  static absl::StatusOr<TransformerStack> Load(const Checkpoint& ckpt, const std::string& prefix, int64_t num_layers,
                                               const std::string& final_norm, const BlockConfig& config,
                                               double rope_theta, c10::ScalarType dtype,
                                               LinearQuantization quantization = LinearQuantization::kNone);
  // Caches for one sequence (one per layer).
  std::vector<KvCache> NewCache(int64_t capacity) const;
  // x: [T, hidden]; positions continue from caches[0].length(). Returns the final-norm output.
  at::Tensor Forward(const at::Tensor& x, std::vector<KvCache>* caches) const;
  // Independent sequences batched: rows[i] rows of x belong to the sequence with caches[i]
  // (positions continue from each one's own cache).
  at::Tensor ForwardBatch(const at::Tensor& x, const std::vector<int64_t>& rows,
                          const std::vector<std::vector<KvCache>*>& caches) const;
  // ForwardBatch on raw float32 rows, in place: x [sum of rows, hidden] becomes the final-norm
  // output. When StepsOnRows(total rows) nothing is allocated once the calling thread's step
  // buffers have grown (a decoding step); otherwise it goes through the tensor-op path.
  void StepInPlace(float* x, const int64_t* rows, std::vector<KvCache>* const* caches, size_t num_sequences) const;
  int64_t num_layers() const { return static_cast<int64_t>(blocks_.size()); }
  // Bytes of parameters one step reads (every block and the final norm).
  int64_t bytes() const;
  c10::ScalarType dtype() const { return dtype_; }
  // Float32 stacks step up to a few dozen rows (every quantized row count) through
  // TransformerBlock::StepRows; other calls go through the tensor-op path.
  bool StepsOnRows(int64_t rows) const;

 private:
  void StepRowsInPlace(float* x, int64_t total, const int64_t* rows, std::vector<KvCache>* const* caches,
                       size_t num_sequences) const;
  at::Tensor FinalNorm(const at::Tensor& h) const;

  std::vector<TransformerBlock> blocks_;
  at::Tensor final_norm_w_, final_norm_b_;
  BlockConfig config_;
  RotaryTable rope_;
  c10::ScalarType dtype_ = c10::ScalarType::Float;
};

}  // namespace qwen3tts::nn
