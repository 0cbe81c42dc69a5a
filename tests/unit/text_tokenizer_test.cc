// Tokenizer behaviour on a small synthetic byte-level BPE vocabulary: loading errors, invalid
// UTF-8, special tokens, merge order, decoding of broken byte sequences.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/text/tokenizer.h"
#include "nlohmann/json.hpp"

namespace qwen3tts {
namespace {

namespace fs = std::filesystem;

std::string ByteChar(int b) { return ByteLevelChar(static_cast<uint8_t>(b)); }

class TokenizerUnitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qwen3tts_tok_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    // Vocabulary: the 256 byte tokens, then merges "h e" -> "he", "he l" -> "hel", "l l" -> "ll",
    // "Ġ w" -> "Ġw"; two added tokens.
    for (int b = 0; b < 256; ++b) vocab_[ByteChar(b)] = b;
    merges_ = {{"l", "l"}, {"h", "e"}, {"he", "l"}, {"Ġ", "w"}};
    int next = 256;
    for (const auto& [a, b] : merges_) vocab_[a + b] = next++;
    Write(vocab_, merges_, true);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const nlohmann::json& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
             bool with_added) {
    nlohmann::json tj;
    tj["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}};
    for (const auto& [a, b] : merges) tj["model"]["merges"].push_back(a + " " + b);
    tj["added_tokens"] = nlohmann::json::array();
    if (with_added) {
      tj["added_tokens"].push_back({{"id", 300}, {"content", "<|ctl|>"}, {"special", true}});
      tj["added_tokens"].push_back({{"id", 301}, {"content", "<|ctl|>x"}, {"special", false}});
    }
    std::ofstream((dir_ / "tokenizer.json").string()) << tj.dump();
  }

  std::shared_ptr<const TextTokenizer> Load() {
    auto tok = TextTokenizer::LoadFromDir(dir_.string());
    EXPECT_TRUE(tok.ok()) << tok.status();
    return tok.ok() ? *tok : nullptr;
  }

  nlohmann::json vocab_;
  std::vector<std::pair<std::string, std::string>> merges_;
  fs::path dir_;
};

TEST_F(TokenizerUnitTest, AppliesMergesByRank) {
  auto tok = Load();
  ASSERT_NE(tok, nullptr);
  // "hello": l+l (rank 0) first, then h+e, then he+l? no: "he" "ll" "o" — "he l" needs a lone "l".
  auto ids = tok->Encode("hello");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int64_t>{*tok->TokenToId("he"), *tok->TokenToId("ll"), 'o'}));
  // "help": no "ll", so h+e then he+l.
  ids = tok->Encode("help");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int64_t>{*tok->TokenToId("hel"), 'p'}));
  // A space joins the following word: " w" is one pre-token and merges to "Ġw".
  ids = tok->Encode(" w");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int64_t>{*tok->TokenToId("Ġw")}));
}

TEST_F(TokenizerUnitTest, EmptyTextGivesNoIds) {
  auto tok = Load();
  ASSERT_NE(tok, nullptr);
  auto ids = tok->Encode("");
  ASSERT_TRUE(ids.ok());
  EXPECT_TRUE(ids->empty());
}

TEST_F(TokenizerUnitTest, InvalidUtf8IsRejectedWithItsOffset) {
  auto tok = Load();
  ASSERT_NE(tok, nullptr);
  for (const std::string& bad : {std::string("ok\xFF"), std::string("ab\xC0\x80"), std::string("\xED\xA0\x80"),
                                std::string("abc\xE4\xB8"), std::string("\xF4\x90\x80\x80")}) {
    auto ids = tok->Encode(bad);
    ASSERT_FALSE(ids.ok());
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(ids.status().message().find("UTF-8"), std::string::npos);
  }
  auto ids = tok->Encode(std::string("ab\xC0\x80"));
  EXPECT_NE(ids.status().message().find("offset 2"), std::string::npos) << ids.status();
}

TEST_F(TokenizerUnitTest, AddedTokensLongestMatchAndOptOut) {
  auto tok = Load();
  ASSERT_NE(tok, nullptr);
  auto ids = tok->Encode("a<|ctl|>xb<|ctl|>");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int64_t>{'a', 301, 'b', 300}));
  auto plain = tok->Encode("<|ctl|>", /*parse_special_tokens=*/false);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(std::find(plain->begin(), plain->end(), 300), plain->end());
  auto skipped = tok->Decode({'a', 300, 301}, /*skip_special_tokens=*/true);
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(*skipped, "a<|ctl|>x");
}

TEST_F(TokenizerUnitTest, DecodeReplacesBrokenBytesAndRejectsUnknownIds) {
  auto tok = Load();
  ASSERT_NE(tok, nullptr);
  auto text = tok->Decode({'a', 0xE4, 'b'});  // a lone lead byte of a 3-byte sequence
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(tok->Decode({99999}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tok->Decode({-1}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TokenizerUnitTest, LoadErrorsNameTheFile) {
  fs::remove(dir_ / "tokenizer.json");
  auto none = TextTokenizer::LoadFromDir(dir_.string());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);

  std::ofstream((dir_ / "tokenizer.json").string()) << "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": 5}}";
  auto bad_merges = TextTokenizer::LoadFromDir(dir_.string());
  EXPECT_EQ(bad_merges.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_merges.status().message().find("merges"), std::string::npos);

  // A vocabulary lacking byte tokens cannot encode arbitrary text.
  std::ofstream((dir_ / "tokenizer.json").string()) << "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}}";
  auto missing_bytes = TextTokenizer::LoadFromDir(dir_.string());
  EXPECT_EQ(missing_bytes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing_bytes.status().message().find("tokenizer.json"), std::string::npos);

  fs::remove(dir_ / "tokenizer.json");
  std::ofstream((dir_ / "vocab.json").string()) << vocab_.dump();
  std::ofstream((dir_ / "merges.txt").string()) << "#version: 0.2\nh e\nbroken-line-without-space\n";
  auto bad_txt = TextTokenizer::LoadFromDir(dir_.string());
  EXPECT_EQ(bad_txt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_txt.status().message().find("merges.txt:3"), std::string::npos) << bad_txt.status();
}

TEST_F(TokenizerUnitTest, VocabAndMergesLoaderMatchesTokenizerJson) {
  std::ofstream((dir_ / "vocab.json").string()) << vocab_.dump();
  std::ofstream merges((dir_ / "merges.txt").string());
  merges << "#version: 0.2\n";
  for (const auto& [a, b] : merges_) merges << a << " " << b << "\n";
  merges.close();
  auto from_json = TextTokenizer::LoadTokenizerJson((dir_ / "tokenizer.json").string());
  auto from_txt = TextTokenizer::LoadVocabAndMerges((dir_ / "vocab.json").string(), (dir_ / "merges.txt").string(), "");
  ASSERT_TRUE(from_json.ok() && from_txt.ok());
  for (const char* text : {"hello world", "help! hell\n\n  o", "\xE4\xB8\xAD"}) {
    auto a = (*from_json)->Encode(text, false);
    auto b = (*from_txt)->Encode(text, false);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b) << text;
  }
}

}  // namespace
}  // namespace qwen3tts
