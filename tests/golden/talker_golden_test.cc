// Talker + code predictor against the reference, for every generation case of the manifest
// (CustomVoice, VoiceDesign, Base x-vector and ICL): prompt embeddings, logits, scores, tokens,
// codes and hidden states, each with the manifest's tolerance; and the same again with the prompt's
// head taken from the prompt-head cache.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "common/nn/float_gemv.h"
#include "common/talker/talker_generator.h"
#include "common/tensor/checkpoint.h"
#include "tests/support/golden.h"

namespace qwen3tts {
namespace {

absl::StatusOr<std::shared_ptr<const TalkerModel>> LoadTalker(const std::string& dir) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const TalkerModel>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(dir);
  if (it != cache.end()) return it->second;
  absl::StatusOr<ModelInfo> info = LoadModelInfo(dir);
  if (!info.ok()) return info.status();
  absl::StatusOr<Checkpoint> ckpt = Checkpoint::Open(dir);
  if (!ckpt.ok()) return ckpt.status();
  absl::StatusOr<std::shared_ptr<const TalkerModel>> model = TalkerModel::Load(*ckpt, info->config);
  if (model.ok()) cache[dir] = *model;
  return model;
}

std::vector<int64_t> ToVector(const at::Tensor& t) {
  at::Tensor flat = t.to(at::kLong).contiguous().view(-1);
  return std::vector<int64_t>(flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel());
}

class TalkerGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TalkerGoldenTest, MatchesReference) {
  auto golden = testing::FindCase(GetParam());
  ASSERT_TRUE(golden.ok()) << golden.status();
  const nlohmann::json& e = golden->json();
  auto model = LoadTalker(golden->ModelDir());
  ASSERT_TRUE(model.ok()) << model.status();

  auto tensor = [&](const std::string& name) {
    auto t = golden->TensorChecked(name);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : at::Tensor();
  };

  TalkerRequest request;
  request.input_ids = ToVector(tensor("input_ids"));
  if (golden->HasTensor("instruct_ids")) request.instruct_ids = ToVector(tensor("instruct_ids"));
  request.speaker = e.value("speaker", "");
  request.language = e.value("language", "auto");
  request.non_streaming_mode = e.value("non_streaming_mode", false);
  if (golden->mode() == "voice_clone") {
    request.speaker_embedding = tensor("spk_embedding");
    if (!e.value("x_vector_only", false)) {
      request.ref_ids = ToVector(tensor("ref_ids"));
      request.ref_codes = tensor("ref_codes");
    }
  }
  request.options.talker.do_sample = !e.value("greedy", true);
  request.options.code_predictor.do_sample = !e.value("subtalker_greedy", true);
  request.options.repetition_penalty = e.value("repetition_penalty", 1.05);
  request.options.min_new_tokens = e.value("min_new_tokens", 2);
  request.options.max_new_tokens = e.value("max_new_tokens", 4096);
  request.options.seed = 0;

  // The first run fills the model's prompt-head cache (unless an earlier case had the same head);
  // the second takes the head from it. Both must match the reference, and each other bit for bit.
  GenerationTrace first;
  auto first_codes = GenerateCodes(*model, request, &first);
  ASSERT_TRUE(first_codes.ok()) << first_codes.status();
  GenerationTrace trace;
  auto codes = GenerateCodes(*model, request, &trace);
  ASSERT_TRUE(codes.ok()) << codes.status();
  ASSERT_GT(trace.prompt_head_rows, 0);
  ASSERT_LT(trace.prompt_head_rows, trace.prefill_embeds.size(0));
  // Where the prompt takes the prefill's row path (short prompts), the head is reused.
  if (trace.prefill_embeds.size(0) <= nn::kFloatGemvMaxRows) {
    EXPECT_EQ(trace.prompt_rows_reused, trace.prompt_head_rows);
  }
  EXPECT_TRUE(at::equal(*codes, *first_codes));
  ASSERT_EQ(trace.logits.size(), first.logits.size());
  for (size_t i = 0; i < trace.logits.size(); ++i) {
    EXPECT_TRUE(at::equal(trace.logits[i], first.logits[i])) << "talker logits of token " << i;
  }

  int compared = 0;
  auto check = [&](const std::string& name, const at::Tensor& actual) {
    if (!golden->HasTensor(name)) return;
    ++compared;
    at::Tensor expected = tensor(name);
    ASSERT_TRUE(expected.defined());
    EXPECT_TRUE(testing::TensorsMatch(actual.reshape(expected.sizes()), expected, golden->ToleranceOf(name), name))
        << "case " << GetParam();
  };
  auto check_shaped = [&](const std::string& name, const at::Tensor& actual) {
    if (!golden->HasTensor(name)) return;
    at::Tensor expected = tensor(name);
    ASSERT_TRUE(expected.defined());
    ASSERT_EQ(actual.numel(), expected.numel()) << name << ": got " << actual.sizes() << ", reference " << expected.sizes();
    check(name, actual);
  };
  check_shaped("talker_prefill_embeds", trace.prefill_embeds);
  check_shaped("trailing_text_hidden", trace.trailing_text_hidden);
  check_shaped("tts_pad_embed", trace.tts_pad_embed);
  check_shaped("talker_logits_step0", trace.logits_step0);
  check_shaped("talker_scores_step0", trace.scores_step0);

  // Token ids and codes must match exactly; later logits are only comparable while they do.
  ASSERT_FALSE(trace.tokens.empty());
  check_shaped("talker_tokens", at::tensor(trace.tokens, at::kLong));
  check_shaped("codes", *codes);
  check_shaped("talker_logits_all", at::stack(trace.logits));
  if (golden->HasTensor("talker_hidden_states")) {
    const int64_t frames = codes->size(0);
    ASSERT_GE(static_cast<int64_t>(trace.hidden_states.size()), frames);
    std::vector<at::Tensor> hs(trace.hidden_states.begin(), trace.hidden_states.begin() + frames);
    check_shaped("talker_hidden_states", at::stack(hs));
  }
  if (!trace.subtalker_logits_frame0.empty()) {
    check_shaped("subtalker_inputs_embeds_frame0", trace.subtalker_inputs_frame0);
    check_shaped("subtalker_logits_frame0", at::stack(trace.subtalker_logits_frame0));
  }
  // Every talker tensor the manifest lists was compared (nothing silently skipped).
  int listed = 0;
  for (const char* name : {"talker_prefill_embeds", "trailing_text_hidden", "tts_pad_embed", "talker_logits_step0",
                           "talker_scores_step0", "talker_tokens", "codes", "talker_logits_all",
                           "talker_hidden_states", "subtalker_inputs_embeds_frame0", "subtalker_logits_frame0"}) {
    listed += golden->HasTensor(name) ? 1 : 0;
  }
  EXPECT_EQ(compared, listed);
  if (e.contains("n_frames")) {
    EXPECT_EQ(codes->size(0), e["n_frames"].get<int64_t>());
  }
  if (e.contains("n_tokens_generated")) {
    EXPECT_EQ(static_cast<int64_t>(trace.logits.size()), e["n_tokens_generated"].get<int64_t>());
  }
}

INSTANTIATE_TEST_SUITE_P(Manifest, TalkerGoldenTest,
                         ::testing::ValuesIn(testing::CaseIdsWithModes({"custom_voice", "voice_design", "voice_clone"})),
                         QWEN3TTS_GOLDEN_CASE_NAMER);

}  // namespace
}  // namespace qwen3tts
