// Voice store: persistence across reopen, id validation (no path traversal), deletion, and
// leftovers of interrupted writes never surfacing as voices.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/voice/voice_store.h"

namespace qwen3tts {
namespace {

namespace fs = std::filesystem;

TEST(VoiceStoreTest, PersistsValidatesAndDeletes) {
  fs::path dir = fs::temp_directory_path() / ("qwen3tts_voices_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto store = VoiceStore::Open(dir.string());
  ASSERT_TRUE(store.ok()) << store.status();
  StoredVoice v;
  v.display_name = "narrator";
  v.reference_text = "The quick brown fox.";
  v.reference_seconds = 3.5;
  v.speaker_embedding = at::randn({48});
  v.reference_codes = at::randint(0, 2048, {10, 16}, at::kLong);
  auto created = (*store)->Create(v);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(VoiceStore::ValidateId(created->id).ok());
  StoredVoice x = v;
  x.x_vector_only = true;
  x.reference_codes = at::Tensor();
  ASSERT_TRUE((*store)->Create(x).ok());

  // An interrupted write leaves a temporary file: it is cleaned up, never listed.
  std::ofstream((dir / "v_dead.voice.safetensors.tmp.123").string()) << "partial";
  auto reopened = VoiceStore::Open(dir.string());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->List().size(), 2u);
  EXPECT_FALSE(fs::exists(dir / "v_dead.voice.safetensors.tmp.123"));
  auto got = (*reopened)->Get(created->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->display_name, "narrator");
  EXPECT_EQ(got->reference_text, "The quick brown fox.");
  EXPECT_DOUBLE_EQ(got->reference_seconds, 3.5);
  EXPECT_TRUE(at::equal(got->speaker_embedding, v.speaker_embedding));
  EXPECT_TRUE(at::equal(got->reference_codes, v.reference_codes));

  for (const std::string& bad : std::vector<std::string>{"../etc/passwd", "a/b", "", std::string(65, 'a'), "v 1"}) {
    EXPECT_EQ((*reopened)->Get(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ((*reopened)->Delete(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ((*reopened)->Get("v_missing").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE((*reopened)->Delete(created->id).ok());
  EXPECT_EQ((*reopened)->Get(created->id).status().code(), absl::StatusCode::kNotFound);
  auto again = VoiceStore::Open(dir.string());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->List().size(), 1u);

  // A corrupt voice file is reported, not silently skipped.
  std::ofstream((dir / "v_broken.voice.safetensors").string()) << "garbage";
  EXPECT_EQ(VoiceStore::Open(dir.string()).status().code(), absl::StatusCode::kDataLoss);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qwen3tts
