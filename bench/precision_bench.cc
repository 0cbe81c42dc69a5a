// Accuracy cost of lower-precision talker weights, measured on the golden generation cases:
// for each case the talker runs in float32, bfloat16, int8, int4 and int4-g128 (the case's own sampling
// settings, greedy in the golden sets), and the table shows
//   - float32 codes vs the reference implementation's codes (should be 100 %),
//   - bfloat16 / int8 / int4 / int4-g128 codes vs float32 codes: all 16 codebooks, and the first (semantic)
//     codebook,
//   - the SNR of the bfloat16 / int8 / int4 / int4-g128 waveform against the float32 waveform,
//   - the relative error of the first talker step's logits (after the prefill, same prompt for
//     every precision) against float32's, and whether their argmax agrees: unlike the codes, this
//     does not compound divergence, so it tells the precisions apart on random-weight models.
// Codes are compared position by position over the shorter run; a different length (EOS moved)
// is shown. A second table does the same for the vocoder (codec decoder) on every
// speech_tokenizer_decode case: float32, bfloat16- and int8-convolution, int8 and int8 + each
// convolution form, int4 and int4-g128 (+ bfloat16 convolution) decoders against the reference waveform and against float32. Usage: qwen3tts-bench-precision [GOLDEN_DIR]   (default $QWEN3TTS_GOLDEN_DIR, then
// ../shared/golden).
#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/codec/decoder.h"
#include "common/tensor/safetensors.h"
#include "common/tts/tts_engine.h"

namespace qwen3tts {
namespace {

struct Run {
  std::vector<float> audio;  // 24 kHz
};

absl::StatusOr<Run> Generate(const TtsEngine& engine, const SynthesisRequest& request) {
  Run run;
  absl::StatusOr<SynthesisSummary> summary = engine.Synthesize(request, [&](const std::vector<float>& chunk) {
    run.audio.insert(run.audio.end(), chunk.begin(), chunk.end());
    return true;
  });
  if (!summary.ok()) return summary.status();
  return run;
}

// Fraction of equal entries over the first min(frames) rows (columns [0, columns)).
double Agreement(const at::Tensor& a, const at::Tensor& b, int64_t columns) {
  const int64_t n = std::min(a.size(0), b.size(0));
  if (n == 0) return a.size(0) == b.size(0) ? 1.0 : 0.0;
  at::Tensor x = a.narrow(0, 0, n).narrow(1, 0, columns).to(at::kLong);
  at::Tensor y = b.narrow(0, 0, n).narrow(1, 0, columns).to(at::kLong);
  return x.eq(y).to(at::kDouble).mean().item<double>();
}

double SnrDb(const std::vector<float>& reference, const std::vector<float>& test) {
  const size_t n = std::min(reference.size(), test.size());
  double signal = 0, noise = 0;
  for (size_t i = 0; i < n; ++i) {
    signal += static_cast<double>(reference[i]) * reference[i];
    const double d = static_cast<double>(reference[i]) - test[i];
    noise += d * d;
  }
  if (noise == 0) return INFINITY;
  return 10 * std::log10(signal / noise);
}

std::vector<float> ToVector(const at::Tensor& t) {
  at::Tensor c = t.to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// The vocoder's precision: each decode case through the float32 decoder, with bfloat16 or int8
// convolutions, with int8 linear layers, with int8 linear layers and each convolution form, and with
// the pre-transformer in int4 / int4-g128 and bfloat16 convolutions.
int VocoderTable(const std::string& dir, const nlohmann::json& manifest) {
  struct Config {
    const char* name;
    WeightPrecision linears, convolutions;
  };
  const Config configs[] = {{"float32", WeightPrecision::kFloat32, WeightPrecision::kFloat32},
                            {"bf16conv", WeightPrecision::kFloat32, WeightPrecision::kBFloat16},
                            {"int8", WeightPrecision::kInt8, WeightPrecision::kFloat32},
                            {"int8+bf16conv", WeightPrecision::kInt8, WeightPrecision::kBFloat16},
                            {"int8conv", WeightPrecision::kFloat32, WeightPrecision::kInt8},
                            {"int8+int8conv", WeightPrecision::kInt8, WeightPrecision::kInt8},
                            {"int4+bf16conv", WeightPrecision::kInt4, WeightPrecision::kBFloat16},
                            {"int4-g128+bf16conv", WeightPrecision::kInt4G128, WeightPrecision::kBFloat16}};
  constexpr int kConfigs = sizeof(configs) / sizeof(configs[0]);
  std::printf("\nvocoder (codec decoder): SNR dB against the reference waveform | against float32\n%-28s %7s |",
              "case", "frames");
  for (const Config& c : configs) std::printf(" %14s", c.name);
  std::printf(" |");
  for (int i = 1; i < kConfigs; ++i) std::printf(" %14s", configs[i].name);
  std::printf("\n");
  for (const nlohmann::json& c : manifest["cases"]) {
    if (c.value("mode", "") != "speech_tokenizer_decode") continue;
    auto file = SafetensorsFile::Open(dir + "/" + c.value("file", ""));
    if (!file.ok()) return std::fprintf(stderr, "%s\n", std::string(file.status().message()).c_str()), 1;
    auto codes = (*file)->Load("input_codes", at::kLong);
    auto expected = (*file)->Load("waveform", at::kFloat);
    if (!codes.ok() || !expected.ok()) return std::fprintf(stderr, "%s: input_codes / waveform missing\n", c.value("id", "?").c_str()), 1;
    std::vector<float> audio[kConfigs];
    for (int p = 0; p < kConfigs; ++p) {
      auto decoder = CodecDecoder::Load(dir + "/" + c.value("model_dir", "") + "/speech_tokenizer", configs[p].linears,
                                        configs[p].convolutions);
      if (!decoder.ok()) return std::fprintf(stderr, "%s\n", std::string(decoder.status().message()).c_str()), 1;
      auto wav = (*decoder)->Decode(codes->view({-1, (*decoder)->num_quantizers()}));
      if (!wav.ok()) return std::fprintf(stderr, "%s\n", std::string(wav.status().message()).c_str()), 1;
      audio[p] = ToVector(*wav);
    }
    const std::vector<float> reference = ToVector(*expected);
    std::printf("%-28s %7lld |", c.value("id", "?").c_str(), static_cast<long long>(codes->size(0)));
    for (int p = 0; p < kConfigs; ++p) std::printf(" %14.1f", SnrDb(reference, audio[p]));
    std::printf(" |");
    for (int p = 1; p < kConfigs; ++p) std::printf(" %14.1f", SnrDb(audio[0], audio[p]));
    std::printf("\n");
  }
  return 0;
}

int Main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "";
  if (dir.empty() && std::getenv("QWEN3TTS_GOLDEN_DIR") != nullptr) dir = std::getenv("QWEN3TTS_GOLDEN_DIR");
  if (dir.empty()) dir = "../shared/golden";
  std::ifstream in(dir + "/manifest.json");
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, false);
  if (manifest.is_discarded()) return std::fprintf(stderr, "cannot read %s/manifest.json\n", dir.c_str()), 2;

  const WeightPrecision kPrecisions[] = {WeightPrecision::kFloat32, WeightPrecision::kBFloat16, WeightPrecision::kInt8,
                                         WeightPrecision::kInt4, WeightPrecision::kInt4G128};
  constexpr int kCount = 5;
  std::printf("%-28s %7s | %8s", "", "", "float32");
  for (int p = 1; p < kCount; ++p) {
    std::printf(" | %-29s", (std::string(WeightPrecisionName(kPrecisions[p])) + " vs float32").c_str());
  }
  std::printf("\n%-28s %7s | %8s", "case", "frames", "=ref");
  for (int p = 1; p < kCount; ++p) std::printf(" | %7s %6s %6s %8s", "frames", "16 cb", "cb0", "SNR dB");
  std::printf("\n");
  double worst_snr[kCount], sum_agree[kCount], sum_logit_error[kCount];
  int first_token_agree[kCount];
  for (int p = 0; p < kCount; ++p) worst_snr[p] = INFINITY, sum_agree[p] = 0, sum_logit_error[p] = 0, first_token_agree[p] = 0;
  int cases = 0;
  for (const nlohmann::json& c : manifest["cases"]) {
    const std::string mode = c.value("mode", "");
    if (mode != "custom_voice" && mode != "voice_design" && mode != "voice_clone") continue;
    auto file = SafetensorsFile::Open(dir + "/" + c.value("file", ""));
    if (!file.ok()) return std::fprintf(stderr, "%s\n", std::string(file.status().message()).c_str()), 1;
    SynthesisRequest request;
    request.text = c.value("text", "");
    request.language = c.value("language", "auto");
    request.speaker = c.value("speaker", "");
    request.instruct = c.value("instruct", "");
    if (c.contains("non_streaming_mode")) request.non_streaming_mode = c["non_streaming_mode"].get<bool>();
    if ((*file)->Has("ref_wav")) {
      at::Tensor wav = (*file)->Load("ref_wav", at::kFloat)->contiguous();
      request.ref_audio.assign(wav.data_ptr<float>(), wav.data_ptr<float>() + wav.numel());
      request.ref_text = c.value("ref_text", "");
      request.x_vector_only = c.value("x_vector_only", false);
    }
    Run runs[kCount];
    at::Tensor codes[kCount], first_logits[kCount];
    for (int p = 0; p < kCount; ++p) {
      EngineOptions options;
      options.talker_precision = kPrecisions[p];
      auto engine = TtsEngine::Load(dir + "/" + c.value("model_dir", ""), options);
      if (!engine.ok()) return std::fprintf(stderr, "%s\n", std::string(engine.status().message()).c_str()), 1;
      SynthesisRequest r = request;
      r.options = (*engine)->DefaultOptions();
      r.options.talker.do_sample = !c.value("greedy", true);
      r.options.code_predictor.do_sample = !c.value("subtalker_greedy", true);
      r.options.repetition_penalty = c.value("repetition_penalty", 1.05);
      r.options.min_new_tokens = c.value("min_new_tokens", 2);
      r.options.max_new_tokens = c.value("max_new_tokens", 4096);
      auto talker_request = (*engine)->PrepareTalkerRequest(r);
      if (!talker_request.ok()) return std::fprintf(stderr, "%s\n", std::string(talker_request.status().message()).c_str()), 1;
      GenerationTrace trace;
      auto generated = GenerateCodes((*engine)->talker(), *talker_request, &trace);
      if (!generated.ok()) return std::fprintf(stderr, "%s\n", std::string(generated.status().message()).c_str()), 1;
      codes[p] = *generated;
      first_logits[p] = trace.logits_step0.to(at::kDouble);
      auto run = Generate(**engine, r);
      if (!run.ok()) return std::fprintf(stderr, "%s\n", std::string(run.status().message()).c_str()), 1;
      runs[p] = std::move(*run);
    }
    const double ref_agree = (*file)->Has("codes") ? Agreement(codes[0], (*file)->Load("codes")->view({-1, 16}), 16) : NAN;
    std::printf("%-28s %7lld | %7.1f%%", c.value("id", "?").c_str(), static_cast<long long>(codes[0].size(0)),
                100 * ref_agree);
    for (int p = 1; p < kCount; ++p) {
      const double agree = Agreement(codes[p], codes[0], 16);
      const double snr = SnrDb(runs[0].audio, runs[p].audio);
      worst_snr[p] = std::min(worst_snr[p], snr);
      sum_agree[p] += agree;
      sum_logit_error[p] += ((first_logits[p] - first_logits[0]).norm() / first_logits[0].norm()).item<double>();
      first_token_agree[p] += first_logits[p].argmax().item<int64_t>() == first_logits[0].argmax().item<int64_t>();
      std::printf(" | %7lld %6.1f%% %6.1f%% %8.1f", static_cast<long long>(codes[p].size(0)), 100 * agree,
                  100 * Agreement(codes[p], codes[0], 1), snr);
    }
    std::printf("\n");
    ++cases;
  }
  std::printf("\n%d cases:\n", cases);
  for (int p = 1; p < kCount; ++p) {
    std::printf("  %-8s vs float32: mean code agreement %.1f %%, worst waveform SNR %.1f dB, "
                "first-step logits error %.2f %%, first token agreement %d/%d\n",
                WeightPrecisionName(kPrecisions[p]), cases > 0 ? 100 * sum_agree[p] / cases : 0.0, worst_snr[p],
                cases > 0 ? 100 * sum_logit_error[p] / cases : 0.0, first_token_agree[p], cases);
  }
  return VocoderTable(dir, manifest);
}

}  // namespace
}  // namespace qwen3tts

int main(int argc, char** argv) { return qwen3tts::Main(argc, argv); }
