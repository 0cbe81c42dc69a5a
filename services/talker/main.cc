// qwen3-tts-talker: the token stage (talker + code predictor) as a gRPC service.
//   qwen3-tts-talker --model-dir DIR [--listen 0.0.0.0:50051] [--dtype float32|bfloat16] [--threads N]
#include <ATen/Parallel.h>

#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "common/rpc/grpc_util.h"
#include "services/common/flags.h"
#include "services/talker/talker_service.h"

int main(int argc, char** argv) {
  using namespace qwen3tts;
  Flags flags(argc, argv, {"model-dir", "listen", "dtype", "threads"});
  if (!flags.ok() || !flags.Has("model-dir")) {
    std::fprintf(stderr, "%s\nusage: qwen3-tts-talker --model-dir DIR [--config FILE.yaml] [--listen HOST:PORT] [--dtype float32|bfloat16] [--threads N]\n",
                 flags.error().c_str());
    return 2;
  }
  int threads = 0;
  if (flags.Has("threads") && (!absl::SimpleAtoi(flags.Get("threads"), &threads) || threads < 1)) {
    std::fprintf(stderr, "qwen3-tts-talker: --threads must be a positive integer\n");
    return 2;
  }
  if (threads > 0) at::set_num_threads(threads);
  const std::string dir = flags.Get("model-dir");
  auto info = LoadModelInfo(dir);
  auto ckpt = info.ok() ? Checkpoint::Open(dir) : absl::StatusOr<Checkpoint>(info.status());
  if (!ckpt.ok()) return std::fprintf(stderr, "qwen3-tts-talker: %s\n", std::string(ckpt.status().message()).c_str()), 1;
  const std::string dtype = flags.Get("dtype", "float32");
  if (dtype != "float32" && dtype != "bfloat16") {
    std::fprintf(stderr, "qwen3-tts-talker: --dtype must be float32 or bfloat16, got '%s'\n", dtype.c_str());
    return 2;
  }
  auto model = TalkerModel::Load(*ckpt, info->config, dtype == "bfloat16" ? at::kBFloat16 : at::kFloat);
  if (!model.ok()) return std::fprintf(stderr, "qwen3-tts-talker: %s\n", std::string(model.status().message()).c_str()), 1;
  std::shared_ptr<const XVectorEncoder> xvector;
  if (info->config.variant == ModelVariant::kBase && info->config.speaker_encoder.has_value()) {
    auto loaded = XVectorEncoder::Load(*ckpt, *info->config.speaker_encoder);
    if (!loaded.ok()) return std::fprintf(stderr, "qwen3-tts-talker: %s\n", std::string(loaded.status().message()).c_str()), 1;
    xvector = *loaded;
  }
  TalkerService service(*info, *model, xvector);
  return RunServer("qwen3-tts-talker", flags.Get("listen", "0.0.0.0:50051"), {&service});
}
