#include "common/nn/transformer.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/nn/float_gemv.h"
#include "common/nn/row_ops.h"
#include "common/util/status_macros.h"

namespace qwen3tts::nn {

Linear::Linear(at::Tensor weight, at::Tensor bias) : weight_(std::move(weight)), bias_(std::move(bias)) {
  if (weight_.defined() && !weight_.is_contiguous()) weight_ = weight_.contiguous();
}

// Float32 products of a few rows (every decoding step: one row per sequence in the batch) go
// through nn::FloatGemv: at::linear hands them to OpenBLAS's GEMM, which repacks the whole weight
// matrix on every call, and that copy, not the arithmetic, was 70 % of a talker step (perf).
// FloatGemv reads each weight row once per 4 rows. Every row takes the same path whatever the batch
// size (up to FloatGemvMaxRows()), so a sequence's results do not depend on what it is batched with.

LinearQuantizations LinearQuantizationsFor(WeightPrecision precision) {
  switch (precision) {
    case WeightPrecision::kFloat32: return {LinearQuantization::kBFloat16WhereExact, LinearQuantization::kBFloat16WhereExact};
    case WeightPrecision::kBFloat16: return {LinearQuantization::kBFloat16, LinearQuantization::kBFloat16};
    case WeightPrecision::kInt8: return {LinearQuantization::kInt8, LinearQuantization::kInt8};
    case WeightPrecision::kInt4: return {LinearQuantization::kInt4, LinearQuantization::kInt8};
    case WeightPrecision::kInt4G128: return {LinearQuantization::kInt4G128, LinearQuantization::kInt8};
  }
  return {LinearQuantization::kNone, LinearQuantization::kNone};
}

void Linear::Quantize(LinearQuantization quantization) {
  if (!weight_.defined() || quantization == LinearQuantization::kNone) return;
  if (quantization == LinearQuantization::kBFloat16 || quantization == LinearQuantization::kBFloat16WhereExact) {
    at::Tensor rounded = weight_.to(at::kBFloat16).contiguous();
    if (quantization == LinearQuantization::kBFloat16WhereExact &&
        !at::equal(rounded.to(weight_.scalar_type()), weight_)) {
      return;
    }
    weight_ = std::move(rounded);
    return;
  }
  if (quantization == LinearQuantization::kInt8) {
    int8_ = nn::QuantizeInt8(weight_);
  } else {
    int4_ = nn::QuantizeInt4(weight_, quantization == LinearQuantization::kInt4G128 ? kInt4G128Block
                                                                                      : kInt8ActivationBlock);
  }
  weight_ = at::Tensor();
}

at::Tensor Linear::operator()(const at::Tensor& x) const {
  const bool quantized = !weight_.defined();
  const int64_t in = !quantized ? weight_.size(1) : int8_.packed.defined() ? int8_.in : int4_.in;
  const int64_t out = out_features();
  const int64_t rows = x.numel() / in;
  if (!quantized && (x.scalar_type() != at::kFloat || rows > FloatGemvMaxRows() || rows == 0)) {
    return TensorProduct(x);
  }
  at::Tensor flat = x.reshape({rows, in});
  at::Tensor y;
  if (quantized) {
    // Every row count, prefill included: the tile kernel computes prefills ~3x faster than the
    // row kernel before it, itself as fast as a float32 GEMM of dequantized weights, and prefill
    // and decoding see the same arithmetic.
    y = int8_.packed.defined() ? Int8Gemv(int8_, flat) : Int4Gemv(int4_, flat);
  } else {
    y = FloatGemv(weight_, flat);
  }
  if (bias_.defined()) y.add_(bias_);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = out;
  return y.view(shape);
}

at::Tensor Linear::TensorProduct(const at::Tensor& x) const {
  const c10::ScalarType dtype = x.scalar_type();
  if (weight_.scalar_type() == dtype && (!bias_.defined() || bias_.scalar_type() == dtype)) {
    return at::linear(x, weight_, bias_);
  }
  // bfloat16 weights and float32 rows past the row kernel (a prompt's prefill): the float32 GEMM
  // of the widened weight, the same values the row kernel multiplies. Widening is one pass over
  // the weight, small next to a product of that many rows.
  return at::linear(x, weight_.to(dtype), bias_.defined() ? bias_.to(dtype) : bias_);
}

bool Linear::TakesRows(int64_t rows) const {
  if (!weight_.defined()) return true;
  return (weight_.scalar_type() == at::kFloat || weight_.scalar_type() == at::kBFloat16) &&
         rows <= FloatGemvMaxRows() && (!bias_.defined() || bias_.scalar_type() == at::kFloat);
}

void Linear::Into(const float* x, int64_t rows, float* y) const {
  const int64_t out = out_features();
  if (!TakesRows(rows)) {
    // More rows than the row kernel is worth (or weights in a dtype it lacks): the tensor product.
    const int64_t in = weight_.size(1);
    at::Tensor input = at::from_blob(const_cast<float*>(x), {rows, in}, at::kFloat);
    at::from_blob(y, {rows, out}, at::kFloat).copy_(TensorProduct(input));
    return;
  }
  if (weight_.defined() && weight_.scalar_type() == at::kBFloat16) {
    Bf16GemvInto(weight_.data_ptr<c10::BFloat16>(), out, weight_.size(1), x, rows, y);
  } else if (weight_.defined()) {
    FloatGemvInto(weight_.data_ptr<float>(), out, weight_.size(1), x, rows, y);
  } else if (int8_.packed.defined()) {
    Int8GemvInto(int8_, x, rows, y);
  } else {
    Int4GemvInto(int4_, x, rows, y);
  }
  AddBias(y, rows);
}

void Linear::AddBias(float* y, int64_t rows) const {
  if (!bias_.defined()) return;
  const int64_t out = out_features();
  const float* b = bias_.data_ptr<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) y[r * out + o] += b[o];
  }
}

void Linear::IntoEach(const float* x, int64_t rows, std::initializer_list<Output> outputs) {
  const auto every = [&](auto has) { return std::all_of(outputs.begin(), outputs.end(), has); };
  const bool int8 = every([](const Output& o) { return o.layer->int8_.packed.defined(); });
  const int64_t int4_block = outputs.size() > 0 ? outputs.begin()->layer->int4_.block_inputs : 0;
  const bool int4 = !int8 && every([&](const Output& o) {
    return o.layer->int4_.packed.defined() && o.layer->int4_.block_inputs == int4_block;
  });
  if (rows == 0 || outputs.size() == 0 || !(int8 || int4)) {
    for (const Output& o : outputs) o.layer->Into(x, rows, o.y);
    return;
  }
  // Quantizing the activations was 4 % of the talker's CPU at 8 streams, seven times per block
  // where four inputs differ.
  thread_local Int8Rows shared;
  const Linear& first = *outputs.begin()->layer;
  if (int8) {
    QuantizeInt8Rows(x, rows, first.int8_.in, &shared);
  } else {
    QuantizeInt4Rows(x, rows, first.int4_.in, &shared, int4_block);
  }
  for (const Output& o : outputs) {
    int8 ? Int8GemvRowsInto(o.layer->int8_, shared, o.y) : Int4GemvRowsInto(o.layer->int4_, shared, o.y);
    o.layer->AddBias(o.y, rows);
  }
}

int64_t Linear::bytes() const {
  // At most one weight form is defined (none for an unused layer: GELU blocks' gate); int4's
  // scales are inside its packed tiles.
  return TensorBytes(weight_) + TensorBytes(int8_.packed) + TensorBytes(int8_.scale) + TensorBytes(int4_.packed) +
         TensorBytes(bias_);
}

void TransformerBlock::QuantizeLinears(LinearQuantization quantization) {
  for (Linear* l : {&q_proj_, &k_proj_, &v_proj_, &o_proj_, &gate_proj_, &up_proj_, &down_proj_}) {
    l->Quantize(quantization);
  }
}

int64_t TransformerBlock::bytes() const {
  int64_t n = 0;
  for (const Linear* l : {&q_proj_, &k_proj_, &v_proj_, &o_proj_, &gate_proj_, &up_proj_, &down_proj_}) n += l->bytes();
  for (const at::Tensor* t : {&input_norm_w_, &input_norm_b_, &post_norm_w_, &post_norm_b_, &q_norm_w_, &k_norm_w_,
                              &attn_scale_, &mlp_scale_}) {
    n += TensorBytes(*t);
  }
  return n;
}

absl::StatusOr<Linear> LoadLinear(const Checkpoint& ckpt, const std::string& prefix, int64_t in_features,
                                  int64_t out_features, bool bias, c10::ScalarType dtype) {
  ASSIGN_OR_RETURN(at::Tensor weight, ckpt.LoadShaped(prefix + ".weight", {out_features, in_features}, dtype));
  at::Tensor b;
  if (bias) {
    ASSIGN_OR_RETURN(b, ckpt.LoadShaped(prefix + ".bias", {out_features}, dtype));
  }
  return Linear(std::move(weight), std::move(b));
}

absl::StatusOr<at::Tensor> LoadVector(const Checkpoint& ckpt, const std::string& name, int64_t size,
                                      c10::ScalarType dtype) {
  return ckpt.LoadShaped(name, {size}, dtype);
}

at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor h = x.to(at::kFloat);
  at::Tensor variance = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * at::rsqrt(variance + eps);
  return weight * h.to(x.scalar_type());
}

// ---- RoPE ------------------------------------------------------------------------------------

RotaryTable::RotaryTable(int64_t head_dim, double theta)
    : head_dim_(head_dim), theta_(theta), tables_(std::make_shared<Tables>()) {}

void RotaryTable::GrowLocked(int64_t positions) const {
  int64_t have = tables_->cos.defined() ? tables_->cos.size(0) : 0;
  if (positions <= have) return;
  int64_t target = std::max<int64_t>(positions, std::max<int64_t>(256, have * 2));
  // inv_freq = 1 / theta^(2i/d) computed in float32 as transformers' default rope init does.
  at::Tensor exponents = at::arange(0, head_dim_, 2, at::kLong).to(at::kFloat) / static_cast<float>(head_dim_);
  at::Tensor inv_freq = 1.0 / at::pow(at::scalar_tensor(theta_, at::kFloat), exponents);
  at::Tensor pos = at::arange(target, at::kLong).to(at::kFloat);
  at::Tensor freqs = at::outer(pos, inv_freq);  // [target, d/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  if (tables_->cos.defined()) {
    tables_->retired.push_back(tables_->cos);
    tables_->retired.push_back(tables_->sin);
  }
  tables_->cos = emb.cos();
  tables_->sin = emb.sin();
  tables_->cos_cast = at::Tensor();
  tables_->sin_cast = at::Tensor();
}

std::pair<at::Tensor, at::Tensor> RotaryTable::Slice(int64_t start, int64_t length, c10::ScalarType dtype) const {
  std::lock_guard<std::mutex> lock(tables_->mu);
  GrowLocked(start + length);
  if (dtype == at::kFloat) {
    return {tables_->cos.narrow(0, start, length), tables_->sin.narrow(0, start, length)};
  }
  if (!tables_->cos_cast.defined() || tables_->cos_cast.scalar_type() != dtype) {
    tables_->cos_cast = tables_->cos.to(dtype);
    tables_->sin_cast = tables_->sin.to(dtype);
  }
  return {tables_->cos_cast.narrow(0, start, length), tables_->sin_cast.narrow(0, start, length)};
}

std::pair<const float*, const float*> RotaryTable::FloatRows(int64_t start, int64_t length) const {
  std::lock_guard<std::mutex> lock(tables_->mu);
  GrowLocked(start + length);
  return {tables_->cos.data_ptr<float>() + start * head_dim_, tables_->sin.data_ptr<float>() + start * head_dim_};
}

namespace {

// x: [T, heads, d]; cos/sin: [T, d] (rotate-half layout).
at::Tensor ApplyRope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half);
  at::Tensor x2 = x.narrow(-1, half, half);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);
}

}  // namespace

// ---- KV cache ----------------------------------------------------------------------------------

KvCache::KvCache(int64_t kv_heads, int64_t head_dim, int64_t capacity, bool sliding, c10::ScalarType dtype)
    : capacity_(capacity), sliding_(sliding) {
  k_ = at::zeros({kv_heads, capacity, head_dim}, at::TensorOptions().dtype(dtype));
  v_ = at::zeros({kv_heads, capacity, head_dim}, at::TensorOptions().dtype(dtype));
}

void KvCache::Reserve(int64_t positions) {
  if (positions <= capacity_) return;
  const int64_t capacity = std::max(positions, capacity_ * 2);
  const int64_t kvh = k_.size(0), d = k_.size(2);
  at::Tensor k2 = at::zeros({kvh, capacity, d}, k_.options());
  at::Tensor v2 = at::zeros({kvh, capacity, d}, v_.options());
  k2.narrow(1, 0, length_).copy_(k_.narrow(1, 0, length_));
  v2.narrow(1, 0, length_).copy_(v_.narrow(1, 0, length_));
  k_ = k2;
  v_ = v2;
  capacity_ = capacity;
}

KvCache KvCache::CopyOfPrefix(int64_t positions) const {
  TORCH_CHECK(!sliding_ && positions >= 0 && positions <= length_, "KvCache::CopyOfPrefix: ", positions,
              " positions of a ", sliding_ ? "sliding " : "", "cache holding ", length_);
  KvCache copy;
  copy.k_ = k_.narrow(1, 0, positions).clone();
  copy.v_ = v_.narrow(1, 0, positions).clone();
  copy.capacity_ = positions;
  copy.length_ = positions;
  return copy;
}

void KvCache::AssignPrefix(const KvCache& prefix) {
  TORCH_CHECK(!sliding_ && !prefix.sliding_ && k_.defined() && prefix.k_.defined() &&
                  k_.size(0) == prefix.k_.size(0) && k_.size(2) == prefix.k_.size(2) &&
                  k_.scalar_type() == prefix.k_.scalar_type(),
              "KvCache::AssignPrefix: caches of different shapes or kinds");
  length_ = 0;  // nothing of the old contents needs keeping when Reserve copies
  Reserve(prefix.length_);
  k_.narrow(1, 0, prefix.length_).copy_(prefix.k_.narrow(1, 0, prefix.length_));
  v_.narrow(1, 0, prefix.length_).copy_(prefix.v_.narrow(1, 0, prefix.length_));
  length_ = prefix.length_;
}

int64_t KvCache::bytes() const {
  if (!k_.defined()) return 0;
  return (k_.numel() + v_.numel()) * static_cast<int64_t>(k_.element_size());
}

// ---- block ---------------------------------------------------------------------------------------

absl::StatusOr<TransformerBlock> TransformerBlock::Load(const Checkpoint& ckpt, const std::string& prefix,
                                                        const BlockConfig& c, c10::ScalarType dtype) {
  if (c.num_heads % c.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ": num_heads ", c.num_heads,
                                                   " is not a multiple of num_kv_heads ", c.num_kv_heads));
  }
  TransformerBlock b;
  b.config_ = c;
  const bool layer_norm = c.norm == NormKind::kLayerNorm;
  ASSIGN_OR_RETURN(b.input_norm_w_, LoadVector(ckpt, prefix + "input_layernorm.weight", c.hidden_size, dtype));
  ASSIGN_OR_RETURN(b.post_norm_w_, LoadVector(ckpt, prefix + "post_attention_layernorm.weight", c.hidden_size, dtype));
  if (layer_norm) {
    ASSIGN_OR_RETURN(b.input_norm_b_, LoadVector(ckpt, prefix + "input_layernorm.bias", c.hidden_size, dtype));
    ASSIGN_OR_RETURN(b.post_norm_b_, LoadVector(ckpt, prefix + "post_attention_layernorm.bias", c.hidden_size, dtype));
  }
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  const std::string attn = prefix + "self_attn.";
  ASSIGN_OR_RETURN(b.q_proj_, LoadLinear(ckpt, attn + "q_proj", c.hidden_size, q_dim, c.attention_bias, dtype));
  ASSIGN_OR_RETURN(b.k_proj_, LoadLinear(ckpt, attn + "k_proj", c.hidden_size, kv_dim, c.attention_bias, dtype));
  ASSIGN_OR_RETURN(b.v_proj_, LoadLinear(ckpt, attn + "v_proj", c.hidden_size, kv_dim, c.attention_bias, dtype));
  ASSIGN_OR_RETURN(b.o_proj_, LoadLinear(ckpt, attn + "o_proj", q_dim, c.hidden_size, c.attention_bias, dtype));
  if (c.qk_norm) {
    ASSIGN_OR_RETURN(b.q_norm_w_, LoadVector(ckpt, attn + "q_norm.weight", c.head_dim, dtype));
    ASSIGN_OR_RETURN(b.k_norm_w_, LoadVector(ckpt, attn + "k_norm.weight", c.head_dim, dtype));
  }
  const std::string mlp = prefix + "mlp.";
  if (c.mlp == MlpKind::kSwiGlu) {
    ASSIGN_OR_RETURN(b.gate_proj_, LoadLinear(ckpt, mlp + "gate_proj", c.hidden_size, c.intermediate_size, false, dtype));
    ASSIGN_OR_RETURN(b.up_proj_, LoadLinear(ckpt, mlp + "up_proj", c.hidden_size, c.intermediate_size, false, dtype));
    ASSIGN_OR_RETURN(b.down_proj_, LoadLinear(ckpt, mlp + "down_proj", c.intermediate_size, c.hidden_size, false, dtype));
  } else {
    ASSIGN_OR_RETURN(b.up_proj_, LoadLinear(ckpt, mlp + "fc1", c.hidden_size, c.intermediate_size, false, dtype));
    ASSIGN_OR_RETURN(b.down_proj_, LoadLinear(ckpt, mlp + "fc2", c.intermediate_size, c.hidden_size, false, dtype));
  }
  if (c.layer_scale) {
    ASSIGN_OR_RETURN(b.attn_scale_, LoadVector(ckpt, prefix + "self_attn_layer_scale.scale", c.hidden_size, dtype));
    ASSIGN_OR_RETURN(b.mlp_scale_, LoadVector(ckpt, prefix + "mlp_layer_scale.scale", c.hidden_size, dtype));
  }
  return b;
}

at::Tensor TransformerBlock::Norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
  if (config_.norm == NormKind::kRms) return RmsNorm(x, w, config_.norm_eps);
  return at::layer_norm(x, {config_.hidden_size}, w, b, config_.norm_eps);
}

at::Tensor TransformerBlock::Mlp(const at::Tensor& x) const {
  if (config_.mlp == MlpKind::kSwiGlu) return down_proj_(at::silu(gate_proj_(x)) * up_proj_(x));
  return down_proj_(at::gelu(up_proj_(x)));
}

at::Tensor TransformerBlock::Attention(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                       KvCache* cache) const {
  return o_proj_(AttendSegment(q_proj_(x), k_proj_(x), v_proj_(x), cos, sin, cache));
}

at::Tensor TransformerBlock::AttendSegment(const at::Tensor& q_rows, const at::Tensor& k_rows, const at::Tensor& v_rows,
                                           const at::Tensor& cos, const at::Tensor& sin, KvCache* cache) const {
  const BlockConfig& c = config_;
  const int64_t T = q_rows.size(0), d = c.head_dim, kvh = c.num_kv_heads, groups = c.num_heads / c.num_kv_heads;
  at::Tensor q = q_rows.view({T, c.num_heads, d});
  at::Tensor k = k_rows.view({T, kvh, d});
  at::Tensor v = v_rows.view({T, kvh, d});
  if (c.qk_norm) {
    q = RmsNorm(q, q_norm_w_, c.norm_eps);
    k = RmsNorm(k, k_norm_w_, c.norm_eps);
  }
  q = ApplyRope(q, cos, sin);
  k = ApplyRope(k, cos, sin);

  const int64_t start = cache->length_;
  at::Tensor keys, values, mask;
  if (!cache->sliding_) {
    cache->Reserve(start + T);
    cache->k_.narrow(1, start, T).copy_(k.transpose(0, 1));
    cache->v_.narrow(1, start, T).copy_(v.transpose(0, 1));
    keys = cache->k_.narrow(1, 0, start + T);
    values = cache->v_.narrow(1, 0, start + T);
    if (T > 1) {
      // Query t (position start+t) sees keys 0..start+t.
      at::Tensor qpos = at::arange(start, start + T, at::kLong).unsqueeze(1);
      at::Tensor kpos = at::arange(0, start + T, at::kLong).unsqueeze(0);
      at::Tensor allowed = kpos <= qpos;
      if (c.sliding_window.has_value()) allowed = allowed & (kpos > qpos - *c.sliding_window);
      mask = at::zeros({T, start + T}, q.options()).masked_fill(allowed.logical_not(), -INFINITY);
    } else if (c.sliding_window.has_value() && start + 1 > *c.sliding_window) {
      int64_t first = start + 1 - *c.sliding_window;
      keys = keys.narrow(1, first, start + 1 - first);
      values = values.narrow(1, first, start + 1 - first);
    }
  } else {
    // Ring of `capacity` slots holding the most recent positions; the new chunk is attended
    // together with the ring's previous contents (keys already rotated, so slot order is irrelevant).
    const int64_t W = cache->capacity_;
    const int64_t kept = std::min(start, W);
    // Gather previous keys (positions start-kept .. start-1) in position order, then the new ones.
    at::Tensor prev_idx = (at::arange(start - kept, start, at::kLong) % W);
    at::Tensor prev_k = cache->k_.index_select(1, prev_idx);
    at::Tensor prev_v = cache->v_.index_select(1, prev_idx);
    keys = at::cat({prev_k, k.transpose(0, 1)}, 1);
    values = at::cat({prev_v, v.transpose(0, 1)}, 1);
    at::Tensor qpos = at::arange(start, start + T, at::kLong).unsqueeze(1);
    at::Tensor kpos = at::arange(start - kept, start + T, at::kLong).unsqueeze(0);
    at::Tensor allowed = (kpos <= qpos) & (kpos > qpos - W);
    mask = at::zeros({T, kept + T}, q.options()).masked_fill(allowed.logical_not(), -INFINITY);
    // Store the newest W of the chunk into the ring.
    const int64_t store = std::min(T, W);
    at::Tensor slots = at::arange(start + T - store, start + T, at::kLong) % W;
    cache->k_.index_copy_(1, slots, k.transpose(0, 1).narrow(1, T - store, store).contiguous());
    cache->v_.index_copy_(1, slots, v.transpose(0, 1).narrow(1, T - store, store).contiguous());
  }
  cache->length_ = start + T;

  // Grouped-query attention without repeating K/V: [kvh, groups*T, d] x [kvh, L, d]^T.
  const int64_t L = keys.size(1);
  at::Tensor qg = q.view({T, kvh, groups, d}).permute({1, 2, 0, 3}).reshape({kvh, groups * T, d});
  at::Tensor scores = at::matmul(qg, keys.transpose(1, 2)) * (1.0 / std::sqrt(static_cast<double>(d)));
  if (mask.defined()) scores = (scores.view({kvh, groups, T, L}) + mask).view({kvh, groups * T, L});
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  at::Tensor out = at::matmul(probs, values);  // [kvh, groups*T, d]
  return out.view({kvh, groups, T, d}).permute({2, 0, 1, 3}).reshape({T, c.num_heads * d});
}

at::Tensor TransformerBlock::Forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                     KvCache* cache) const {
  at::Tensor h = Attention(Norm(x, input_norm_w_, input_norm_b_), cos, sin, cache);
  if (config_.layer_scale) h = h * attn_scale_;
  at::Tensor residual = x + h;
  at::Tensor m = Mlp(Norm(residual, post_norm_w_, post_norm_b_));
  if (config_.layer_scale) m = m * mlp_scale_;
  return residual + m;
}

at::Tensor TransformerBlock::ForwardSegments(const at::Tensor& x, const std::vector<Segment>& segments) const {
  // Projections and MLP see every row at once (one pass over the weights for the whole batch);
  // attention runs per sequence against its own cache.
  const at::Tensor normed = Norm(x, input_norm_w_, input_norm_b_);
  const at::Tensor q = q_proj_(normed), k = k_proj_(normed), v = v_proj_(normed);
  std::vector<at::Tensor> outs;
  outs.reserve(segments.size());
  int64_t row = 0;
  for (const Segment& s : segments) {
    outs.push_back(AttendSegment(q.narrow(0, row, s.rows), k.narrow(0, row, s.rows), v.narrow(0, row, s.rows), s.cos,
                                 s.sin, s.cache));
    row += s.rows;
  }
  at::Tensor h = o_proj_(outs.size() == 1 ? outs[0] : at::cat(outs, 0));
  if (config_.layer_scale) h = h * attn_scale_;
  at::Tensor residual = x + h;
  at::Tensor m = Mlp(Norm(residual, post_norm_w_, post_norm_b_));
  if (config_.layer_scale) m = m * mlp_scale_;
  return residual + m;
}

// ---- decoding-step path (raw rows) ----------------------------------------------------------------

struct TransformerBlock::StepBuffers {
  std::vector<float> normed, q, k, v, attn, out, gate, up, scores;
  std::vector<RowSegment> segments;
};

bool TransformerBlock::TakesRows(int64_t rows) const {
  for (const Linear* l : {&q_proj_, &k_proj_, &v_proj_, &o_proj_, &up_proj_, &down_proj_}) {
    if (!l->TakesRows(rows)) return false;
  }
  if (config_.mlp == MlpKind::kSwiGlu && !gate_proj_.TakesRows(rows)) return false;
  return input_norm_w_.scalar_type() == at::kFloat;
}

namespace {

// The configured norm (RMSNorm, or LayerNorm with an optional bias) over hidden-size rows.
void NormRows(const BlockConfig& c, const float* x, int64_t rows, const at::Tensor& w, const at::Tensor& b, float* y) {
  if (c.norm == NormKind::kRms) {
    RmsNormRows(x, rows, c.hidden_size, w.data_ptr<float>(), c.norm_eps, y);
  } else {
    LayerNormRows(x, rows, c.hidden_size, w.data_ptr<float>(), b.defined() ? b.data_ptr<float>() : nullptr, c.norm_eps,
                  y);
  }
}

}  // namespace

void TransformerBlock::StepRows(float* x, int64_t rows, const RowSegment* segments, size_t num_segments,
                                StepBuffers* buf) const {
  const BlockConfig& c = config_;
  const int64_t hidden = c.hidden_size, d = c.head_dim, heads = c.num_heads, kvh = c.num_kv_heads;
  const int64_t q_dim = heads * d, kv_dim = kvh * d;
  float* normed = GrowTo(&buf->normed, rows * hidden);
  float* q = GrowTo(&buf->q, rows * q_dim);
  float* k = GrowTo(&buf->k, rows * kv_dim);
  float* v = GrowTo(&buf->v, rows * kv_dim);
  float* attn = GrowTo(&buf->attn, rows * q_dim);
  float* out = GrowTo(&buf->out, rows * hidden);

  NormRows(c, x, rows, input_norm_w_, input_norm_b_, normed);
  Linear::IntoEach(normed, rows, {{&q_proj_, q}, {&k_proj_, k}, {&v_proj_, v}});
  int64_t row = 0;
  for (size_t s = 0; s < num_segments; ++s) {
    const RowSegment& seg = segments[s];
    KvCache* cache = seg.cache;
    for (int64_t t = 0; t < seg.rows; ++t, ++row) {
      float* qr = q + row * q_dim;
      float* kr = k + row * kv_dim;
      const float* vr = v + row * kv_dim;
      if (c.qk_norm) {
        RmsNormRows(qr, heads, d, q_norm_w_.data_ptr<float>(), c.norm_eps, qr);
        RmsNormRows(kr, kvh, d, k_norm_w_.data_ptr<float>(), c.norm_eps, kr);
      }
      RotateHalf(qr, heads, d, seg.cos + t * d, seg.sin + t * d);
      RotateHalf(kr, kvh, d, seg.cos + t * d, seg.sin + t * d);
      // Store this position, then attend to everything it may see (itself included).
      const int64_t position = cache->length_;
      int64_t slot = position, first = 0, length = position + 1;
      if (cache->sliding_) {
        slot = position % cache->capacity_;  // ring: every filled slot is inside the window
        length = std::min(position + 1, cache->capacity_);
      } else {
        cache->Reserve(position + 1);
        if (c.sliding_window.has_value()) first = std::max<int64_t>(0, position + 1 - *c.sliding_window);
        length = position + 1 - first;
      }
      const int64_t stride = cache->capacity_ * d;
      float* keys = cache->k_.data_ptr<float>();
      float* values = cache->v_.data_ptr<float>();
      for (int64_t g = 0; g < kvh; ++g) {
        std::copy(kr + g * d, kr + (g + 1) * d, keys + g * stride + slot * d);
        std::copy(vr + g * d, vr + (g + 1) * d, values + g * stride + slot * d);
      }
      // Scores sized for the cache's capacity, not this length: the buffer grows with the cache
      // (doubling), not by one position per step.
      AttendOnePosition(qr, heads, kvh, d, keys + first * d, values + first * d, stride, length,
                        GrowTo(&buf->scores, heads * cache->capacity_), attn + row * q_dim);
      cache->length_ = position + 1;
    }
  }
  o_proj_.Into(attn, rows, out);
  AddScaledRows(x, out, c.layer_scale ? attn_scale_.data_ptr<float>() : nullptr, rows, hidden);

  NormRows(c, x, rows, post_norm_w_, post_norm_b_, normed);
  const int64_t inter = c.intermediate_size;
  float* up = GrowTo(&buf->up, rows * inter);
  if (c.mlp == MlpKind::kSwiGlu) {
    float* gate = GrowTo(&buf->gate, rows * inter);
    Linear::IntoEach(normed, rows, {{&up_proj_, up}, {&gate_proj_, gate}});
    SiluMul(gate, up, rows * inter);
    down_proj_.Into(gate, rows, out);
  } else {
    up_proj_.Into(normed, rows, up);
    Gelu(up, rows * inter);
    down_proj_.Into(up, rows, out);
  }
  AddScaledRows(x, out, c.layer_scale ? mlp_scale_.data_ptr<float>() : nullptr, rows, hidden);
}

// ---- stack ---------------------------------------------------------------------------------------

absl::StatusOr<TransformerStack> TransformerStack::Load(const Checkpoint& ckpt, const std::string& prefix,
                                                        int64_t num_layers, const std::string& final_norm,
                                                        const BlockConfig& config, double rope_theta,
                                                        c10::ScalarType dtype, LinearQuantization quantization) {
  TransformerStack stack;
  stack.config_ = config;
  stack.dtype_ = dtype;
  stack.rope_ = RotaryTable(config.head_dim, rope_theta);
  for (int64_t i = 0; i < num_layers; ++i) {
    ASSIGN_OR_RETURN(TransformerBlock block,
                     TransformerBlock::Load(ckpt, absl::StrCat(prefix, "layers.", i, "."), config, dtype));
    // Layer by layer, so that loading never holds more than one layer in float32.
    block.QuantizeLinears(quantization);
    stack.blocks_.push_back(std::move(block));
  }
  if (!final_norm.empty()) {
    ASSIGN_OR_RETURN(stack.final_norm_w_, LoadVector(ckpt, final_norm + ".weight", config.hidden_size, dtype));
    if (config.norm == NormKind::kLayerNorm) {
      ASSIGN_OR_RETURN(stack.final_norm_b_, LoadVector(ckpt, final_norm + ".bias", config.hidden_size, dtype));
    }
  }
  return stack;
}

int64_t TransformerStack::bytes() const {
  int64_t n = 0;
  for (const TransformerBlock& block : blocks_) n += block.bytes();
  return n + TensorBytes(final_norm_w_) + TensorBytes(final_norm_b_);
}

std::vector<KvCache> TransformerStack::NewCache(int64_t capacity) const {
  std::vector<KvCache> caches;
  const bool sliding = config_.sliding_window.has_value();
  const int64_t slots = sliding ? *config_.sliding_window : capacity;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    caches.emplace_back(config_.num_kv_heads, config_.head_dim, slots, sliding, dtype_);
  }
  return caches;
}

bool TransformerStack::StepsOnRows(int64_t rows) const {
  return rows > 0 && dtype_ == at::kFloat && !blocks_.empty() && blocks_.front().TakesRows(rows);
}

at::Tensor TransformerStack::FinalNorm(const at::Tensor& h) const {
  if (!final_norm_w_.defined()) return h;
  if (config_.norm == NormKind::kRms) return RmsNorm(h, final_norm_w_, config_.norm_eps);
  return at::layer_norm(h, {config_.hidden_size}, final_norm_w_, final_norm_b_, config_.norm_eps);
}

void TransformerStack::StepRowsInPlace(float* x, int64_t total, const int64_t* rows,
                                       std::vector<KvCache>* const* caches, size_t num_sequences) const {
  // Decoding steps reuse one set of buffers per thread; a long prompt's prefill gets its own,
  // released when it is done.
  thread_local TransformerBlock::StepBuffers step_buffers;
  TransformerBlock::StepBuffers prompt_buffers;
  TransformerBlock::StepBuffers* buf = total <= kFloatGemvMaxRows ? &step_buffers : &prompt_buffers;
  buf->segments.resize(num_sequences);
  for (size_t i = 0; i < num_sequences; ++i) {
    auto [cos, sin] = rope_.FloatRows(caches[i]->front().length(), rows[i]);
    buf->segments[i] = {rows[i], cos, sin, nullptr};
  }
  for (size_t layer = 0; layer < blocks_.size(); ++layer) {
    for (size_t i = 0; i < num_sequences; ++i) buf->segments[i].cache = &(*caches[i])[layer];
    blocks_[layer].StepRows(x, total, buf->segments.data(), num_sequences, buf);
  }
  if (final_norm_w_.defined()) NormRows(config_, x, total, final_norm_w_, final_norm_b_, x);
}

void TransformerStack::StepInPlace(float* x, const int64_t* rows, std::vector<KvCache>* const* caches,
                                   size_t num_sequences) const {
  int64_t total = 0;
  for (size_t i = 0; i < num_sequences; ++i) total += rows[i];
  if (StepsOnRows(total)) {
    StepRowsInPlace(x, total, rows, caches, num_sequences);
    return;
  }
  at::Tensor rows_in = at::from_blob(x, {total, config_.hidden_size}, at::kFloat);
  at::Tensor out = ForwardBatch(rows_in.to(dtype_), std::vector<int64_t>(rows, rows + num_sequences),
                                std::vector<std::vector<KvCache>*>(caches, caches + num_sequences));
  rows_in.copy_(out);
}

at::Tensor TransformerStack::Forward(const at::Tensor& x, std::vector<KvCache>* caches) const {
  if (StepsOnRows(x.size(0))) {
    const int64_t rows = x.size(0);
    at::Tensor h = x.to(at::kFloat).contiguous().clone();
    StepRowsInPlace(h.data_ptr<float>(), rows, &rows, &caches, 1);
    return h;
  }
  const int64_t start = caches->front().length();
  auto [cos, sin] = rope_.Slice(start, x.size(0), dtype_);
  at::Tensor h = x;
  for (size_t i = 0; i < blocks_.size(); ++i) h = blocks_[i].Forward(h, cos, sin, &(*caches)[i]);
  return FinalNorm(h);
}

at::Tensor TransformerStack::ForwardBatch(const at::Tensor& x, const std::vector<int64_t>& rows,
                                          const std::vector<std::vector<KvCache>*>& caches) const {
  if (StepsOnRows(x.size(0))) {
    at::Tensor h = x.to(at::kFloat).contiguous().clone();
    StepRowsInPlace(h.data_ptr<float>(), x.size(0), rows.data(), caches.data(), rows.size());
    return h;
  }
  std::vector<std::pair<at::Tensor, at::Tensor>> rope;
  rope.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) rope.push_back(rope_.Slice(caches[i]->front().length(), rows[i], dtype_));
  std::vector<TransformerBlock::Segment> segments(rows.size());
  at::Tensor h = x;
  for (size_t layer = 0; layer < blocks_.size(); ++layer) {
    for (size_t i = 0; i < rows.size(); ++i) {
      segments[i] = {rows[i], rope[i].first, rope[i].second, &(*caches[i])[layer]};
    }
    h = blocks_[layer].ForwardSegments(h, segments);
  }
  return FinalNorm(h);
}

}  // namespace qwen3tts::nn
