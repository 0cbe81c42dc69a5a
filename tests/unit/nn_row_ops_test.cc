// The decoding step's raw-row operations (common/nn/row_ops.h) against tensor-op definitions, and
// the transformer's row path (TransformerBlock::StepRows) against its tensor-op path.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <filesystem>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "common/nn/row_ops.h"
#include "common/nn/transformer.h"
#include "common/tensor/checkpoint.h"
#include "common/tensor/safetensors.h"

namespace qwen3tts::nn {
namespace {

void ExpectClose(const at::Tensor& got, const at::Tensor& want, double rtol = 1e-5, double atol = 1e-6) {
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(at::allclose(got, want, rtol, atol))
      << "max abs difference " << (got - want).abs().max().item<float>();
}

TEST(RowOps, NormsMatchTheTensorDefinitions) {
  at::manual_seed(1);
  at::Tensor x = at::randn({3, 257}) * 3 + 0.5;
  at::Tensor w = at::randn({257}), b = at::randn({257});
  at::Tensor y = at::empty_like(x);
  RmsNormRows(x.data_ptr<float>(), 3, 257, w.data_ptr<float>(), 1e-6, y.data_ptr<float>());
  ExpectClose(y, RmsNorm(x, w, 1e-6));
  LayerNormRows(x.data_ptr<float>(), 3, 257, w.data_ptr<float>(), b.data_ptr<float>(), 1e-5, y.data_ptr<float>());
  ExpectClose(y, at::layer_norm(x, {257}, w, b, 1e-5));
  // In place, as the step applies it.
  at::Tensor inplace = x.clone();
  RmsNormRows(inplace.data_ptr<float>(), 3, 257, w.data_ptr<float>(), 1e-6, inplace.data_ptr<float>());
  ExpectClose(inplace, RmsNorm(x, w, 1e-6));
}

TEST(RowOps, RotaryEmbeddingMatchesRotateHalf) {
  at::manual_seed(2);
  const int64_t heads = 3, d = 8;
  at::Tensor x = at::randn({heads, d}), cos = at::randn({d}), sin = at::randn({d});
  at::Tensor rotated = at::cat({-x.narrow(1, d / 2, d / 2), x.narrow(1, 0, d / 2)}, 1);
  at::Tensor want = x * cos + rotated * sin;
  RotateHalf(x.data_ptr<float>(), heads, d, cos.data_ptr<float>(), sin.data_ptr<float>());
  ExpectClose(x, want);
}

TEST(RowOps, ActivationsMatchAten) {
  at::manual_seed(3);
  at::Tensor g = at::randn({100}) * 4, u = at::randn({100});
  at::Tensor want = at::silu(g) * u;
  at::Tensor gelu_want = at::gelu(g);
  at::Tensor gelu = g.clone();
  SiluMul(g.data_ptr<float>(), u.data_ptr<float>(), 100);
  ExpectClose(g, want);
  Gelu(gelu.data_ptr<float>(), 100);
  ExpectClose(gelu, gelu_want);
  at::Tensor y = at::randn({2, 5}), add = at::randn({2, 5}), scale = at::randn({5});
  at::Tensor y_want = y + add * scale;
  AddScaledRows(y.data_ptr<float>(), add.data_ptr<float>(), scale.data_ptr<float>(), 2, 5);
  ExpectClose(y, y_want);
}

// silu(g) * u in double precision, the argument and the factor as floats.
double SiluMulDefinition(float g, float u) {
  return static_cast<double>(g) / (1.0 + std::exp(-static_cast<double>(g))) * static_cast<double>(u);
}

// Both forms SiluMul chooses between (the 8-lane polynomial exp where the CPU has AVX2 + FMA, libm's
// elsewhere) against the definition, over the whole float range the activation sees and beyond
// (exp's clamps), for every tail length; NaN stays NaN; and a value's bits do not depend on its
// position (a batched step's rows sit at other offsets than one sequence's).
TEST(RowOps, SiluMulFormsMatchTheDefinitionAtEveryPosition) {
  std::vector<std::pair<const char*, void (*)(float*, const float*, int64_t)>> forms = {{"portable", SiluMulPortable}};
  if (SiluMulAvx2Available()) forms.push_back({"avx2", SiluMulAvx2});
  at::manual_seed(5);
  std::vector<float> values;
  for (float scale : {0.1f, 1.0f, 4.0f, 30.0f}) {
    at::Tensor r = at::randn({203}) * scale;
    values.insert(values.end(), r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
  }
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 80.0f, -80.0f, 87.0f, -87.0f, 89.0f, -89.0f, 100.0f, -100.0f, 1e4f,
                  -1e4f, std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
    values.push_back(v);
  }
  const int64_t n = static_cast<int64_t>(values.size());
  at::Tensor u = at::randn({n});
  for (const auto& [name, form] : forms) {
    std::vector<float> y = values;
    form(y.data(), u.data_ptr<float>(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double want = SiluMulDefinition(values[i], u[i].item<float>());
      if (std::isinf(values[i])) {
        // silu(+inf) = +inf, silu(-inf) = -0 (or NaN from inf / inf, as ATen's silu gives).
        if (values[i] > 0) {
          EXPECT_TRUE(std::isinf(y[i])) << name << " " << values[i];
        }
        continue;
      }
      EXPECT_NEAR(y[i], want, 4e-7 * std::fabs(want) + 1e-36) << name << " silu(" << values[i] << ") * " << u[i].item<float>();
    }
    std::vector<float> nan = {std::numeric_limits<float>::quiet_NaN()};
    const float one = 1.0f;
    form(nan.data(), &one, 1);
    EXPECT_TRUE(std::isnan(nan[0])) << name;
    // One value at every position of every length up to 21 (full vectors and every tail).
    for (float v : {-3.7f, 0.42f, 11.0f}) {
      std::vector<float> ones(21, 1.0f), x(21);
      float first = 0;
      for (int64_t length = 1; length <= 21; ++length) {
        std::fill(x.begin(), x.end(), v);
        form(x.data(), ones.data(), length);
        if (length == 1) first = x[0];
        for (int64_t i = 0; i < length; ++i) {
          ASSERT_EQ(std::memcmp(&x[i], &first, sizeof(float)), 0) << name << " length " << length << " position " << i;
        }
      }
    }
  }
}

// Grouped-query attention of one position, as softmax(q k^T / sqrt(d)) v with kv heads repeated.
at::Tensor AttentionDefinition(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int64_t heads = q.size(0), kvh = k.size(0), d = q.size(1);
  at::Tensor kr = k.repeat_interleave(heads / kvh, 0), vr = v.repeat_interleave(heads / kvh, 0);
  at::Tensor scores = at::matmul(q.unsqueeze(1), kr.transpose(1, 2)).squeeze(1) / std::sqrt(static_cast<double>(d));
  return at::matmul(at::softmax(scores, -1).unsqueeze(1), vr).squeeze(1);
}

TEST(RowOps, AttentionMatchesTheDefinitionSmallAndSplitAcrossThreads) {
  at::manual_seed(4);
  for (int64_t length : {1, 17, 700}) {  // 700 x 8 heads x 64 is large enough to be split
    const int64_t heads = 8, kvh = 2, d = 64, capacity = length + 5;
    at::Tensor q = at::randn({heads, d});
    at::Tensor cache_k = at::randn({kvh, capacity, d}), cache_v = at::randn({kvh, capacity, d});
    const int64_t first = 3;  // the window starts inside the cache, as with a sliding window
    at::Tensor k = cache_k.narrow(1, first, length), v = cache_v.narrow(1, first, length);
    std::vector<float> scores(static_cast<size_t>(heads * length));
    at::Tensor out = at::empty({heads, d});
    AttendOnePosition(q.data_ptr<float>(), heads, kvh, d, cache_k.data_ptr<float>() + first * d,
                      cache_v.data_ptr<float>() + first * d, capacity * d, length, scores.data(),
                      out.data_ptr<float>());
    ExpectClose(out, AttentionDefinition(q, k, v), 1e-4, 1e-5);
  }
}

// ---- the transformer's two paths ------------------------------------------------------------------

struct StackCase {
  std::string name;
  BlockConfig config;
};
void PrintTo(const StackCase& c, std::ostream* os) { *os << c.name; }  // test names and logs

StackCase Qwen3Like() {
  BlockConfig c;
  c.hidden_size = 48;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.intermediate_size = 96;
  c.qk_norm = true;
  return {"qwen3", c};
}

StackCase CodecLike() {  // layer scale, sliding window (ring cache), attention bias
  StackCase s = Qwen3Like();
  s.name = "codec";
  s.config.qk_norm = false;
  s.config.layer_scale = true;
  s.config.attention_bias = true;
  s.config.sliding_window = 7;
  return s;
}

StackCase EncoderLike() {  // LayerNorm + GELU MLP
  StackCase s = Qwen3Like();
  s.name = "encoder";
  s.config.qk_norm = false;
  s.config.norm = NormKind::kLayerNorm;
  s.config.mlp = MlpKind::kGeluFc;
  s.config.layer_scale = true;
  s.config.sliding_window = 9;
  return s;
}

// Writes a 2-layer random stack for `config` and loads it.
TransformerStack MakeStack(const BlockConfig& c, LinearQuantization quantization, const std::string& dir) {
  at::manual_seed(7);
  std::vector<std::pair<std::string, at::Tensor>> t;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, double scale, double offset = 0) {
    t.emplace_back(name, at::randn(shape) * scale + offset);
  };
  const int64_t h = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  for (int layer = 0; layer < 2; ++layer) {
    const std::string p = "m.layers." + std::to_string(layer) + ".";
    add(p + "input_layernorm.weight", {h}, 0.1, 1);
    add(p + "post_attention_layernorm.weight", {h}, 0.1, 1);
    if (c.norm == NormKind::kLayerNorm) {
      add(p + "input_layernorm.bias", {h}, 0.1);
      add(p + "post_attention_layernorm.bias", {h}, 0.1);
    }
    for (auto [name, out, in] : {std::tuple{"q_proj", q, h}, {"k_proj", kv, h}, {"v_proj", kv, h}, {"o_proj", h, q}}) {
      add(p + "self_attn." + name + ".weight", {out, in}, 0.15);
      if (c.attention_bias) add(p + "self_attn." + name + ".bias", {out}, 0.1);
    }
    if (c.qk_norm) {
      add(p + "self_attn.q_norm.weight", {c.head_dim}, 0.1, 1);
      add(p + "self_attn.k_norm.weight", {c.head_dim}, 0.1, 1);
    }
    if (c.mlp == MlpKind::kSwiGlu) {
      add(p + "mlp.gate_proj.weight", {c.intermediate_size, h}, 0.15);
      add(p + "mlp.up_proj.weight", {c.intermediate_size, h}, 0.15);
      add(p + "mlp.down_proj.weight", {h, c.intermediate_size}, 0.1);
    } else {
      add(p + "mlp.fc1.weight", {c.intermediate_size, h}, 0.15);
      add(p + "mlp.fc2.weight", {h, c.intermediate_size}, 0.1);
    }
    if (c.layer_scale) {
      add(p + "self_attn_layer_scale.scale", {h}, 0.1, 0.5);
      add(p + "mlp_layer_scale.scale", {h}, 0.1, 0.5);
    }
  }
  add("m.norm.weight", {h}, 0.1, 1);
  if (c.norm == NormKind::kLayerNorm) add("m.norm.bias", {h}, 0.1);
  const std::string path = dir + "/model.safetensors";
  EXPECT_TRUE(WriteSafetensors(path, t).ok());
  auto ckpt = Checkpoint::Open(path);
  EXPECT_TRUE(ckpt.ok()) << ckpt.status();
  auto stack = TransformerStack::Load(*ckpt, "m.", 2, "m.norm", c, 10000.0, at::kFloat, quantization);
  EXPECT_TRUE(stack.ok()) << stack.status();
  return std::move(*stack);
}

class StackPaths : public ::testing::TestWithParam<StackCase> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("qwen3tts_row_ops_" + GetParam().name + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Feeds x in chunks of the given sizes (cycled) and returns all outputs in order.
  static at::Tensor RunChunked(const TransformerStack& stack, const at::Tensor& x, std::vector<int64_t> chunks) {
    std::vector<KvCache> caches = stack.NewCache(4);  // small: growth is part of the test
    std::vector<at::Tensor> outs;
    for (int64_t row = 0, i = 0; row < x.size(0); ++i) {
      const int64_t n = std::min(chunks[i % chunks.size()], x.size(0) - row);
      outs.push_back(stack.Forward(x.narrow(0, row, n), &caches));
      row += n;
    }
    return at::cat(outs, 0);
  }
  std::filesystem::path dir_;
};

TEST_P(StackPaths, RowPathMatchesTheTensorPathAndChunkingKeepsItsBits) {
  const BlockConfig& c = GetParam().config;
  TransformerStack stack = MakeStack(c, LinearQuantization::kNone, dir_.string());
  at::manual_seed(11);
  at::Tensor x = at::randn({40, c.hidden_size});
  // 40 rows at once take the tensor-op path (a float32 GEMM beats row products there); steps of
  // up to 3 rows take the row path.
  at::Tensor whole = RunChunked(stack, x, {40});
  at::Tensor stepped = RunChunked(stack, x, {1, 3, 2, 1});
  ExpectClose(stepped, whole, 1e-4, 1e-5);
  // Within the row path every row's arithmetic is the same whatever the chunking.
  EXPECT_TRUE(at::equal(RunChunked(stack, x, {1}), stepped));
  EXPECT_TRUE(at::equal(RunChunked(stack, x, {16, 8}), stepped));
}

TEST_P(StackPaths, QuantizedStacksTakeEveryRowCountOnTheRowPath) {
  const BlockConfig& c = GetParam().config;
  TransformerStack reference = MakeStack(c, LinearQuantization::kNone, dir_.string());
  at::manual_seed(12);
  at::Tensor x = at::randn({40, c.hidden_size});
  at::Tensor f32 = RunChunked(reference, x, {40});
  // Relative error bounds: int8 ~1 %, int4 (15 levels per block of 32) ~10 % on these random layers.
  for (auto [quantization, bound] : {std::pair{LinearQuantization::kInt8, 0.05}, std::pair{LinearQuantization::kInt4, 0.25}}) {
    TransformerStack stack = MakeStack(c, quantization, dir_.string());
    at::Tensor whole = RunChunked(stack, x, {40});
    EXPECT_TRUE(at::equal(RunChunked(stack, x, {1, 3}), whole));
    const double rel = ((whole - f32).norm() / f32.norm()).item<double>();
    EXPECT_LT(rel, bound) << "relative error, quantization " << static_cast<int>(quantization);
    EXPECT_LT(stack.bytes(), reference.bytes());
  }
  // int4 weights take 4.5 bits, int8 8 plus a float scale per row: the projections' bytes shrink.
  EXPECT_LT(MakeStack(c, LinearQuantization::kInt4, dir_.string()).bytes(),
            MakeStack(c, LinearQuantization::kInt8, dir_.string()).bytes());
}

TEST_P(StackPaths, BatchedSegmentsEqualTheirSoloRuns) {
  const BlockConfig& c = GetParam().config;
  TransformerStack stack = MakeStack(c, LinearQuantization::kNone, dir_.string());
  at::manual_seed(13);
  at::Tensor a = at::randn({6, c.hidden_size}), b = at::randn({4, c.hidden_size});
  std::vector<KvCache> ca = stack.NewCache(8), cb = stack.NewCache(8);
  // Sequence a has a 3-row prompt before b joins; then both step together (a: 1 row, b: its 2-row
  // prompt, then 1 row each).
  at::Tensor a0 = stack.Forward(a.narrow(0, 0, 3), &ca);
  at::Tensor ab1 = stack.ForwardBatch(at::cat({a.narrow(0, 3, 1), b.narrow(0, 0, 2)}), {1, 2}, {&ca, &cb});
  at::Tensor ab2 = stack.ForwardBatch(at::cat({a.narrow(0, 4, 1), b.narrow(0, 2, 1)}), {1, 1}, {&ca, &cb});
  at::Tensor solo_a = RunChunked(stack, a.narrow(0, 0, 5), {3, 1, 1});
  at::Tensor solo_b = RunChunked(stack, b.narrow(0, 0, 3), {2, 1});
  EXPECT_TRUE(at::equal(at::cat({a0, ab1.narrow(0, 0, 1), ab2.narrow(0, 0, 1)}), solo_a));
  EXPECT_TRUE(at::equal(at::cat({ab1.narrow(0, 1, 2), ab2.narrow(0, 1, 1)}), solo_b));
  EXPECT_EQ(ca.front().length(), 5);
  EXPECT_EQ(cb.front().length(), 3);
}

INSTANTIATE_TEST_SUITE_P(Configs, StackPaths, ::testing::Values(Qwen3Like(), CodecLike(), EncoderLike()),
                         [](const ::testing::TestParamInfo<StackCase>& info) { return info.param.name; });

}  // namespace
}  // namespace qwen3tts::nn
