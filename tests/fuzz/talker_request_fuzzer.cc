// libFuzzer target: request validation on the talker side. Byte 0 picks a tiny golden model
// (CustomVoice, VoiceDesign, Base); the rest is parsed as a wire qwen3tts.v1.GenerateRequest,
// converted with ToTalkerRequest (services/common/proto_convert.h), validated with
// ValidateGenerationOptions and started with TalkerSequence::Start (which validates ids, speaker,
// language, embedding and reference codes, then runs the prefill), plus up to two decoding steps.
// Any input must give a clean status, never a crash, an exception or undefined behaviour.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/stubs/logging.h"
#include "common/talker/talker_generator.h"
#include "common/talker/talker_model.h"
#include "common/tensor/checkpoint.h"
#include "common/tensor/model_config.h"
#include "qwen3tts/v1/talker.pb.h"
#include "services/common/proto_convert.h"
#include "tests/fuzz/golden_dir.h"

namespace {

struct Loaded {
  std::shared_ptr<const qwen3tts::TalkerModel> model;
  qwen3tts::GenerationOptions defaults;
};

Loaded g_models[3];

Loaded LoadOrDie(const char* name) {
  const std::string dir = qwen3tts_fuzz::GoldenModelDir(name);
  auto info = qwen3tts::LoadModelInfo(dir);
  if (!info.ok()) {
    std::fprintf(stderr, "%s: %s (set QWEN3TTS_GOLDEN_DIR)\n", dir.c_str(), std::string(info.status().message()).c_str());
    std::exit(1);
  }
  auto ckpt = qwen3tts::Checkpoint::Open(dir);
  if (!ckpt.ok()) {
    std::fprintf(stderr, "%s: %s\n", dir.c_str(), std::string(ckpt.status().message()).c_str());
    std::exit(1);
  }
  auto model = qwen3tts::TalkerModel::Load(*ckpt, info->config);
  if (!model.ok()) {
    std::fprintf(stderr, "%s: %s\n", dir.c_str(), std::string(model.status().message()).c_str());
    std::exit(1);
  }
  return {*model, qwen3tts::DefaultGenerationOptions(info->generation)};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // Invalid UTF-8 in string fields is logged by protobuf on every such input: keep the output readable.
  google::protobuf::SetLogHandler(nullptr);
  g_models[0] = LoadOrDie("tiny-customvoice");
  g_models[1] = LoadOrDie("tiny-voicedesign");
  g_models[2] = LoadOrDie("tiny-base");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Loaded& m = g_models[data[0] % 3];
  const bool default_non_streaming = (data[0] & 4) != 0;
  qwen3tts::v1::GenerateRequest wire;
  if (!wire.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
  auto request = qwen3tts::ToTalkerRequest(wire, m.defaults, default_non_streaming);
  if (!request.ok()) return 0;
  // Keep each input cheap: the prefill is the point, not long generations.
  request->options.max_new_tokens = std::min<int64_t>(request->options.max_new_tokens, 3);
  if (!qwen3tts::ValidateGenerationOptions(request->options).ok()) return 0;
  auto seq = qwen3tts::TalkerSequence::Start(m.model, *request);
  if (!seq.ok()) return 0;
  for (int i = 0; i < 2 && (*seq)->state() == qwen3tts::TalkerSequence::State::kRunning; ++i) {
    if (!(*seq)->Step().ok()) break;
  }
  return 0;
}
