// Speech-tokenizer encoder and speaker encoder: seconds of compute per second of audio, on a
// model directory (e.g. a golden tiny model) and on full-size random encoders.
//
//   qwen3tts-bench-codec-encoder [--model-dir DIR] [--full-size] [--seconds S] [--threads N]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/codec/speech_encoder.h"
#include "common/codec/speech_encoder_random.h"
#include "common/codec/xvector_encoder.h"
#include "common/tensor/safetensors.h"
#include "common/util/file_util.h"

namespace {

namespace fs = std::filesystem;
using namespace qwen3tts;

template <typename F>
double TimePerAudioSecond(F&& run, double audio_seconds) {
  run();  // warm-up
  auto start = std::chrono::steady_clock::now();
  const int reps = 3;
  for (int i = 0; i < reps; ++i) run();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / reps;
  return s / audio_seconds;
}

void Report(const char* model, const Checkpoint& st_ckpt, const SpeechTokenizerConfig& st, const Checkpoint& spk_ckpt,
            const SpeakerEncoderConfig& spk, double seconds) {
  at::Tensor wav = at::randn({static_cast<int64_t>(seconds * 24000)}) * 0.1;
  auto encoder = SpeechEncoder::Load(st_ckpt, st);
  auto xvector = XVectorEncoder::Load(spk_ckpt, spk);
  if (!encoder.ok() || !xvector.ok()) {
    std::fprintf(stderr, "load failed: %s %s\n", std::string(encoder.status().message()).c_str(),
                 std::string(xvector.status().message()).c_str());
    std::exit(1);
  }
  double enc = TimePerAudioSecond([&] { (void)(*encoder)->Encode(wav); }, seconds);
  double spk_t = TimePerAudioSecond([&] { (void)(*xvector)->EmbedAudio(wav); }, seconds);
  std::printf("%-20s %-18s %10.4f %10.1fx\n", model, "speech encoder", enc, 1.0 / enc);
  std::printf("%-20s %-18s %10.4f %10.1fx\n", model, "speaker encoder", spk_t, 1.0 / spk_t);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir;
  bool full = false;
  double seconds = 5.0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--model-dir" && i + 1 < argc) model_dir = argv[++i];
    else if (a == "--full-size") full = true;
    else if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) at::set_num_threads(std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--model-dir DIR] [--full-size] [--seconds S] [--threads N]\n", argv[0]);
      return 2;
    }
  }
  std::printf("threads: %d, audio: %.1f s\n", at::get_num_threads(), seconds);
  std::printf("%-20s %-18s %10s %11s\n", "model", "stage", "s per s", "x realtime");
  if (!model_dir.empty()) {
    auto info = LoadModelInfo(model_dir);
    auto st_ckpt = Checkpoint::Open(JoinPath(model_dir, "speech_tokenizer"));
    auto ckpt = Checkpoint::Open(model_dir);
    if (!info.ok() || !st_ckpt.ok() || !ckpt.ok() || !info->speech_tokenizer || !info->config.speaker_encoder) {
      std::fprintf(stderr, "%s: needs a Base model directory with speech_tokenizer/\n", model_dir.c_str());
      return 1;
    }
    Report(fs::path(model_dir).filename().c_str(), *st_ckpt, *info->speech_tokenizer, *ckpt,
           *info->config.speaker_encoder, seconds);
  }
  if (full) {
    SpeechTokenizerConfig st;  // defaults are the released 12 Hz tokenizer's encoder shapes
    SpeakerEncoderConfig spk;
    fs::path dir = fs::temp_directory_path() / "qwen3tts_bench_encoders";
    fs::create_directories(dir);
    if (!WriteSafetensors((dir / "encoder.safetensors").string(), RandomSpeechEncoderWeights(st, 1)).ok() ||
        !WriteSafetensors((dir / "speaker.safetensors").string(), RandomSpeakerEncoderWeights(spk, 2)).ok()) {
      return 1;
    }
    auto st_ckpt = Checkpoint::Open((dir / "encoder.safetensors").string());
    auto spk_ckpt = Checkpoint::Open((dir / "speaker.safetensors").string());
    if (!st_ckpt.ok() || !spk_ckpt.ok()) return 1;
    Report("random full-size", *st_ckpt, st, *spk_ckpt, spk, seconds);
    fs::remove_all(dir);
  }
  return 0;
}
