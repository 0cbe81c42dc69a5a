// Service configuration: YAML file + flags (flags win), unknown keys and bad values rejected with
// the key named, and the documented example configs parse.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "services/common/flags.h"
#include "services/common/stage_flags.h"

namespace qwen3tts {
namespace {

Flags ParseTyped(std::vector<std::string> args, const std::vector<FlagSpec>& specs) {
  std::vector<char*> argv = {const_cast<char*>("binary")};
  for (std::string& a : args) argv.push_back(a.data());
  return Flags(static_cast<int>(argv.size()), argv.data(), specs);
}

Flags Parse(std::vector<std::string> args, const std::vector<std::string>& allowed) {
  std::vector<char*> argv = {const_cast<char*>("binary")};
  for (std::string& a : args) argv.push_back(a.data());
  return Flags(static_cast<int>(argv.size()), argv.data(), allowed);
}

std::string WriteYaml(const std::string& text) {
  std::string path = "/tmp/qwen3tts_flags_" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << text;
  return path;
}

TEST(ServiceFlagsTest, YamlValuesAndFlagOverrides) {
  std::string path = WriteYaml("model_dir: /models/a\nlisten: 0.0.0.0:1\nthreads: 3\n");
  Flags f = Parse({"--config", path, "--listen", "127.0.0.1:9"}, {"model-dir", "listen", "threads"});
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ(f.Get("model-dir"), "/models/a");
  EXPECT_EQ(f.Get("listen"), "127.0.0.1:9");
  EXPECT_EQ(f.Get("threads"), "3");
}

TEST(ServiceFlagsTest, RejectsUnknownKeysBadValuesAndBadFiles) {
  Flags unknown = Parse({"--config", WriteYaml("model_dir: x\nlisten_port: 5\n")}, {"model-dir", "listen"});
  EXPECT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("listen_port"), std::string::npos) << unknown.error();
  EXPECT_NE(unknown.error().find("allowed: model_dir, listen"), std::string::npos) << unknown.error();
  Flags nested = Parse({"--config", WriteYaml("listen: {host: x}\n")}, {"listen"});
  EXPECT_FALSE(nested.ok());
  EXPECT_NE(nested.error().find("'listen'"), std::string::npos);
  EXPECT_FALSE(Parse({"--config", WriteYaml("[1, 2]")}, {"listen"}).ok());
  EXPECT_FALSE(Parse({"--config", WriteYaml("a: [unclosed")}, {"a"}).ok());
  EXPECT_FALSE(Parse({"--config", "/nonexistent.yaml"}, {"a"}).ok());
  EXPECT_FALSE(Parse({"--bogus", "1"}, {"a"}).ok());
  EXPECT_FALSE(Parse({"--a"}, {"a"}).ok());
}

TEST(ServiceFlagsTest, DocumentedExampleConfigsHoldEveryKeyAndParse) {
  const std::string dir = QWEN3TTS_DEPLOY_CONFIG_DIR;
  const std::vector<std::pair<std::string, std::vector<FlagSpec>>> stages = {
      {"talker", TalkerFlagSpecs()}, {"vocoder", VocoderFlagSpecs()}, {"gateway", GatewayFlagSpecs()},
      {"serve", ServeFlagSpecs()}};
  for (const auto& [stage, specs] : stages) {
    const std::string path = dir + "/" + stage + ".yaml";
    Flags f = ParseTyped({"--config", path}, specs);
    ASSERT_TRUE(f.ok()) << path << ": " << f.error();
    // Documented means present in the example: every key the binary accepts appears in the file.
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const FlagSpec& s : specs) {
      std::string key = s.name;
      std::replace(key.begin(), key.end(), '-', '_');
      EXPECT_NE(text.find("\n" + key + ":"), std::string::npos) << path << " does not document '" << key << "'";
    }
  }
  Flags gateway = ParseTyped({"--config", dir + "/gateway.yaml"}, GatewayFlagSpecs());
  EXPECT_EQ(gateway.Get("talker"), "dns:///qwen3-tts-talker:50051");
  EXPECT_EQ(gateway.GetInt("max-streams"), 16);
}

TEST(ServiceFlagsTest, TypedKeysAreCheckedWithTheKeyPathInTheMessage) {
  const std::vector<FlagSpec> specs = TalkerFlagSpecs();
  Flags bad_int = ParseTyped({"--model-dir", "m", "--config", WriteYaml("threads: two\n")}, specs);
  EXPECT_FALSE(bad_int.ok());
  EXPECT_NE(bad_int.error().find(": threads: expected an integer in [0, 1024], got 'two'"), std::string::npos)
      << bad_int.error();
  Flags out_of_range = ParseTyped({"--model-dir", "m", "--max-streams", "-3"}, specs);
  EXPECT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.error().find("--max-streams: -3 is out of range [0, 100000]"), std::string::npos)
      << out_of_range.error();
  Flags bad_choice = ParseTyped({"--model-dir", "m", "--dtype", "float16"}, specs);
  EXPECT_FALSE(bad_choice.ok());
  EXPECT_NE(bad_choice.error().find("'float16' is not one of float32, bfloat16, int8, int4, int4-g128"),
            std::string::npos)
      << bad_choice.error();
  Flags int4 = ParseTyped({"--model-dir", "m", "--dtype", "int4"}, specs);
  ASSERT_TRUE(int4.ok()) << int4.error();
  EXPECT_EQ(int4.Get("dtype"), "int4");
  Flags int4_g128 = ParseTyped({"--model-dir", "m", "--dtype", "int4-g128"}, specs);
  ASSERT_TRUE(int4_g128.ok()) << int4_g128.error();
  EXPECT_EQ(int4_g128.Get("dtype"), "int4-g128");
  // The vocoder's linear layers have no bfloat16 form: its flag names what it takes.
  Flags vocoder_bf16 = ParseTyped({"--model-dir", "m", "--dtype", "bfloat16"}, VocoderFlagSpecs());
  EXPECT_FALSE(vocoder_bf16.ok());
  EXPECT_NE(vocoder_bf16.error().find("'bfloat16' is not one of float32, int8, int4, int4-g128"), std::string::npos)
      << vocoder_bf16.error();
  for (const char* dtype : {"int4", "int4-g128"}) {
    Flags vocoder_4bit = ParseTyped({"--model-dir", "m", "--dtype", dtype}, VocoderFlagSpecs());
    ASSERT_TRUE(vocoder_4bit.ok()) << vocoder_4bit.error();
    EXPECT_EQ(vocoder_4bit.Get("dtype"), dtype);
    Flags serve = ParseTyped({"--model-dir", "m", "--config", WriteYaml(std::string("vocoder_dtype: ") + dtype + "\n")},
                             ServeFlagSpecs());
    ASSERT_TRUE(serve.ok()) << serve.error();
    EXPECT_EQ(serve.Get("vocoder-dtype"), dtype);
  }
  Flags bad_double = ParseTyped({"--model-dir", "m", "--drain-seconds", "nan"}, specs);
  EXPECT_FALSE(bad_double.ok());
  EXPECT_NE(bad_double.error().find("--drain-seconds"), std::string::npos) << bad_double.error();
  Flags missing = ParseTyped({}, specs);
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("'model_dir'"), std::string::npos) << missing.error();
  EXPECT_NE(missing.error().find("QWEN3TTS_MODEL_DIR"), std::string::npos) << missing.error();
}

TEST(ServiceFlagsTest, VocoderConvolutionPrecisionTakesFloat32Bfloat16OrInt8) {
  Flags vocoder = ParseTyped({"--model-dir", "m", "--conv-dtype", "bfloat16"}, VocoderFlagSpecs());
  ASSERT_TRUE(vocoder.ok()) << vocoder.error();
  EXPECT_EQ(vocoder.Get("conv-dtype"), "bfloat16");
  EXPECT_EQ(ParseTyped({"--model-dir", "m"}, VocoderFlagSpecs()).Get("conv-dtype"), "float32");
  EXPECT_EQ(ParseTyped({"--model-dir", "m", "--conv-dtype", "int8"}, VocoderFlagSpecs()).Get("conv-dtype"), "int8");
  Flags bad = ParseTyped({"--model-dir", "m", "--conv-dtype", "int4"}, VocoderFlagSpecs());
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("'int4' is not one of float32, bfloat16, int8"), std::string::npos) << bad.error();
  Flags serve = ParseTyped({"--model-dir", "m", "--config", WriteYaml("vocoder_conv_dtype: bfloat16\n")}, ServeFlagSpecs());
  ASSERT_TRUE(serve.ok()) << serve.error();
  EXPECT_EQ(serve.Get("vocoder-conv-dtype"), "bfloat16");
}

// The talker's decoding steps take step_threads (0 = all, capped at the process's threads); its
// prefills always take every thread of the process.
TEST(ServiceFlagsTest, TalkerStepThreadsSplitFromPrefillThreads) {
  const std::vector<FlagSpec> specs = TalkerFlagSpecs();
  TalkerThreads all = ResolveTalkerThreads(ParseTyped({"--model-dir", "m"}, specs), 4);
  EXPECT_EQ(all.steps, 4);
  EXPECT_EQ(all.prefill, 4);
  TalkerThreads split = ResolveTalkerThreads(ParseTyped({"--model-dir", "m", "--step-threads", "1"}, specs), 2);
  EXPECT_EQ(split.steps, 1);
  EXPECT_EQ(split.prefill, 2);
  Flags from_file = ParseTyped({"--model-dir", "m", "--config", WriteYaml("step_threads: 8\n")}, specs);
  ASSERT_TRUE(from_file.ok()) << from_file.error();
  TalkerThreads capped = ResolveTalkerThreads(from_file, 2);
  EXPECT_EQ(capped.steps, 2);
  EXPECT_EQ(capped.prefill, 2);
  Flags bad = ParseTyped({"--model-dir", "m", "--step-threads", "-1"}, specs);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("step"), std::string::npos) << bad.error();
  // A lone stream's steps on every thread: off unless asked, in the talker and in `serve`.
  EXPECT_FALSE(ParseTyped({"--model-dir", "m"}, specs).GetBool("lone-stream-all-threads"));
  for (const std::vector<FlagSpec>& stage : {specs, ServeFlagSpecs()}) {
    Flags lone = ParseTyped({"--model-dir", "m", "--config", WriteYaml("lone_stream_all_threads: true\n")}, stage);
    ASSERT_TRUE(lone.ok()) << lone.error();
    EXPECT_TRUE(lone.GetBool("lone-stream-all-threads"));
  }
}

TEST(ServiceFlagsTest, PrecedenceIsFlagThenEnvironmentThenFileThenDefault) {
  const std::vector<FlagSpec> specs = TalkerFlagSpecs();
  const std::string file = WriteYaml("model_dir: /from/file\nthreads: 3\nmax_queue: 7\n");
  ::setenv("QWEN3TTS_THREADS", "5", 1);
  ::setenv("QWEN3TTS_MAX_QUEUE", "9", 1);
  Flags f = ParseTyped({"--config", file, "--max-queue", "11"}, specs);
  ::unsetenv("QWEN3TTS_THREADS");
  ::unsetenv("QWEN3TTS_MAX_QUEUE");
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ(f.Get("model-dir"), "/from/file");   // file
  EXPECT_EQ(f.GetInt("threads"), 5);              // environment over file
  EXPECT_EQ(f.GetInt("max-queue"), 11);           // flag over environment
  EXPECT_EQ(f.GetInt("max-streams"), 4);          // default
  EXPECT_EQ(f.Get("listen"), "0.0.0.0:50051");
  ::setenv("QWEN3TTS_THREADS", "many", 1);
  Flags bad_env = ParseTyped({"--model-dir", "m"}, specs);
  ::unsetenv("QWEN3TTS_THREADS");
  EXPECT_FALSE(bad_env.ok());
  EXPECT_NE(bad_env.error().find("$QWEN3TTS_THREADS"), std::string::npos) << bad_env.error();
}

}  // namespace
}  // namespace qwen3tts
