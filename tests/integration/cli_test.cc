// The qwen3-tts command line as a user runs it: make a random model, inspect it, synthesize to a
// WAV file (preset speaker and cloning from a golden reference clip), and clear errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "common/audio/audio_file.h"
#include "tests/support/golden.h"

namespace qwen3tts {
namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr
};

Result RunCli(const std::string& args) {
  std::string command = std::string(QWEN3TTS_CLI) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  Result r{-1, ""};
  if (pipe == nullptr) return r;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) r.output.append(buffer.data(), n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qwen3tts_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(CliTest, RandomModelInfoAndSynthesize) {
  Result made = RunCli("make-random-model --shape tiny --variant custom_voice --out " + Path("model"));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  Result info = RunCli("info --model-dir " + Path("model"));
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find("custom_voice"), std::string::npos);
  EXPECT_NE(info.output.find("vivian"), std::string::npos);

  // The same sentence, speaker and seed each time; `extra` flags, into `wav`.
  auto synthesize = [this](const std::string& extra, const std::string& wav) {
    return RunCli("synthesize --model-dir " + Path("model") +
                  " --text 'Hello from the command line.' --speaker Vivian --language English --seed 7"
                  " --max-frames 12 " + extra + " --out " + Path(wav));
  };
  Result synth = synthesize("", "hello.wav");
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  auto audio = ReadAudioFile(Path("hello.wav"), 0);
  ASSERT_TRUE(audio.ok()) << audio.status();
  EXPECT_EQ(audio->sample_rate, 24000);
  EXPECT_GT(audio->samples.size(), 0u);
  EXPECT_EQ(audio->samples.size() % 1920, 0u);
  EXPECT_LE(audio->samples.size(), 12u * 1920);

  // The same seed gives the same audio.
  Result again = synthesize("", "again.wav");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  auto audio2 = ReadAudioFile(Path("again.wav"), 0);
  ASSERT_TRUE(audio2.ok());
  EXPECT_EQ(audio->samples, audio2->samples);

  // A 4-bit vocoder pre-transformer: the talker's frames are the same, so the same length of audio,
  // decoded differently.
  Result int4 = synthesize("--vocoder-dtype int4-g128", "int4.wav");
  ASSERT_EQ(int4.exit_code, 0) << int4.output;
  auto audio3 = ReadAudioFile(Path("int4.wav"), 0);
  ASSERT_TRUE(audio3.ok());
  EXPECT_EQ(audio3->samples.size(), audio->samples.size());
  EXPECT_NE(audio3->samples, audio->samples);
  Result bf16 = RunCli("synthesize --model-dir " + Path("model") + " --text hi --speaker Vivian --vocoder-dtype bfloat16");
  EXPECT_NE(bf16.exit_code, 0);
  EXPECT_NE(bf16.output.find("--vocoder-dtype: 'bfloat16' is not allowed (allowed: float32, int8, int4, int4-g128)"),
            std::string::npos)
      << bf16.output;
}

TEST_F(CliTest, ClonesFromAReferenceClip) {
  const std::string model = testing::GoldenPath("models/tiny-base");
  const std::string ref = testing::GoldenPath("cases/ref_en.wav");
  ASSERT_TRUE(fs::exists(model) && fs::exists(ref)) << "golden files missing under " << testing::GoldenDir();
  Result synth = RunCli("synthesize --model-dir " + model + " --text 'A cloned voice.' --ref-audio " + ref +
                     " --ref-text 'The quick brown fox jumps over the lazy dog.' --max-frames 10 --seed 1 --out " +
                     Path("clone.wav"));
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  auto audio = ReadAudioFile(Path("clone.wav"), 0);
  ASSERT_TRUE(audio.ok()) << audio.status();
  EXPECT_GT(audio->samples.size(), 0u);
}

TEST_F(CliTest, BadInputIsAClearErrorWithNonZeroExit) {
  ASSERT_EQ(RunCli("make-random-model --variant voice_design --out " + Path("vd")).exit_code, 0);
  Result speaker = RunCli("synthesize --model-dir " + Path("vd") + " --text hi --speaker Ryan");
  EXPECT_NE(speaker.exit_code, 0);
  EXPECT_NE(speaker.output.find("VoiceDesign"), std::string::npos) << speaker.output;
  Result language = RunCli("synthesize --model-dir " + Path("vd") + " --text hi --language Klingon");
  EXPECT_NE(language.exit_code, 0);
  EXPECT_NE(language.output.find("available"), std::string::npos) << language.output;
  Result missing = RunCli("synthesize --model-dir " + Path("nowhere") + " --text hi");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("not found"), std::string::npos) << missing.output;
  Result bad_flag = RunCli("synthesize --bogus 1");
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_NE(bad_flag.output.find("--bogus"), std::string::npos);
  Result shape = RunCli("make-random-model --shape 13b --out " + Path("x"));
  EXPECT_NE(shape.exit_code, 0);
  EXPECT_NE(shape.output.find("tiny, 0.6b, 1.7b"), std::string::npos);
  // Counts out of range are refused before the model loads, naming the flag and its range (the
  // services' flags of the same names have the same).
  Result frames = RunCli("synthesize --model-dir " + Path("vd") + " --text hi --max-frames -5");
  EXPECT_NE(frames.exit_code, 0);
  EXPECT_NE(frames.output.find("--max-frames must be in [0, 2147483647] (0: the model's limit), got -5"),
            std::string::npos)
      << frames.output;
  Result threads = RunCli("synthesize --model-dir " + Path("vd") + " --text hi --threads 100000");
  EXPECT_NE(threads.exit_code, 0);
  EXPECT_NE(threads.output.find("--threads must be in [0, 1024] (0: every core), got 100000"), std::string::npos)
      << threads.output;
}

}  // namespace
}  // namespace qwen3tts
