// Talker benchmark: milliseconds per frame, split into the talker step and the code predictor's
// 15 steps, with the weight bytes streamed per frame. EOS is suppressed (min_new_tokens) so every
// run generates the same number of frames.
//
//   qwen3tts-bench-talker [--model-dir DIR]... [--random 0.6b|1.7b]... [--frames N] [--threads N]
//                         [--dtype float32,bfloat16,int8,int4,int4-g128|both|all] [--batch 1,2,4,8]
// (both = float32 and bfloat16, the default; all adds int8, int4 and int4-g128)
// --batch adds a continuous-batching table: B sequences stepped together (StepBatch, as the talker
// stage runs its streams), aggregate frames per second and the speed-up over one sequence.
// --random writes a random full-size model (bfloat16 on disk) to a temporary directory first.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/talker/random_weights.h"
#include "common/talker/talker_generator.h"
#include "common/tensor/checkpoint.h"
#include "common/tensor/safetensors.h"

namespace {

namespace fs = std::filesystem;
using namespace qwen3tts;

struct Row {
  std::string model, dtype;
  int64_t frames = 0;
  double talker_ms = 0, cp_ms = 0, total_ms = 0;
  double prefill_ms = 0;  // TalkerSequence::Start: prompt + prefill (time to the first talker token)
  double cached_head_prefill_ms = 0;  // the same with the prompt's head from the prompt-head cache
  int64_t prompt_rows = 0, head_rows = 0;
  double gb_per_frame = 0;
};

absl::StatusOr<std::pair<ModelInfo, std::shared_ptr<const TalkerModel>>> LoadTalker(const std::string& dir,
                                                                                     WeightPrecision dtype) {
  auto info = LoadModelInfo(dir);
  if (!info.ok()) return info.status();
  auto ckpt = Checkpoint::Open(dir);
  if (!ckpt.ok()) return ckpt.status();
  auto model = TalkerModel::Load(*ckpt, info->config, dtype);
  if (!model.ok()) return model.status();
  return std::make_pair(*info, std::shared_ptr<const TalkerModel>(*model));
}

TalkerRequest BenchRequest(const ModelInfo& info, int64_t frames, uint64_t seed) {
  TalkerRequest r;
  r.input_ids = {151644, 77091, 198, 9707, 1879, 11, 419, 374, 264, 1273, 315, 279, 8806, 1849, 13,
                 151645, 198, 151644, 77091, 198};
  const TalkerConfig& tc = info.config.talker;
  if (info.config.variant == ModelVariant::kCustomVoice) r.speaker = tc.spk_id.begin()->first;
  if (info.config.variant == ModelVariant::kBase) r.speaker_embedding = at::randn({tc.hidden_size}) * 0.02;
  r.options.max_new_tokens = frames + 1;
  r.options.min_new_tokens = frames + 1;
  r.options.seed = seed;
  return r;
}

// Aggregate frames/s of `batch` sequences stepped together until all finish; prints one row.
bool RunBatch(const std::string& label, const std::string& dir, WeightPrecision dtype, int64_t frames,
              const std::vector<int>& batches) {
  auto loaded = LoadTalker(dir, dtype);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", std::string(loaded.status().message()).c_str());
    return false;
  }
  const auto& [info, model] = *loaded;
  double single_fps = 0;
  for (int batch : batches) {
    std::vector<std::unique_ptr<TalkerSequence>> owned;
    std::vector<TalkerSequence*> sequences;
    for (int b = 0; b < batch; ++b) {
      auto seq = TalkerSequence::Start(model, BenchRequest(info, frames, 1 + b));
      if (!seq.ok()) return false;
      sequences.push_back(seq->get());
      owned.push_back(std::move(*seq));
    }
    int64_t produced = 0;
    auto start = std::chrono::steady_clock::now();
    bool running = true;
    while (running) {
      auto stepped = StepBatch(sequences, [&produced](size_t, const std::vector<int64_t>&) { ++produced; });
      if (!stepped.ok()) return false;
      running = false;
      for (TalkerSequence* s : sequences) running |= s->state() == TalkerSequence::State::kRunning;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double fps = produced / seconds;
    if (batch == batches.front()) single_fps = fps / batch;
    std::printf("%-22s %-9s %6d %8lld %14.2f %14.2f %12.2fx %14.3f\n", label.c_str(),
                WeightPrecisionName(dtype), batch, static_cast<long long>(produced), fps,
                1e3 * seconds / (produced / batch), fps / single_fps, fps * 0.08);
  }
  return true;
}

bool Run(const std::string& label, const std::string& dir, WeightPrecision dtype, int64_t frames, Row* row) {
  auto loaded = LoadTalker(dir, dtype);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s: %s\n", dir.c_str(), std::string(loaded.status().message()).c_str());
    return false;
  }
  const auto& [info, model] = *loaded;
  TalkerRequest r = BenchRequest(info, frames, /*seed=*/1);
  // The first start pays for lazy initialisation (as a server's warm-up does); the second is timed,
  // without the prompt-head cache, and then one whose head an earlier start left in the cache.
  PromptHeadCache& head_cache = model->prompt_head_cache();
  const int64_t head_cache_bytes = head_cache.max_bytes();
  head_cache.SetMaxBytes(0);
  auto seq = TalkerSequence::Start(model, r);
  if (!seq.ok()) {
    std::fprintf(stderr, "%s\n", std::string(seq.status().message()).c_str());
    return false;
  }
  auto timed_start = [&](GenerationTrace* trace) {
    auto prefill_start = std::chrono::steady_clock::now();
    auto started = TalkerSequence::Start(model, r, trace);
    const double ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - prefill_start).count();
    return started.ok() ? ms : 0.0;
  };
  GenerationTrace trace;
  row->prefill_ms = timed_start(&trace);
  row->prompt_rows = trace.prefill_embeds.size(0);
  head_cache.SetMaxBytes(head_cache_bytes);
  timed_start(nullptr);  // leaves the head in the cache
  GenerationTrace cached;
  row->cached_head_prefill_ms = timed_start(&cached);
  row->head_rows = cached.prompt_rows_reused;
  auto start = std::chrono::steady_clock::now();
  int64_t produced = 0;
  while ((*seq)->state() == TalkerSequence::State::kRunning) {
    auto frame = (*seq)->Step();
    if (!frame.ok()) return false;
    produced += frame->has_value() ? 1 : 0;
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  row->model = label;
  row->dtype = WeightPrecisionName(dtype);
  row->frames = produced;
  row->talker_ms = 1e3 * (*seq)->timings().talker_seconds / produced;
  row->cp_ms = 1e3 * (*seq)->timings().code_predictor_seconds / produced;
  row->total_ms = 1e3 * total / produced;
  row->gb_per_frame = (model->TalkerBytesPerStep() + model->CodePredictorBytesPerStep()) / 1e9;
  return true;
}

constexpr WeightPrecision kPrecisions[] = {WeightPrecision::kFloat32, WeightPrecision::kBFloat16, WeightPrecision::kInt8,
                                           WeightPrecision::kInt4, WeightPrecision::kInt4G128};

// choice: all, both (float32 and bfloat16), or precision names separated by commas.
bool Selected(const std::string& choice, WeightPrecision p) {
  if (choice == "all") return true;
  if (choice == "both") return p == WeightPrecision::kFloat32 || p == WeightPrecision::kBFloat16;
  for (absl::string_view name : absl::StrSplit(choice, ',')) {
    if (name == WeightPrecisionName(p)) return true;
  }
  return false;
}

bool ValidDtypeChoice(const std::string& choice) {
  if (choice == "all" || choice == "both") return true;
  for (absl::string_view name : absl::StrSplit(choice, ',')) {
    if (!ParseWeightPrecision(std::string(name)).ok()) return false;
  }
  return true;
}

std::string MakeRandom(const std::string& shape) {
  auto config = PresetModelConfig(shape, ModelVariant::kCustomVoice);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    std::exit(2);
  }
  fs::path dir = fs::temp_directory_path() / ("qwen3tts_bench_" + shape);
  fs::create_directories(dir);
  std::ofstream((dir / "config.json").string()) << ModelConfigToJson(*config).dump(2);
  if (!fs::exists(dir / "model.safetensors")) {
    std::fprintf(stderr, "writing random %s weights to %s ...\n", shape.c_str(), dir.c_str());
    auto status = WriteSafetensors((dir / "model.safetensors").string(), RandomTalkerWeights(*config, 1, at::kBFloat16));
    if (!status.ok()) std::exit(2);
  }
  return dir.string();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<std::string, std::string>> models;  // label, dir
  int64_t frames = 20;
  std::string dtypes = "both";
  std::vector<int> batches;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--model-dir") {
      std::string d = next();
      models.emplace_back(fs::path(d).filename().string(), d);
    } else if (a == "--random") {
      std::string shape = next();
      models.emplace_back("random-" + shape, MakeRandom(shape));
    } else if (a == "--frames") {
      frames = std::atoll(next().c_str());
    } else if (a == "--threads") {
      at::set_num_threads(std::atoi(next().c_str()));
    } else if (a == "--dtype") {
      dtypes = next();
      if (!ValidDtypeChoice(dtypes)) {
        std::fprintf(stderr, "--dtype: '%s' is not allowed (allowed: float32, bfloat16, int8, int4, int4-g128 separated by commas, both, all)\n",
                     dtypes.c_str());
        return 2;
      }
    } else if (a == "--batch") {
      std::string list = next();
      for (size_t p = 0; p < list.size();) {
        size_t q = list.find(',', p);
        batches.push_back(std::max(1, std::atoi(list.substr(p, q - p).c_str())));
        p = q == std::string::npos ? list.size() : q + 1;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--model-dir DIR]... [--random 0.6b|1.7b]... [--frames N] [--threads N] [--dtype float32,bfloat16,int8,int4,int4-g128|both|all] [--batch 1,2,4,8]\n", argv[0]);
      return 2;
    }
  }
  if (models.empty()) {
    std::fprintf(stderr, "nothing to run: give --model-dir or --random\n");
    return 2;
  }
  std::printf("threads: %d\n", at::get_num_threads());
  std::printf("%-22s %-9s %7s %12s %12s %12s %10s %12s %12s %14s\n", "model", "dtype", "frames", "talker ms",
              "predictor ms", "total ms", "RTF", "GB/frame", "prefill ms", "cached-head ms");
  for (const auto& [label, dir] : models) {
    for (WeightPrecision dtype : kPrecisions) {
      if (!Selected(dtypes, dtype)) continue;
      Row row;
      if (!Run(label, dir, dtype, frames, &row)) return 1;
      // One frame is 80 ms of audio: real-time factor = compute time / audio time.
      std::printf("%-22s %-9s %7lld %12.2f %12.2f %12.2f %10.3f %12.3f %12.2f %14.2f\n", row.model.c_str(),
                  row.dtype.c_str(), static_cast<long long>(row.frames), row.talker_ms, row.cp_ms, row.total_ms,
                  row.total_ms / 80.0, row.gb_per_frame, row.prefill_ms, row.cached_head_prefill_ms);
      std::printf("  prompt %lld rows, of which %lld head rows came from the prompt-head cache\n",
                  static_cast<long long>(row.prompt_rows), static_cast<long long>(row.head_rows));
    }
  }
  if (!batches.empty()) {
    // Speed-up is relative to one sequence alone (the first batch size given, per sequence).
    std::printf("\ncontinuous batching (%lld frames per sequence)\n", static_cast<long long>(frames));
    std::printf("%-22s %-9s %6s %8s %14s %14s %13s %14s\n", "model", "dtype", "batch", "frames", "frames/s",
                "ms/step", "speed-up", "x real time");
    for (const auto& [label, dir] : models) {
      for (WeightPrecision dtype : kPrecisions) {
        if (!Selected(dtypes, dtype)) continue;
        if (!RunBatch(label, dir, dtype, frames, batches)) return 1;
      }
    }
  }
  return 0;
}
