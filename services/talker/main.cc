// qwen3-tts-talker: the token stage (talker + code predictor) as a gRPC service.
//   qwen3-tts-talker --model-dir DIR [--config FILE.yaml] [--listen 0.0.0.0:50051] [--dtype float32|bfloat16] ...
// Every key is documented in deploy/config/talker.yaml.
#include <cstdio>
#include <string>

#include "common/metrics/metrics.h"
#include "services/common/stage_flags.h"
#include "services/talker/talker_service.h"

int main(int argc, char** argv) {
  using namespace qwen3tts;
  const std::vector<FlagSpec> specs = TalkerFlagSpecs();
  Flags flags(argc, argv, specs);
  if (!ParseOrUsage(flags, "qwen3-tts-talker", specs)) return 2;
  const int threads = ApplyThreads(flags);
  const std::string dtype = flags.Get("dtype");
  SetBuildInfo("talker", dtype, threads);
  return RunServer(StageServerOptions(flags, "qwen3-tts-talker", "talker"), [&]() -> absl::StatusOr<ServiceList> {
    const std::string dir = flags.Get("model-dir");
    absl::StatusOr<ModelInfo> info = LoadModelInfo(dir);
    if (!info.ok()) return info.status();
    absl::StatusOr<Checkpoint> ckpt = Checkpoint::Open(dir);
    if (!ckpt.ok()) return ckpt.status();
    absl::StatusOr<WeightPrecision> precision = ParseWeightPrecision(dtype);
    if (!precision.ok()) return precision.status();
    auto model = TalkerModel::Load(*ckpt, info->config, *precision);
    if (!model.ok()) return model.status();
    ApplyPromptCache(flags, **model);
    std::shared_ptr<const XVectorEncoder> xvector;
    if (info->config.variant == ModelVariant::kBase && info->config.speaker_encoder.has_value()) {
      auto loaded = XVectorEncoder::Load(*ckpt, *info->config.speaker_encoder);
      if (!loaded.ok()) return loaded.status();
      xvector = *loaded;
    }
    const TalkerThreads split = ResolveTalkerThreads(flags, threads);
    auto service =
        std::make_shared<TalkerService>(*info, *model, xvector, StageStreamLimits(flags), split.steps, split.prefill,
                                        flags.GetBool("lone-stream-all-threads"));
    absl::Status warm = service->WarmUp();
    if (!warm.ok()) return warm;
    return ServiceList{service};
  });
}
