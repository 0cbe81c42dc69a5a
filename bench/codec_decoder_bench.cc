// Speech-tokenizer decoder benchmark: real-time factor (wall time / audio time; < 1 is faster
// than real time) of the offline decode and of frame-by-frame streaming, per thread count.
//
//   qwen3tts-bench-codec-decoder [--model-dir DIR]... [--full-size] [--frames N]
//                                [--threads 1,2] [--dtype float32,int8,int4,int4-g128]
//                                [--conv-dtype float32,bfloat16,int8] [--modes offline,1,4,16,8x1] [--json]
// --model-dir: a model directory (with speech_tokenizer/) or a speech_tokenizer directory.
// --full-size: a random decoder with the official decoder shape (the reference config class's
//              defaults), written as bfloat16 to a temporary file first.
// With neither, the golden tiny model and the full-size random decoder are both measured.
// --dtype: decoder precisions to measure (CodecDecoder: float32, int8, int4, int4-g128), one row set each.
// --conv-dtype: convolution arithmetic (float32, bfloat16, int8), crossed with --dtype; the dtype column
//               then reads e.g. "int8+bf16conv".
// --modes: which decodes to time: "offline" (the whole sequence at once) and streaming with N frames
//          per call for each number N (default all four; one mode alone is what a profiler wants), and
//          SxN: S streams of N frames per call pushed together (the vocoder service's batching).
// Each row also shows the weights one decode call reads (CodecDecoder::weight_bytes_per_call): at
// one frame per call they are streamed once per frame, its memory-bandwidth bound.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/codec/decoder.h"
#include "common/codec/decoder_random_weights.h"
#include "common/tensor/checkpoint.h"
#include "common/tensor/safetensors.h"

namespace {

namespace fs = std::filesystem;
using namespace qwen3tts;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Row {
  std::string model, dtype, mode;
  int threads = 0;
  int64_t frames = 0;
  double wall_s = 0, audio_s = 0, ms_per_frame = 0, max_frame_ms = 0;
  double weight_mb_per_call = 0;  // CodecDecoder::weight_bytes_per_call
};

std::shared_ptr<const CodecDecoder> LoadDir(const std::string& dir, WeightPrecision precision, WeightPrecision conv) {
  const std::string st = fs::exists(dir + "/speech_tokenizer/config.json") ? dir + "/speech_tokenizer" : dir;
  auto decoder = CodecDecoder::Load(st, precision, conv);
  if (!decoder.ok()) {
    std::fprintf(stderr, "%s: %s\n", st.c_str(), std::string(decoder.status().message()).c_str());
    return nullptr;
  }
  return *decoder;
}

std::shared_ptr<const CodecDecoder> RandomFullSize(WeightPrecision precision, WeightPrecision conv) {
  CodecDecoderConfig config;  // model_config.h defaults = the reference decoder config defaults
  const std::string path =
      (fs::temp_directory_path() / ("qwen3tts_bench_decoder_" + std::to_string(getpid()) + ".safetensors"))
          .string();
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, t] : RandomDecoderWeights(config, 42)) tensors.emplace_back(name, t.to(at::kBFloat16));
  absl::Status written = WriteSafetensors(path, tensors);
  tensors.clear();
  if (!written.ok()) {
    std::fprintf(stderr, "%s\n", std::string(written.message()).c_str());
    return nullptr;
  }
  auto ckpt = Checkpoint::Open(path);
  auto decoder = ckpt.ok() ? CodecDecoder::Create(*ckpt, config, 24000, precision, conv) : ckpt.status();
  fs::remove(path);
  if (!decoder.ok()) {
    std::fprintf(stderr, "%s\n", std::string(decoder.status().message()).c_str());
    return nullptr;
  }
  return *decoder;
}

struct Modes {
  bool offline = true;
  std::vector<int64_t> chunks = {1, 4, 16};  // streaming, frames per call
  // Streams pushed together (DecoderSession::PushTogether, as the vocoder's DecodeBatcher does)
  // and frames per call: "8x1" is 8 streams of 1 frame per call.
  std::vector<std::pair<int64_t, int64_t>> joint;
};

void Measure(const std::string& label, const std::shared_ptr<const CodecDecoder>& decoder,
             int64_t frames, const std::vector<int>& threads, const Modes& modes, std::vector<Row>* rows) {
  at::manual_seed(0);
  at::Tensor codes = at::randint(decoder->codebook_size(), {frames, decoder->num_quantizers()}, at::kLong);
  const double audio_s = static_cast<double>(frames * decoder->samples_per_frame()) / decoder->sample_rate();
  for (int t : threads) {
    at::set_num_threads(t);
    (void)decoder->Decode(codes.narrow(0, 0, std::min<int64_t>(frames, 4)));  // warm-up
    // A row of `decoded` frames (all of them, unless given).
    auto add = [&](const std::string& mode, double wall, double max_frame_ms, int64_t decoded = 0) {
      if (decoded == 0) decoded = frames;
      Row r;
      r.model = label;
      r.dtype = WeightPrecisionName(decoder->precision());
      if (decoder->conv_precision() == WeightPrecision::kBFloat16) r.dtype += "+bf16conv";
      if (decoder->conv_precision() == WeightPrecision::kInt8) r.dtype += "+int8conv";
      r.mode = mode;
      r.threads = t;
      r.frames = decoded;
      r.wall_s = wall;
      r.audio_s = audio_s * static_cast<double>(decoded) / static_cast<double>(frames);
      r.ms_per_frame = 1000.0 * wall / static_cast<double>(decoded);
      r.max_frame_ms = max_frame_ms;
      r.weight_mb_per_call = static_cast<double>(decoder->weight_bytes_per_call()) / 1e6;
      rows->push_back(r);
    };
    if (modes.offline) {
      auto t0 = Clock::now();
      auto batched = decoder->DecodeBatched(codes);
      auto t1 = Clock::now();
      if (batched.ok()) add("offline batched", Seconds(t0, t1), 0);
    }
    // Frame by frame (the lowest latency), then the chunks the gateway sends when the vocoder falls
    // behind (it batches every frame that arrived meanwhile, up to 16): same audio, less per frame.
    for (int64_t chunk : modes.chunks) {
      DecoderSession session(decoder);
      double worst = 0;
      auto s0 = Clock::now();
      for (int64_t i = 0; i < frames; i += chunk) {
        auto f0 = Clock::now();
        auto out = session.Push(codes.narrow(0, i, std::min(chunk, frames - i)));
        auto f1 = Clock::now();
        if (!out.ok()) {
          std::fprintf(stderr, "%s\n", std::string(out.status().message()).c_str());
          return;
        }
        worst = std::max(worst, 1000.0 * Seconds(f0, f1));
      }
      auto s1 = Clock::now();
      add(chunk == 1 ? "streaming 1 frame/call" : "streaming " + std::to_string(chunk) + " frames/call",
          Seconds(s0, s1), worst);
    }
    // `streams` sessions (each its own codes: the same frames rotated) of frames / streams frames,
    // their calls of `chunk` frames pushed together: `frames` frames in all.
    for (auto [streams, chunk] : modes.joint) {
      const int64_t per_stream = std::max<int64_t>(1, frames / streams);
      std::vector<DecoderSession> sessions;
      std::vector<DecoderSession*> pointers;
      std::vector<at::Tensor> stream_codes, parts(static_cast<size_t>(streams));
      for (int64_t s = 0; s < streams; ++s) {
        sessions.emplace_back(decoder);
        stream_codes.push_back(codes.roll(s, 0).narrow(0, 0, std::min(per_stream, frames)).contiguous());
      }
      for (DecoderSession& session : sessions) pointers.push_back(&session);
      double worst = 0;
      auto s0 = Clock::now();
      for (int64_t i = 0; i < per_stream; i += chunk) {
        for (int64_t s = 0; s < streams; ++s) parts[s] = stream_codes[s].narrow(0, i, std::min(chunk, per_stream - i));
        auto f0 = Clock::now();
        for (auto& out : DecoderSession::PushTogether(pointers, parts)) {
          if (!out.ok()) {
            std::fprintf(stderr, "%s\n", std::string(out.status().message()).c_str());
            return;
          }
        }
        worst = std::max(worst, 1000.0 * Seconds(f0, Clock::now()));
      }
      auto s1 = Clock::now();
      add(std::to_string(streams) + " streams x " + std::to_string(chunk) + " frames/call", Seconds(s0, s1), worst,
          per_stream * streams);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> dirs;
  bool full_size = false, json = false;
  int64_t frames = 0;
  std::vector<int> threads = {1, 2};
  std::vector<WeightPrecision> precisions = {WeightPrecision::kFloat32};
  std::vector<WeightPrecision> conv_precisions = {WeightPrecision::kFloat32};
  Modes modes;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--model-dir") {
      dirs.push_back(value());
    } else if (arg == "--full-size") {
      full_size = true;
    } else if (arg == "--frames") {
      if (!absl::SimpleAtoi(value(), &frames) || frames <= 0) {
        std::fprintf(stderr, "--frames must be a positive integer\n");
        return 2;
      }
    } else if (arg == "--threads") {
      threads.clear();
      for (absl::string_view part : absl::StrSplit(value(), ',')) {
        int t = 0;
        if (!absl::SimpleAtoi(part, &t) || t <= 0) {
          std::fprintf(stderr, "--threads takes positive integers separated by commas\n");
          return 2;
        }
        threads.push_back(t);
      }
    } else if (arg == "--dtype" || arg == "--conv-dtype") {
      // Linear layers: float32, int8, int4, int4-g128; convolutions: float32, bfloat16, int8.
      const bool conv = arg == "--conv-dtype";
      std::vector<WeightPrecision>& list = conv ? conv_precisions : precisions;
      list.clear();
      for (absl::string_view part : absl::StrSplit(value(), ',')) {
        absl::StatusOr<WeightPrecision> p = ParseWeightPrecision(std::string(part));
        const bool allowed = p.ok() && (conv ? *p == WeightPrecision::kFloat32 || *p == WeightPrecision::kInt8 ||
                                                   *p == WeightPrecision::kBFloat16
                                             : *p != WeightPrecision::kBFloat16);
        if (!allowed) {
          std::fprintf(stderr, "%s takes %s separated by commas\n", arg.c_str(),
                       conv ? "float32, bfloat16, int8" : "float32, int8, int4, int4-g128");
          return 2;
        }
        list.push_back(*p);
      }
    } else if (arg == "--modes") {
      modes = Modes{false, {}, {}};
      for (absl::string_view part : absl::StrSplit(value(), ',')) {
        int64_t chunk = 0, streams = 0;
        std::vector<absl::string_view> joint = absl::StrSplit(part, 'x');
        if (part == "offline") {
          modes.offline = true;
        } else if (joint.size() == 2 && absl::SimpleAtoi(joint[0], &streams) && absl::SimpleAtoi(joint[1], &chunk) &&
                   streams > 0 && chunk > 0) {
          modes.joint.emplace_back(streams, chunk);
        } else if (absl::SimpleAtoi(part, &chunk) && chunk > 0) {
          modes.chunks.push_back(chunk);
        } else {
          std::fprintf(stderr, "--modes takes \"offline\", positive frames-per-call counts and STREAMSxFRAMES (streams pushed together) separated by commas\n");
          return 2;
        }
      }
    } else if (arg == "--json") {
      json = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--model-dir DIR]... [--full-size] [--frames N] [--threads 1,2] [--dtype float32,int8,int4,int4-g128] [--conv-dtype float32,bfloat16,int8] [--modes offline,1,4,16,8x1] [--json]\n",
                   argv[0]);
      return 2;
    }
  }
  if (dirs.empty() && !full_size) {
    const char* golden = std::getenv("QWEN3TTS_GOLDEN_DIR");
    const std::string tiny = std::string(golden ? golden : "../shared/golden") + "/models/tiny-base";
    if (fs::exists(tiny)) dirs.push_back(tiny);
    full_size = true;
  }

  std::vector<Row> rows;
  for (WeightPrecision precision : precisions) {
   for (WeightPrecision conv : conv_precisions) {
    for (const std::string& dir : dirs) {
      auto decoder = LoadDir(dir, precision, conv);
      if (!decoder) return 1;
      Measure(fs::path(dir).filename().string(), decoder, frames > 0 ? frames : 125, threads, modes, &rows);
    }
    if (full_size) {
      auto decoder = RandomFullSize(precision, conv);
      if (!decoder) return 1;
      Measure("full-size random", decoder, frames > 0 ? frames : 25, threads, modes, &rows);
    }
   }
  }

  std::printf("%-18s %-14s %-24s %7s %6s %9s %9s %9s %12s %12s %14s\n", "model", "dtype", "mode", "threads", "frames",
              "wall s", "audio s", "RTF", "ms/frame", "max ms/call", "weights MB/call");
  for (const Row& r : rows) {
    std::printf("%-18s %-14s %-24s %7d %6ld %9.3f %9.3f %9.3f %12.2f %12.2f %14.1f\n", r.model.c_str(), r.dtype.c_str(),
                r.mode.c_str(), r.threads, static_cast<long>(r.frames), r.wall_s, r.audio_s,
                r.wall_s / r.audio_s, r.ms_per_frame, r.max_frame_ms, r.weight_mb_per_call);
  }
  if (json) {
    std::printf("[");
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf("%s{\"model\":\"%s\",\"dtype\":\"%s\",\"mode\":\"%s\",\"threads\":%d,\"frames\":%ld,\"wall_s\":%.6f,"
                  "\"audio_s\":%.6f,\"rtf\":%.6f,\"ms_per_frame\":%.4f,\"max_ms_per_call\":%.4f,"
                  "\"weight_mb_per_call\":%.3f}",
                  i ? "," : "", r.model.c_str(), r.dtype.c_str(), r.mode.c_str(), r.threads, static_cast<long>(r.frames),
                  r.wall_s, r.audio_s, r.wall_s / r.audio_s, r.ms_per_frame, r.max_frame_ms, r.weight_mb_per_call);
    }
    std::printf("]\n");
  }
  return 0;
}
