// qwen3-tts-vocoder: the 12 Hz codec (frames -> 24 kHz PCM, audio -> codes) as a gRPC service.
//   qwen3-tts-vocoder --model-dir DIR [--config FILE.yaml] [--listen 0.0.0.0:50052] [--threads N] ...
// DIR is a model directory (its speech_tokenizer/ is used) or a speech-tokenizer directory. Every
// key is documented in deploy/config/vocoder.yaml.
#include <chrono>
#include <cstdio>
#include <string>

#include "common/metrics/metrics.h"
#include "common/util/file_util.h"
#include "services/common/stage_flags.h"
#include "services/vocoder/vocoder_service.h"

int main(int argc, char** argv) {
  using namespace qwen3tts;
  const std::vector<FlagSpec> specs = VocoderFlagSpecs();
  Flags flags(argc, argv, specs);
  if (!ParseOrUsage(flags, "qwen3-tts-vocoder", specs)) return 2;
  const std::string dtype = flags.Get("dtype");
  SetBuildInfo("vocoder", dtype, ApplyThreads(flags));
  return RunServer(StageServerOptions(flags, "qwen3-tts-vocoder", "vocoder"), [&]() -> absl::StatusOr<ServiceList> {
    std::string dir = flags.Get("model-dir");
    if (PathExists(JoinPath(dir, "speech_tokenizer/config.json"))) dir = JoinPath(dir, "speech_tokenizer");
    absl::StatusOr<WeightPrecision> precision = ParseWeightPrecision(dtype);
    if (!precision.ok()) return precision.status();
    absl::StatusOr<WeightPrecision> conv_precision = ParseWeightPrecision(flags.Get("conv-dtype"));
    if (!conv_precision.ok()) return conv_precision.status();
    auto decoder = CodecDecoder::Load(dir, *precision, *conv_precision);
    if (!decoder.ok()) return decoder.status();
    std::shared_ptr<const SpeechEncoder> encoder;
    auto config = ParseSpeechTokenizerConfig(JoinPath(dir, "config.json"));
    auto ckpt = Checkpoint::Open(dir);
    if (config.ok() && ckpt.ok() && ckpt->Has("encoder.downsample.conv.weight")) {
      auto loaded = SpeechEncoder::Load(*ckpt, *config);
      if (!loaded.ok()) return loaded.status();
      encoder = *loaded;
    }
    auto service = std::make_shared<VocoderService>(*decoder, encoder, StageStreamLimits(flags), /*compute_threads=*/0,
                                                    std::chrono::milliseconds(flags.GetInt("gather-ms")));
    absl::Status warm = service->WarmUp();
    if (!warm.ok()) return warm;
    return ServiceList{service};
  });
}
