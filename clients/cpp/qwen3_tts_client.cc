// qwen3-tts-client: streams speech from a gateway (or `qwen3-tts serve`) to a WAV file or stdout
// and reports the time to first audio.
//
//   qwen3-tts-client --server HOST:PORT --text TEXT [--out FILE.wav | --out -]
//       [--speaker NAME | --design TEXT | --ref-audio FILE [--ref-text TEXT | --x-vector-only]]
//       [--instruct TEXT] [--language NAME] [--seed N] [--greedy] [--max-seconds S] [--deadline S]
// With --out - raw 16-bit little-endian PCM at 24 kHz is written to stdout as it arrives.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "common/audio/audio_file.h"
#include "qwen3tts/v1/tts.grpc.pb.h"

namespace {

int Usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "qwen3-tts-client: %s\n", error.c_str());
  std::fprintf(stderr,
               "usage: qwen3-tts-client --server HOST:PORT --text TEXT [--out FILE.wav | --out -]\n"
               "         [--speaker NAME | --design TEXT | --ref-audio FILE [--ref-text TEXT | --x-vector-only]]\n"
               "         [--instruct TEXT] [--language NAME] [--seed N] [--greedy] [--max-seconds S] [--deadline S]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace qwen3tts;
  std::map<std::string, std::string> a;
  const std::vector<std::string> flags = {"greedy", "x-vector-only"};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) return Usage("unexpected argument '" + arg + "'");
    std::string name = arg.substr(2);
    bool is_flag = false;
    for (const auto& f : flags) is_flag = is_flag || f == name;
    if (is_flag) {
      a[name] = "1";
    } else if (i + 1 < argc) {
      a[name] = argv[++i];
    } else {
      return Usage("--" + name + " needs a value");
    }
  }
  for (const auto& [k, v] : a) {
    static const std::vector<std::string> known = {"server", "text", "out", "speaker", "design", "ref-audio", "ref-text",
                                                   "x-vector-only", "instruct", "language", "seed", "greedy",
                                                   "max-seconds", "deadline"};
    bool ok = false;
    for (const auto& n : known) ok = ok || n == k;
    if (!ok) return Usage("unknown option --" + k);
  }
  if (!a.count("server") || !a.count("text")) return Usage("--server and --text are required");

  v1::SynthesizeRequest request;
  request.set_text(a["text"]);
  v1::SynthesisConfig* config = request.mutable_config();
  config->mutable_audio()->set_encoding(v1::PCM_F32LE);
  if (a.count("language")) config->set_language(a["language"]);
  v1::VoiceSelection* voice = config->mutable_voice();
  if (a.count("speaker")) voice->set_speaker(a["speaker"]);
  if (a.count("design")) voice->set_design(a["design"]);
  if (a.count("instruct")) voice->set_instruct(a["instruct"]);
  if (a.count("ref-audio")) {
    std::ifstream in(a["ref-audio"], std::ios::binary);
    if (!in) return Usage("--ref-audio: cannot read " + a["ref-audio"]);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    voice->mutable_reference()->set_audio(bytes.str());
    voice->mutable_reference()->set_text(a.count("ref-text") ? a["ref-text"] : "");
    voice->mutable_reference()->set_x_vector_only(a.count("x-vector-only") != 0);
  }
  if (a.count("greedy")) config->mutable_sampling()->set_greedy(true);
  if (a.count("seed")) {
    uint64_t seed;
    if (!absl::SimpleAtoi(a["seed"], &seed)) return Usage("--seed: not a number");
    config->mutable_sampling()->set_seed(seed);
  }
  double max_seconds = 0, deadline = 300;
  if (a.count("max-seconds") && !absl::SimpleAtod(a["max-seconds"], &max_seconds)) return Usage("--max-seconds: not a number");
  if (a.count("deadline") && !absl::SimpleAtod(a["deadline"], &deadline)) return Usage("--deadline: not a number");
  config->set_max_duration_seconds(static_cast<float>(max_seconds));

  auto stub = v1::TextToSpeech::NewStub(grpc::CreateChannel(a["server"], grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(deadline * 1000)));
  const auto start = std::chrono::steady_clock::now();
  auto reader = stub->Synthesize(&context, request);
  const std::string out = a.count("out") ? a["out"] : "out.wav";
  const bool to_stdout = out == "-";
  std::vector<float> samples;
  double first_audio = -1;
  int sample_rate = 24000;
  v1::SynthesizeResponse response;
  while (reader->Read(&response)) {
    if (response.has_metadata()) sample_rate = response.metadata().sample_rate_hertz();
    if (response.has_audio() && !response.audio().data().empty()) {
      if (first_audio < 0) first_audio = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const std::string& d = response.audio().data();
      std::vector<float> chunk(d.size() / sizeof(float));
      std::memcpy(chunk.data(), d.data(), chunk.size() * sizeof(float));
      if (to_stdout) {
        std::string pcm16(chunk.size() * 2, '\0');
        for (size_t i = 0; i < chunk.size(); ++i) {
          float c = chunk[i] < -1 ? -1 : (chunk[i] > 1 ? 1 : chunk[i]);
          int16_t s = static_cast<int16_t>(c * 32767.0f);
          std::memcpy(&pcm16[2 * i], &s, 2);
        }
        std::fwrite(pcm16.data(), 1, pcm16.size(), stdout);
        std::fflush(stdout);
      } else {
        samples.insert(samples.end(), chunk.begin(), chunk.end());
      }
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) {
    std::fprintf(stderr, "qwen3-tts-client: %s: %s\n", std::to_string(status.error_code()).c_str(),
                 status.error_message().c_str());
    return 1;
  }
  if (!to_stdout) {
    auto written = WriteWavFile(out, samples, sample_rate, WavEncoding::kPcm16);
    if (!written.ok()) {
      std::fprintf(stderr, "qwen3-tts-client: %s\n", std::string(written.message()).c_str());
      return 1;
    }
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "time to first audio: %.0f ms; %.2f s of audio in %.2f s%s%s\n", first_audio * 1e3,
               static_cast<double>(samples.size()) / sample_rate, total, to_stdout ? "" : " -> ", to_stdout ? "" : out.c_str());
  return 0;
}
