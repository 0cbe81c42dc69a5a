// qwen3-tts-vocoder: the 12 Hz codec (frames -> 24 kHz PCM, audio -> codes) as a gRPC service.
//   qwen3-tts-vocoder --model-dir DIR [--listen 0.0.0.0:50052] [--threads N]
// DIR is a model directory (its speech_tokenizer/ is used) or a speech-tokenizer directory.
#include <ATen/Parallel.h>

#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "common/rpc/grpc_util.h"
#include "common/util/file_util.h"
#include "services/common/flags.h"
#include "services/vocoder/vocoder_service.h"

int main(int argc, char** argv) {
  using namespace qwen3tts;
  Flags flags(argc, argv, {"model-dir", "listen", "threads"});
  if (!flags.ok() || !flags.Has("model-dir")) {
    std::fprintf(stderr, "%s\nusage: qwen3-tts-vocoder --model-dir DIR [--config FILE.yaml] [--listen HOST:PORT] [--threads N]\n",
                 flags.error().c_str());
    return 2;
  }
  int threads = 0;
  if (flags.Has("threads") && (!absl::SimpleAtoi(flags.Get("threads"), &threads) || threads < 1)) {
    std::fprintf(stderr, "qwen3-tts-vocoder: --threads must be a positive integer\n");
    return 2;
  }
  if (threads > 0) at::set_num_threads(threads);
  std::string dir = flags.Get("model-dir");
  if (PathExists(JoinPath(dir, "speech_tokenizer/config.json"))) dir = JoinPath(dir, "speech_tokenizer");
  auto decoder = CodecDecoder::Load(dir);
  if (!decoder.ok()) return std::fprintf(stderr, "qwen3-tts-vocoder: %s\n", std::string(decoder.status().message()).c_str()), 1;
  std::shared_ptr<const SpeechEncoder> encoder;
  auto config = ParseSpeechTokenizerConfig(JoinPath(dir, "config.json"));
  auto ckpt = Checkpoint::Open(dir);
  if (config.ok() && ckpt.ok() && ckpt->Has("encoder.downsample.conv.weight")) {
    auto loaded = SpeechEncoder::Load(*ckpt, *config);
    if (!loaded.ok()) return std::fprintf(stderr, "qwen3-tts-vocoder: %s\n", std::string(loaded.status().message()).c_str()), 1;
    encoder = *loaded;
  }
  VocoderService service(*decoder, encoder);
  return RunServer("qwen3-tts-vocoder", flags.Get("listen", "0.0.0.0:50052"), {&service});
}
