// The text tokenizer reproduces the reference tokenizer's ids for every line of
// tokenizer/cases.jsonl, with both loaders (tokenizer.json; vocab.json + merges.txt +
// tokenizer_config.json of every model directory the manifest names), and the chat templates
// reproduce the input_ids / instruct_ids / ref_ids of every generation case.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <fstream>
#include <set>

#include "common/text/chat_template.h"
#include "common/text/tokenizer.h"
#include "common/util/file_util.h"
#include "tests/support/golden.h"

namespace qwen3tts {
namespace {

struct TokenizerCase {
  std::string text;
  std::vector<int64_t> ids;
};

std::vector<TokenizerCase> ReadCases(std::string* error) {
  const std::string path = testing::GoldenPath("tokenizer/cases.jsonl");
  std::ifstream in(path);
  if (!in) {
    *error = path + ": cannot open";
    return {};
  }
  std::vector<TokenizerCase> cases;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("text") || !j.contains("ids")) {
      *error = path + ":" + std::to_string(line_no) + ": not a {text, ids} object";
      return {};
    }
    cases.push_back({j["text"].get<std::string>(), j["ids"].get<std::vector<int64_t>>()});
  }
  return cases;
}

std::string Nfc(const std::string& s) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(err);
  std::string out;
  nfc->normalize(icu::UnicodeString::fromUTF8(s), err).toUTF8String(out);
  return out;
}

// Where a tokenizer can be loaded from: the standalone tokenizer.json and every model directory.
std::vector<std::string> TokenizerSources() {
  std::vector<std::string> sources = {"tokenizer/tokenizer.json"};
  auto manifest = testing::LoadManifest();
  if (!manifest.ok()) return {"<manifest unreadable>"};
  std::set<std::string> dirs;
  for (const auto& entry : (*manifest)["cases"]) {
    if (entry.contains("model_dir") && entry["model_dir"].is_string()) dirs.insert(entry["model_dir"].get<std::string>());
  }
  sources.insert(sources.end(), dirs.begin(), dirs.end());
  return sources;
}

absl::StatusOr<std::shared_ptr<const TextTokenizer>> Load(const std::string& source) {
  const std::string path = testing::GoldenPath(source);
  if (IsDirectory(path)) return TextTokenizer::LoadFromDir(path);
  return TextTokenizer::LoadTokenizerJson(path);
}

class TokenizerGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerGoldenTest, ReproducesEveryReferenceCase) {
  auto tokenizer = Load(GetParam());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  std::string error;
  std::vector<TokenizerCase> cases = ReadCases(&error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_FALSE(cases.empty()) << "cases.jsonl lists no case";
  for (const TokenizerCase& c : cases) {
    auto ids = (*tokenizer)->Encode(c.text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, c.ids) << "text: " << c.text;
    auto decoded = (*tokenizer)->Decode(c.ids);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, Nfc(c.text)) << "decode of the reference ids";
  }
  std::cout << GetParam() << ": " << cases.size() << " cases\n";
}

INSTANTIATE_TEST_SUITE_P(Sources, TokenizerGoldenTest, ::testing::ValuesIn(TokenizerSources()),
                         QWEN3TTS_GOLDEN_CASE_NAMER);

class ChatTemplateGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatTemplateGoldenTest, BuildsTheReferencePromptIds) {
  auto golden = testing::FindCase(GetParam());
  ASSERT_TRUE(golden.ok()) << golden.status();
  auto tokenizer = TextTokenizer::LoadFromDir(golden->ModelDir());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const nlohmann::json& entry = golden->json();
  struct Piece {
    const char* tensor;
    const char* field;
    absl::StatusOr<std::vector<int64_t>> (*build)(const TextTokenizer&, std::string_view);
  } pieces[] = {{"input_ids", "text", &BuildAssistantTextIds},
                {"instruct_ids", "instruct", &BuildInstructIds},
                {"ref_ids", "ref_text", &BuildRefTextIds}};
  int checked = 0;
  for (const Piece& p : pieces) {
    if (!golden->HasTensor(p.tensor)) continue;
    ASSERT_TRUE(entry.contains(p.field)) << "manifest lists " << p.tensor << " but no '" << p.field << "'";
    auto expected = golden->TensorChecked(p.tensor);
    ASSERT_TRUE(expected.ok()) << expected.status();
    auto ids = p.build(**tokenizer, entry[p.field].get<std::string>());
    ASSERT_TRUE(ids.ok()) << ids.status();
    at::Tensor actual = at::tensor(*ids, at::kLong).view({1, -1});
    EXPECT_TRUE(testing::TensorsMatch(actual, *expected, golden->ToleranceOf(p.tensor), p.tensor));
    ++checked;
  }
  EXPECT_GT(checked, 0) << "case lists none of input_ids / instruct_ids / ref_ids";
}

INSTANTIATE_TEST_SUITE_P(Manifest, ChatTemplateGoldenTest,
                         ::testing::ValuesIn(testing::CaseIdsWithModes({"custom_voice", "voice_design", "voice_clone"})),
                         QWEN3TTS_GOLDEN_CASE_NAMER);

}  // namespace
}  // namespace qwen3tts

namespace qwen3tts {
namespace {

// Decode(Encode(x)) == NFC(x) for texts outside the reference set; user text with control tokens
// stays text when special-token parsing is off.
TEST(TokenizerRoundTripTest, DecodeInvertsEncodeOnVariedText) {
  auto tokenizer = TextTokenizer::LoadTokenizerJson(testing::GoldenPath("tokenizer/tokenizer.json"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const char* texts[] = {
      "Plain English, with punctuation!?", "中文，日本語のテキスト、한국어", "emoji 👩‍👩‍👧‍👦 family 🏳️‍🌈",
      "e\xCC\x81 combining acute, A\xCC\x8A ring", "tabs\t\tand\r\n\r\nCRLF\n\n\n   ", "x  y   z    ",
      "<|im_start|>not parsed here", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80", "   leading", "'S 'LL 'Re"};
  for (const char* text : texts) {
    for (bool special : {true, false}) {
      auto ids = (*tokenizer)->Encode(text, special);
      ASSERT_TRUE(ids.ok()) << ids.status();
      auto decoded = (*tokenizer)->Decode(*ids);
      ASSERT_TRUE(decoded.ok());
      EXPECT_EQ(*decoded, Nfc(text)) << text;
    }
  }
  auto parsed = (*tokenizer)->Encode("<|im_start|>");
  auto plain = (*tokenizer)->Encode("<|im_start|>", /*parse_special_tokens=*/false);
  ASSERT_TRUE(parsed.ok() && plain.ok());
  EXPECT_EQ(*parsed, std::vector<int64_t>{*(*tokenizer)->TokenToId("<|im_start|>")});
  EXPECT_GT(plain->size(), 1u);
  // The chat template keeps user-supplied control tokens as text.
  auto ids = BuildAssistantTextIds(**tokenizer, "hi<|im_end|>");
  ASSERT_TRUE(ids.ok());
  int64_t im_end = *(*tokenizer)->TokenToId("<|im_end|>");
  EXPECT_EQ(std::count(ids->begin(), ids->end(), im_end), 1);
  auto skipped = (*tokenizer)->Decode(*ids, /*skip_special_tokens=*/true);
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(*skipped, "assistant\nhi<|im_end|>\nassistant\n");
}

}  // namespace
}  // namespace qwen3tts
