// Safetensors reader/writer and sharded checkpoints: round trips and rejection of damaged files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/tensor/checkpoint.h"
#include "common/tensor/safetensors.h"

namespace qwen3tts {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qwen3tts_st_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void WriteAll(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  // A file made of an 8-byte length, the given header text and `data_bytes` zero bytes.
  static std::string RawFile(const std::string& header, size_t data_bytes) {
    std::string out(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return out + header + std::string(data_bytes, '\0');
  }

  fs::path dir_;
};

TEST_F(SafetensorsTest, RoundTripsEveryDtype) {
  at::manual_seed(7);
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f32", at::randn({3, 5})},
      {"bf16", at::randn({4, 2}).to(at::kBFloat16)},
      {"f16", at::randn({7}).to(at::kHalf)},
      {"i64", at::arange(0, 12, at::kLong).view({3, 4})},
      {"i32", at::arange(-3, 3, at::kInt)},
      {"u8", at::arange(0, 200, 7, at::kByte)},
      {"scalar", at::tensor(3.5)},
      {"empty", at::zeros({0, 4})},
  };
  ASSERT_TRUE(WriteSafetensors(Path("a.safetensors"), tensors, {{"format", "pt"}}).ok());
  auto file = SafetensorsFile::Open(Path("a.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  for (const auto& [name, expected] : tensors) {
    auto loaded = (*file)->Load(name);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->scalar_type(), expected.scalar_type()) << name;
    EXPECT_TRUE(at::equal(*loaded, expected)) << name;
  }
  // BF16 widened to float32 is exact.
  auto widened = (*file)->Load("bf16", at::kFloat);
  ASSERT_TRUE(widened.ok());
  EXPECT_EQ(widened->scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(*widened, tensors[1].second.to(at::kFloat)));
}

TEST_F(SafetensorsTest, MissingTensorIsNotFoundNamingFileAndTensor) {
  ASSERT_TRUE(WriteSafetensors(Path("a.safetensors"), {{"x", at::ones({2})}}).ok());
  auto file = SafetensorsFile::Open(Path("a.safetensors"));
  ASSERT_TRUE(file.ok());
  auto missing = (*file)->Load("y");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'y'"), std::string::npos);
  EXPECT_NE(missing.status().message().find("a.safetensors"), std::string::npos);
}

TEST_F(SafetensorsTest, MissingFileIsNotFound) {
  auto file = SafetensorsFile::Open(Path("nope.safetensors"));
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SafetensorsTest, TruncatedFilesAreRejectedWithAClearError) {
  ASSERT_TRUE(WriteSafetensors(Path("a.safetensors"), {{"w", at::randn({16, 16})}}).ok());
  const std::string bytes = ReadAll(Path("a.safetensors"));
  // Every truncation point: inside the length, inside the header, inside the data.
  for (size_t keep : {size_t{0}, size_t{5}, size_t{8}, size_t{20}, bytes.size() - 1, bytes.size() - 512}) {
    WriteAll(Path("t.safetensors"), bytes.substr(0, keep));
    auto file = SafetensorsFile::Open(Path("t.safetensors"));
    ASSERT_FALSE(file.ok()) << "kept " << keep << " bytes";
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << file.status();
    EXPECT_NE(file.status().message().find("t.safetensors"), std::string::npos) << file.status();
  }
}

TEST_F(SafetensorsTest, CorruptHeadersAreRejected) {
  struct Case {
    const char* header;
    size_t data;
    const char* expect;  // substring of the message
  } cases[] = {
      {"{not json", 0, "not valid JSON"},
      {"[1,2]", 0, "JSON object"},
      {R"({"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8, "unknown dtype 'Q7'"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,80]}})", 8, "out of range"},
      {R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "does not match shape"},
      {R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "non-negative"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "out of range"},
      {R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8, "dtype"},
      {R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8, "shape"},
      {R"({"w":{"dtype":"F32","shape":[2]}})", 8, "data_offsets"},
      {R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", 8,
       "overflows"},
  };
  for (const Case& c : cases) {
    WriteAll(Path("c.safetensors"), RawFile(c.header, c.data));
    auto file = SafetensorsFile::Open(Path("c.safetensors"));
    ASSERT_FALSE(file.ok()) << c.header;
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << c.header;
    EXPECT_NE(file.status().message().find(c.expect), std::string::npos)
        << c.header << " -> " << file.status();
  }
}

TEST_F(SafetensorsTest, HeaderLengthLargerThanFileIsRejected) {
  std::string bytes(8, '\0');
  bytes[0] = '\xff';
  bytes[1] = '\xff';
  WriteAll(Path("h.safetensors"), bytes + "{}");
  auto file = SafetensorsFile::Open(Path("h.safetensors"));
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(file.status().message().find("header length"), std::string::npos);
}

TEST_F(SafetensorsTest, ShardedCheckpointResolvesEachTensorToItsShard) {
  fs::create_directories(dir_ / "ckpt");
  ASSERT_TRUE(WriteSafetensors(Path("ckpt/model-00001-of-00002.safetensors"),
                               {{"a.weight", at::full({2, 2}, 1.5).to(at::kBFloat16)}}).ok());
  ASSERT_TRUE(WriteSafetensors(Path("ckpt/model-00002-of-00002.safetensors"),
                               {{"b.weight", at::full({3}, 2.0)}, {"b.bias", at::zeros({3})}}).ok());
  WriteAll(Path("ckpt/model.safetensors.index.json"), R"({
    "metadata": {"total_size": 32},
    "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                   "b.weight": "model-00002-of-00002.safetensors",
                   "b.bias": "model-00002-of-00002.safetensors"}})");
  auto ckpt = Checkpoint::Open(Path("ckpt"));
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->Names().size(), 3u);
  EXPECT_EQ(ckpt->NamesWithPrefix("b.").size(), 2u);
  auto a = ckpt->Load("a.weight");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->scalar_type(), at::kFloat);  // BF16 widened by default
  EXPECT_TRUE(at::equal(*a, at::full({2, 2}, 1.5)));
  auto shaped = ckpt->LoadShaped("b.weight", {4});
  EXPECT_EQ(shaped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(shaped.status().message().find("b.weight"), std::string::npos);
  EXPECT_TRUE(ckpt->LoadShaped("b.weight", {3}).ok());
  EXPECT_EQ(ckpt->Load("c").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SafetensorsTest, IndexPointingAtMissingShardOrTensorIsAnError) {
  fs::create_directories(dir_ / "ckpt");
  ASSERT_TRUE(WriteSafetensors(Path("ckpt/s1.safetensors"), {{"a", at::ones({1})}}).ok());
  WriteAll(Path("ckpt/model.safetensors.index.json"),
           R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
  auto missing_shard = Checkpoint::Open(Path("ckpt"));
  EXPECT_EQ(missing_shard.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing_shard.status().message().find("s2.safetensors"), std::string::npos);

  WriteAll(Path("ckpt/model.safetensors.index.json"), R"({"weight_map": {"zz": "s1.safetensors"}})");
  auto missing_tensor = Checkpoint::Open(Path("ckpt"));
  EXPECT_EQ(missing_tensor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing_tensor.status().message().find("zz"), std::string::npos);

  WriteAll(Path("ckpt/model.safetensors.index.json"), R"({"weight_map": {"a": "../s1.safetensors"}})");
  EXPECT_EQ(Checkpoint::Open(Path("ckpt")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SafetensorsTest, DirectoryWithoutWeightsIsNotFound) {
  auto ckpt = Checkpoint::Open(dir_.string());
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(ckpt.status().message().find("model.safetensors"), std::string::npos);
}

TEST(SafetensorsHeaderTest, ParsesMetadataAndRejectsNonStringMetadataGracefully) {
  std::map<std::string, std::string> meta;
  auto entries = ParseSafetensorsHeader(
      R"({"__metadata__":{"format":"pt","n":1},"x":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})", 8,
      "mem", &meta);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_TRUE((*entries)[0].shape.empty());
  EXPECT_EQ(meta["format"], "pt");
  EXPECT_EQ(meta.count("n"), 0u);
}

}  // namespace
}  // namespace qwen3tts
