// qwen3-tts: the command-line front end of the in-process engine.
//
//   qwen3-tts info --model-dir DIR
//   qwen3-tts synthesize --model-dir DIR --text TEXT [--out out.wav] [--speaker NAME] [--language NAME]
//             [--instruct TEXT] [--ref-audio FILE [--ref-text TEXT | --x-vector-only]] [--seed N]
//             [--greedy] [--temperature T] [--top-k K] [--top-p P] [--max-frames N] [--dtype float32|bfloat16|int8|int4|int4-g128]
//             [--threads N] [--format pcm16|float]
//   qwen3-tts serve --model-dir DIR [--listen 0.0.0.0:50050] [--dtype float32|bfloat16|int8|int4|int4-g128] [--threads N] [--voice-dir DIR]
//             [--http-listen HOST:PORT]   (OpenAI-compatible POST /v1/audio/speech)
//   qwen3-tts make-random-model --out DIR [--shape tiny|0.6b|1.7b] [--variant custom_voice|voice_design|base]
//             [--seed N] [--tokenizer-from DIR]

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "common/audio/audio_file.h"
#include "common/nn/parallel.h"
#include "common/tts/random_model.h"
#include "common/tts/tts_engine.h"
#include "services/common/stage_flags.h"
#include "services/qwen3-tts/serve.h"

namespace {

using namespace qwen3tts;

// --max-frames's largest value: the API's max_frames is an int32.
constexpr int64_t kMaxFrames = std::numeric_limits<int32_t>::max();

int Fail(const std::string& message) {
  std::fprintf(stderr, "qwen3-tts: %s\n", message.c_str());
  return 1;
}

// --name value pairs; flags without a value map to "".
struct Args {
  std::map<std::string, std::string> values;
  std::string error;
  bool Has(const std::string& k) const { return values.count(k) != 0; }
  std::string Get(const std::string& k, const std::string& fallback = "") const {
    auto it = values.find(k);
    return it == values.end() ? fallback : it->second;
  }
};

Args Parse(int argc, char** argv, int first, const std::vector<std::string>& flags, const std::vector<std::string>& options) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      a.error = "unexpected argument '" + arg + "'";
      return a;
    }
    std::string name = arg.substr(2);
    bool is_flag = false, is_option = false;
    for (const auto& f : flags) is_flag = is_flag || f == name;
    for (const auto& o : options) is_option = is_option || o == name;
    if (is_flag) {
      a.values[name] = "";
    } else if (is_option) {
      if (i + 1 >= argc) {
        a.error = "--" + name + " needs a value";
        return a;
      }
      a.values[name] = argv[++i];
    } else {
      a.error = "unknown option --" + name;
      return a;
    }
  }
  return a;
}

template <typename T>
bool ParseNumber(const Args& a, const std::string& name, T* out, std::string* error) {
  if (!a.Has(name)) return true;
  bool ok;
  if constexpr (std::is_floating_point_v<T>) {
    double v;
    ok = absl::SimpleAtod(a.Get(name), &v);
    *out = static_cast<T>(v);
  } else {
    int64_t v;
    ok = absl::SimpleAtoi(a.Get(name), &v);
    *out = static_cast<T>(v);
  }
  if (!ok) *error = "--" + name + ": not a number: '" + a.Get(name) + "'";
  return ok;
}

// The same for a whole number that must lie in [min, max], as the services' flags of that name must
// (stage_flags.cc); `meaning` says what the ends mean, for the error.
bool ParseCount(const Args& a, const std::string& name, int64_t min, int64_t max, const std::string& meaning,
                int64_t* out, std::string* error) {
  if (!ParseNumber(a, name, out, error)) return false;
  if (*out >= min && *out <= max) return true;
  *error = absl::StrCat("--", name, " must be in [", min, ", ", max, "] (", meaning, "), got ", *out);
  return false;
}

// --NAME's precision (default float32), one of `allowed` (the stage's dtypes, stage_flags.h).
bool ParseDtype(const Args& a, const std::string& name, const std::vector<std::string>& allowed,
                WeightPrecision* out, std::string* error) {
  const std::string value = a.Get(name, "float32");
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    *error = absl::StrCat("--", name, ": '", value, "' is not allowed (allowed: ", absl::StrJoin(allowed, ", "), ")");
    return false;
  }
  *out = *ParseWeightPrecision(value);
  return true;
}

int Info(const Args& a) {
  if (!a.Has("model-dir")) return Fail("info: --model-dir is required");
  auto info = LoadModelInfo(a.Get("model-dir"));
  if (!info.ok()) return Fail(std::string(info.status().message()));
  std::printf("%s", DescribeModel(*info).c_str());
  return 0;
}

int MakeRandomModel(const Args& a) {
  if (!a.Has("out")) return Fail("make-random-model: --out is required");
  RandomModelOptions o;
  o.shape = a.Get("shape", "tiny");
  auto variant = ParseModelVariant(a.Get("variant", "custom_voice"));
  if (!variant.ok()) return Fail("--variant: " + std::string(variant.status().message()));
  o.variant = *variant;
  std::string error;
  if (!ParseNumber(a, "seed", &o.seed, &error)) return Fail(error);
  o.tokenizer_from = a.Get("tokenizer-from");
  auto status = WriteRandomModel(a.Get("out"), o);
  if (!status.ok()) return Fail(std::string(status.message()));
  std::printf("wrote a random %s %s model to %s\n", o.shape.c_str(), ModelVariantName(o.variant), a.Get("out").c_str());
  return 0;
}

int Synthesize(const Args& a) {
  if (!a.Has("model-dir")) return Fail("synthesize: --model-dir is required");
  if (!a.Has("text")) return Fail("synthesize: --text is required");
  std::string error;
  int64_t threads = 0;
  int64_t max_frames = 0;
  if (!ParseCount(a, "threads", 0, kMaxThreads, "0: every core", &threads, &error) ||
      !ParseCount(a, "max-frames", 0, kMaxFrames, "0: the model's limit", &max_frames, &error)) {
    return Fail(error);
  }
  const std::string format = a.Get("format", "pcm16");
  if (format != "pcm16" && format != "float") return Fail("--format must be pcm16 or float, got '" + format + "'");
  nn::SetProcessThreads(static_cast<int>(threads));
  EngineOptions engine_options;
  if (!ParseDtype(a, "dtype", TalkerDtypes(), &engine_options.talker_precision, &error) ||
      !ParseDtype(a, "vocoder-dtype", VocoderDtypes(), &engine_options.decoder_precision, &error) ||
      !ParseDtype(a, "vocoder-conv-dtype", VocoderConvDtypes(), &engine_options.decoder_conv_precision, &error)) {
    return Fail(error);
  }
  auto engine = TtsEngine::Load(a.Get("model-dir"), engine_options);
  if (!engine.ok()) return Fail(std::string(engine.status().message()));
  SynthesisRequest r;
  r.text = a.Get("text");
  r.language = a.Get("language", "auto");
  r.speaker = a.Get("speaker");
  r.instruct = a.Get("instruct");
  r.ref_text = a.Get("ref-text");
  r.x_vector_only = a.Has("x-vector-only");
  if (a.Has("ref-audio")) {
    auto audio = ReadAudioFile(a.Get("ref-audio"), (*engine)->sample_rate());
    if (!audio.ok()) return Fail(std::string(audio.status().message()));
    r.ref_audio = std::move(audio->samples);
  }
  r.options = (*engine)->DefaultOptions();
  if (a.Has("greedy")) r.options.talker.do_sample = r.options.code_predictor.do_sample = false;
  uint64_t seed = 0;
  if (a.Has("seed")) {
    if (!ParseNumber(a, "seed", &seed, &error)) return Fail(error);
    r.options.seed = seed;
  }
  if (!ParseNumber(a, "temperature", &r.options.talker.temperature, &error) ||
      !ParseNumber(a, "top-k", &r.options.talker.top_k, &error) ||
      !ParseNumber(a, "top-p", &r.options.talker.top_p, &error)) {
    return Fail(error);
  }
  // As the API's max_frames: at most that many frames, within the model's own limit.
  if (max_frames > 0) r.options.max_new_tokens = std::min<int64_t>(r.options.max_new_tokens, max_frames + 1);
  std::vector<float> audio;
  auto summary = (*engine)->Synthesize(r, [&](const std::vector<float>& chunk) {
    audio.insert(audio.end(), chunk.begin(), chunk.end());
    return true;
  });
  if (!summary.ok()) return Fail(std::string(summary.status().message()));
  for (const std::string& w : summary->warnings) std::fprintf(stderr, "qwen3-tts: warning: %s\n", w.c_str());
  const std::string out = a.Get("out", "out.wav");
  auto status = WriteWavFile(out, audio, (*engine)->sample_rate(),
                             format == "pcm16" ? WavEncoding::kPcm16 : WavEncoding::kFloat32);
  if (!status.ok()) return Fail(std::string(status.message()));
  const double audio_seconds = static_cast<double>(audio.size()) / (*engine)->sample_rate();
  std::printf("%s: %lld frames, %.2f s of audio, first audio after %.0f ms, real-time factor %.2f%s\n", out.c_str(),
              static_cast<long long>(summary->frames), audio_seconds, 1e3 * summary->seconds_to_first_audio,
              audio_seconds > 0 ? summary->seconds_total / audio_seconds : 0.0, summary->eos ? "" : " (frame limit reached)");
  return 0;
}

void Usage() {
  std::fprintf(stderr,
               "usage: qwen3-tts <command> [options]\n"
               "  info               --model-dir DIR\n"
               "  serve              --model-dir DIR [--config FILE.yaml] [--listen HOST:PORT] [--metrics-listen HOST:PORT] [--dtype float32|bfloat16|int8|int4|int4-g128] [--threads N]\n"
               "                     [--vocoder-dtype float32|int8|int4|int4-g128] [--vocoder-conv-dtype float32|bfloat16|int8]\n"
               "                     [--voice-dir DIR] [--http-listen HOST:PORT]\n"
               "  synthesize         --model-dir DIR --text TEXT [--out FILE.wav] [--speaker NAME] [--language NAME]\n"
               "                     [--instruct TEXT] [--ref-audio FILE [--ref-text TEXT | --x-vector-only]]\n"
               "                     [--seed N] [--greedy] [--temperature T] [--top-k K] [--top-p P] [--max-frames N]\n"
               "                     [--dtype float32|bfloat16|int8|int4|int4-g128] [--vocoder-dtype float32|int8|int4|int4-g128]\n"
               "                     [--vocoder-conv-dtype float32|bfloat16|int8] [--threads N] [--format pcm16|float]\n"
               "  make-random-model  --out DIR [--shape tiny|0.6b|1.7b] [--variant custom_voice|voice_design|base]\n"
               "                     [--seed N] [--tokenizer-from DIR]\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage();
    return 2;
  }
  const std::string command = argv[1];
  Args args;
  if (command == "info") {
    args = Parse(argc, argv, 2, {}, {"model-dir"});
  } else if (command == "synthesize") {
    args = Parse(argc, argv, 2, {"greedy", "x-vector-only"},
                 {"model-dir", "text", "out", "speaker", "language", "instruct", "ref-audio", "ref-text", "seed",
                  "temperature", "top-k", "top-p", "max-frames", "dtype", "vocoder-dtype", "vocoder-conv-dtype", "threads", "format"});
  } else if (command == "serve") {
    return ServeMain(argc - 1, argv + 1);
  } else if (command == "make-random-model") {
    args = Parse(argc, argv, 2, {}, {"out", "shape", "variant", "seed", "tokenizer-from"});
  } else {
    Usage();
    return 2;
  }
  if (!args.error.empty()) {
    std::fprintf(stderr, "qwen3-tts %s: %s\n", command.c_str(), args.error.c_str());
    Usage();
    return 2;
  }
  if (command == "info") return Info(args);
  if (command == "synthesize") return Synthesize(args);
  return MakeRandomModel(args);
}
