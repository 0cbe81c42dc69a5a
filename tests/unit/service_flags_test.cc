// Service configuration: YAML file + flags (flags win), unknown keys and bad values rejected with
// the key named, and the documented example configs parse.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "services/common/flags.h"

namespace qwen3tts {
namespace {

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

TEST(ServiceFlagsTest, DocumentedExampleConfigsParse) {
  const std::string dir = QWEN3TTS_DEPLOY_CONFIG_DIR;
  EXPECT_TRUE(Parse({"--config", dir + "/talker.yaml"}, {"model-dir", "listen", "dtype", "threads"}).ok());
  EXPECT_TRUE(Parse({"--config", dir + "/vocoder.yaml"}, {"model-dir", "listen", "threads"}).ok());
  Flags gateway = Parse({"--config", dir + "/gateway.yaml"},
                        {"model-dir", "talker", "vocoder", "listen", "voice-dir", "http-listen"});
  ASSERT_TRUE(gateway.ok()) << gateway.error();
  EXPECT_EQ(gateway.Get("talker"), "dns:///qwen3-tts-talker:50051");
}

}  // namespace
}  // namespace qwen3tts
