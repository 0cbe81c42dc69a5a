// `qwen3-tts serve` (all stages in one process) and the C++ client, as a user runs them: the
// client streams a WAV file and reports time to first audio; errors come back with the field name.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include "common/audio/audio_file.h"
#include "tests/support/golden.h"
#include "tests/support/server_process.h"

namespace qwen3tts {
namespace {

namespace fs = std::filesystem;

std::pair<int, std::string> Client(const std::string& args) {
  FILE* pipe = popen((std::string(QWEN3TTS_CLIENT) + " " + args + " 2>&1").c_str(), "r");
  std::string output;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(ServeClientTest, ClientStreamsAWavFromTheAllInOneServer) {
  const std::string model = testing::GoldenPath("models/tiny-customvoice");
  ASSERT_TRUE(fs::exists(model)) << model;
  testing::ServerProcess server(QWEN3TTS_CLI, {"serve", "--model-dir", model, "--listen", "127.0.0.1:0", "--threads", "1"});
  ASSERT_FALSE(server.address().empty()) << "qwen3-tts serve did not start";
  const std::string out = (fs::temp_directory_path() / ("qwen3tts_client_" + std::to_string(::getpid()) + ".wav")).string();
  auto [code, output] = Client("--server " + server.address() +
                               " --text 'Streaming to a file.' --speaker Serena --language English --greedy --max-seconds 1.2 --out " + out);
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("time to first audio"), std::string::npos) << output;
  auto audio = ReadAudioFile(out, 0);
  ASSERT_TRUE(audio.ok()) << audio.status();
  EXPECT_EQ(audio->sample_rate, 24000);
  EXPECT_GT(audio->samples.size(), 0u);
  EXPECT_LE(audio->samples.size(), 15u * 1920);  // 1.2 s = 15 frames at most
  fs::remove(out);

  auto [bad_code, bad_output] = Client("--server " + server.address() + " --text hi --speaker nobody --out " + out);
  EXPECT_NE(bad_code, 0);
  EXPECT_NE(bad_output.find("config.voice.speaker"), std::string::npos) << bad_output;
}

}  // namespace
}  // namespace qwen3tts
