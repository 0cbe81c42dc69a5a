// The configuration keys every stage shares (listen address, metrics, drain, threads, limits, TLS)
// and their translation into server options. Each key is documented in deploy/config/*.yaml.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/rpc/admission.h"
#include "common/rpc/grpc_util.h"
#include "common/talker/talker_model.h"
#include "services/common/flags.h"

namespace qwen3tts {

// model-dir (required), listen, metrics-listen, drain-seconds, threads, max-streams, max-queue,
// tls-cert-file, tls-key-file, tls-client-ca-file, plaintext.
std::vector<FlagSpec> StageFlagSpecs(const std::string& default_listen, const std::string& default_metrics_listen,
                                     int default_max_streams);

// The largest intra-op thread count any stage or the CLI takes (`threads` and the per-stage splits).
inline constexpr int64_t kMaxThreads = 1024;

// The precisions each stage takes: the talker's `dtype`, the vocoder's `dtype` (its linear layers:
// CodecDecoder) and `conv-dtype` (its convolutions); `serve` and the CLI take the same as
// dtype / vocoder-dtype / vocoder-conv-dtype.
const std::vector<std::string>& TalkerDtypes();
const std::vector<std::string>& VocoderDtypes();
const std::vector<std::string>& VocoderConvDtypes();

// The complete key sets of each binary (deploy/config/<stage>.yaml documents them).
std::vector<FlagSpec> TalkerFlagSpecs();
std::vector<FlagSpec> VocoderFlagSpecs();
std::vector<FlagSpec> GatewayFlagSpecs();
std::vector<FlagSpec> ServeFlagSpecs();  // `qwen3-tts serve`: all stages in one process

ServerOptions StageServerOptions(const Flags& flags, const std::string& name, const std::string& stage);
StreamLimits StageStreamLimits(const Flags& flags);

// Applies `threads` (0 = libtorch's default) to libtorch's intra-op pool; returns the count in use.
int ApplyThreads(const Flags& flags);

// Applies `prompt-cache-mib` (talker, serve) to the model's prompt-head cache (0 disables it).
void ApplyPromptCache(const Flags& flags, const TalkerModel& model);

// The talker service's thread split: its decoding steps run on `steps` threads (step-threads, 0 =
// all of the process's), its prefills and speaker embeddings, one-off computations at the start of
// a request, on all `prefill` = process threads. Beside a vocoder on the same cores, steps on
// cores - 1 threads keep the per-frame work off the vocoder's core, while the prefill, which sets
// the time to first audio, still gets every core (the vocoder is idle before a stream's first frame).
struct TalkerThreads {
  int steps = 0, prefill = 0;
};
TalkerThreads ResolveTalkerThreads(const Flags& flags, int process_threads);

// Parses the flags or prints the error and usage; returns false when the program should exit 2.
bool ParseOrUsage(const Flags& flags, const std::string& program, const std::vector<FlagSpec>& specs);

}  // namespace qwen3tts
