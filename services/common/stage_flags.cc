#include "services/common/stage_flags.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/codec/decode_batcher.h"
#include "common/nn/parallel.h"
#include "common/talker/talker_model.h"

namespace qwen3tts {

std::vector<FlagSpec> StageFlagSpecs(const std::string& default_listen, const std::string& default_metrics_listen,
                                     int default_max_streams) {
  return {
      FlagSpec::Required("model-dir"),
      FlagSpec::String("listen", default_listen),
      FlagSpec::String("metrics-listen", default_metrics_listen),
      FlagSpec::Double("drain-seconds", 30.0, 0.0, 3600.0),
      FlagSpec::Int("threads", 0, 0, kMaxThreads),
      FlagSpec::Int("max-streams", default_max_streams, 0, 100000),
      FlagSpec::Int("max-queue", 2 * default_max_streams, 0, 100000),
      FlagSpec::String("tls-cert-file"),
      FlagSpec::String("tls-key-file"),
      FlagSpec::String("tls-client-ca-file"),
      FlagSpec::Bool("plaintext", false),
  };
}

const std::vector<std::string>& TalkerDtypes() {
  static const std::vector<std::string> dtypes = {"float32", "bfloat16", "int8", "int4", "int4-g128"};
  return dtypes;
}

const std::vector<std::string>& VocoderDtypes() {
  static const std::vector<std::string> dtypes = {"float32", "int8", "int4", "int4-g128"};
  return dtypes;
}

const std::vector<std::string>& VocoderConvDtypes() {
  static const std::vector<std::string> dtypes = {"float32", "bfloat16", "int8"};
  return dtypes;
}

std::vector<FlagSpec> TalkerFlagSpecs() {
  std::vector<FlagSpec> specs = StageFlagSpecs("0.0.0.0:50051", "0.0.0.0:9101", /*default_max_streams=*/4);
  specs.push_back(FlagSpec::OneOf("dtype", TalkerDtypes(), "float32"));
  specs.push_back(FlagSpec::Int("spin-wait-us", nn::kDefaultSpinWaitMicros, 0, 100000));
  specs.push_back(FlagSpec::Int("step-threads", 0, 0, kMaxThreads));
  specs.push_back(FlagSpec::Int("prompt-cache-mib", kDefaultPromptHeadCacheBytes >> 20, 0, 65536));
  specs.push_back(FlagSpec::Bool("lone-stream-all-threads", false));
  return specs;
}

std::vector<FlagSpec> VocoderFlagSpecs() {
  std::vector<FlagSpec> specs = StageFlagSpecs("0.0.0.0:50052", "0.0.0.0:9102", /*default_max_streams=*/8);
  specs.push_back(FlagSpec::OneOf("dtype", VocoderDtypes(), "float32"));
  specs.push_back(FlagSpec::OneOf("conv-dtype", VocoderConvDtypes(), "float32"));
  specs.push_back(FlagSpec::Int("spin-wait-us", nn::kDefaultSpinWaitMicros, 0, 100000));
  specs.push_back(FlagSpec::Int("gather-ms", kDefaultDecodeGatherMillis, 0, 1000));
  return specs;
}

std::vector<FlagSpec> GatewayFlagSpecs() {
  std::vector<FlagSpec> specs = StageFlagSpecs("0.0.0.0:50050", "0.0.0.0:9100", /*default_max_streams=*/16);
  for (FlagSpec s : {FlagSpec::Required("talker"), FlagSpec::Required("vocoder"), FlagSpec::String("voice-dir", "voices"),
                     FlagSpec::String("http-listen"), FlagSpec::String("api-keys-file"), FlagSpec::String("stage-ca-file"),
                     FlagSpec::String("stage-cert-file"), FlagSpec::String("stage-key-file"),
                     FlagSpec::Int("max-text-chars", 5000, 1, 1000000),
                     FlagSpec::Double("max-duration-seconds", 600.0, 1.0, 86400.0),
                     FlagSpec::Double("max-reference-seconds", 60.0, 1.0, 3600.0),
                     FlagSpec::Int("max-upload-bytes", 32ll << 20, 1024, 1ll << 30),
                     FlagSpec::Bool("metrics-require-api-key", false)}) {
    specs.push_back(s);
  }
  return specs;
}

std::vector<FlagSpec> ServeFlagSpecs() {
  // Loopback by default: the quick start serves this machine only.
  std::vector<FlagSpec> specs = StageFlagSpecs("127.0.0.1:50050", "0.0.0.0:9100", /*default_max_streams=*/4);
  for (FlagSpec s : {FlagSpec::OneOf("dtype", TalkerDtypes(), "float32"),
                     FlagSpec::OneOf("vocoder-dtype", VocoderDtypes(), "float32"),
                     FlagSpec::OneOf("vocoder-conv-dtype", VocoderConvDtypes(), "float32"),
                     FlagSpec::Int("vocoder-threads", 1, 1, kMaxThreads), FlagSpec::Int("talker-threads", 0, 0, kMaxThreads),
                     FlagSpec::Int("vocoder-gather-ms", kDefaultDecodeGatherMillis, 0, 1000),
                     // The stages share the process's cores: kernel workers do not spin by default.
                     FlagSpec::Int("spin-wait-us", 0, 0, 100000),
                     FlagSpec::Int("prompt-cache-mib", kDefaultPromptHeadCacheBytes >> 20, 0, 65536),
                     FlagSpec::Bool("lone-stream-all-threads", false),
                     FlagSpec::String("voice-dir", "voices"),
                     FlagSpec::String("http-listen"), FlagSpec::String("api-keys-file")}) {
    specs.push_back(s);
  }
  return specs;
}

ServerOptions StageServerOptions(const Flags& flags, const std::string& name, const std::string& stage) {
  ServerOptions options;
  options.name = name;
  options.stage = stage;
  options.listen = flags.Get("listen");
  options.metrics_listen = flags.Get("metrics-listen");
  options.drain_seconds = flags.GetDouble("drain-seconds");
  options.tls.cert_file = flags.Get("tls-cert-file");
  options.tls.key_file = flags.Get("tls-key-file");
  options.tls.client_ca_file = flags.Get("tls-client-ca-file");
  options.allow_plaintext = flags.GetBool("plaintext");
  return options;
}

StreamLimits StageStreamLimits(const Flags& flags) {
  return StreamLimits{static_cast<int>(flags.GetInt("max-streams")), static_cast<int>(flags.GetInt("max-queue"))};
}

int ApplyThreads(const Flags& flags) {
  const int threads = nn::SetProcessThreads(static_cast<int>(flags.GetInt("threads")));
  if (flags.Has("spin-wait-us")) nn::SetSpinWait(std::chrono::microseconds(flags.GetInt("spin-wait-us")));
  return threads;
}

void ApplyPromptCache(const Flags& flags, const TalkerModel& model) {
  model.prompt_head_cache().SetMaxBytes(flags.GetInt("prompt-cache-mib") << 20);
}

TalkerThreads ResolveTalkerThreads(const Flags& flags, int process_threads) {
  const int steps = static_cast<int>(flags.GetInt("step-threads"));
  return TalkerThreads{steps > 0 ? std::min(steps, process_threads) : process_threads, process_threads};
}

bool ParseOrUsage(const Flags& flags, const std::string& program, const std::vector<FlagSpec>& specs) {
  if (flags.ok()) return true;
  std::fprintf(stderr, "%s: %s\n%s\n", program.c_str(), flags.error().c_str(), Flags::Usage(program, specs).c_str());
  return false;
}

}  // namespace qwen3tts
