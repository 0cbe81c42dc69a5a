// Speech-tokenizer decoder against the reference outputs: every manifest case of mode
// speech_tokenizer_decode (input_codes -> waveform) and every generation case
// (decoder_input_codes -> decoded_full, and the caller's waveform with the ICL reference part
// cut off), offline and streaming, within the manifest tolerances.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/codec/decoder.h"
#include "common/codec/decoder_random_weights.h"
#include "common/tensor/checkpoint.h"
#include "common/tensor/model_config.h"
#include "tests/support/golden.h"

namespace qwen3tts {
namespace {

using ::qwen3tts::testing::CaseIdsWithModes;
using ::qwen3tts::testing::FindCase;
using ::qwen3tts::testing::GoldenCase;
using ::qwen3tts::testing::GoldenPath;
using ::qwen3tts::testing::LoadManifest;
using ::qwen3tts::testing::TensorsMatch;

const std::vector<std::string> kGenerationModes = {"custom_voice", "voice_design", "voice_clone"};

// The case's own model directory, else the first generation case's (all model directories carry
// the same speech tokenizer).
absl::StatusOr<std::string> ModelDirFor(const GoldenCase& c) {
  if (!c.ModelDir().empty()) return c.ModelDir();
  for (const std::string& id : CaseIdsWithModes(kGenerationModes)) {
    auto other = FindCase(id);
    if (other.ok() && !other->ModelDir().empty()) return other->ModelDir();
  }
  return absl::NotFoundError("manifest: no case names a model_dir for case " + c.id());
}

absl::StatusOr<std::shared_ptr<const CodecDecoder>> DecoderFor(const GoldenCase& c) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const CodecDecoder>> cache;
  auto dir = ModelDirFor(c);
  if (!dir.ok()) return dir.status();
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(*dir);
  if (it != cache.end()) return it->second;
  auto decoder = CodecDecoder::Load(*dir + "/speech_tokenizer");
  if (!decoder.ok()) return decoder.status();
  cache[*dir] = *decoder;
  return *decoder;
}

absl::StatusOr<at::Tensor> DecodeStreaming(const std::shared_ptr<const CodecDecoder>& decoder,
                                           const at::Tensor& codes, int64_t chunk) {
  DecoderSession session(decoder);
  std::vector<at::Tensor> pieces;
  for (int64_t pos = 0; pos < codes.size(0); pos += chunk) {
    auto out = session.Push(codes.narrow(0, pos, std::min(chunk, codes.size(0) - pos)));
    if (!out.ok()) return out.status();
    pieces.push_back(*out);
  }
  auto tail = session.Flush();
  if (!tail.ok()) return tail.status();
  pieces.push_back(*tail);
  return at::cat(pieces, 0);
}

// Offline (as the reference decodes) and streaming with chunk sizes 1 and 3.
void ExpectDecodes(const GoldenCase& c, const std::string& codes_name,
                   const std::string& wave_name, at::Tensor* decoded) {
  auto decoder = DecoderFor(c);
  ASSERT_TRUE(decoder.ok()) << decoder.status();
  auto codes = c.TensorChecked(codes_name);
  ASSERT_TRUE(codes.ok()) << codes.status();
  auto expected = c.TensorChecked(wave_name);
  ASSERT_TRUE(expected.ok()) << expected.status();
  const auto tolerance = c.ToleranceOf(wave_name);

  auto offline = (*decoder)->DecodeChunkedLikeReference(*codes);
  ASSERT_TRUE(offline.ok()) << offline.status();
  EXPECT_TRUE(TensorsMatch(*offline, *expected, tolerance, c.id() + " " + wave_name + " offline"));
  // The reference decodes in chunks of kReferenceChunk frames with limited left context; exact
  // streaming equals it over the first chunk only (beyond, the reference is the approximation).
  constexpr int64_t kReferenceChunk = 300;
  const int64_t exact_samples =
      std::min(codes->size(0), kReferenceChunk) * (*decoder)->samples_per_frame();
  auto batched = (*decoder)->DecodeBatched(*codes);
  ASSERT_TRUE(batched.ok()) << batched.status();
  ASSERT_EQ(batched->sizes(), expected->sizes());
  EXPECT_TRUE(TensorsMatch(batched->narrow(0, 0, exact_samples), expected->narrow(0, 0, exact_samples),
                           tolerance, c.id() + " " + wave_name + " batched"));
  for (int64_t chunk : {1, 3}) {
    auto streamed = DecodeStreaming(*decoder, *codes, chunk);
    ASSERT_TRUE(streamed.ok()) << streamed.status();
    ASSERT_EQ(streamed->sizes(), expected->sizes());
    EXPECT_TRUE(TensorsMatch(streamed->narrow(0, 0, exact_samples),
                             expected->narrow(0, 0, exact_samples), tolerance,
                             c.id() + " " + wave_name + " streaming chunk " + std::to_string(chunk)));
    // Every chunking gives the offline samples, not merely samples within the reference
    // tolerance.
    EXPECT_LE((streamed->narrow(0, 0, exact_samples) - offline->narrow(0, 0, exact_samples))
                  .abs().max().item<double>(), 1e-5)
        << c.id() << ": streaming chunk " << chunk << " differs from the offline decode";
  }
  if (decoded != nullptr) *decoded = *offline;
}

class SpeechTokenizerDecodeGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(SpeechTokenizerDecodeGolden, MatchesReference) {
  auto c = FindCase(GetParam());
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectDecodes(*c, "input_codes", "waveform", nullptr);
}

INSTANTIATE_TEST_SUITE_P(Manifest, SpeechTokenizerDecodeGolden,
                         ::testing::ValuesIn(CaseIdsWithModes({"speech_tokenizer_decode"})),
                         QWEN3TTS_GOLDEN_CASE_NAMER);

class GenerationDecodeGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(GenerationDecodeGolden, DecodedFullAndWaveformMatchReference) {
  auto c = FindCase(GetParam());
  ASSERT_TRUE(c.ok()) << c.status();
  at::Tensor decoded;
  ExpectDecodes(*c, "decoder_input_codes", "decoded_full", &decoded);
  ASSERT_TRUE(decoded.defined());

  // The caller's waveform: ICL clones (reference codes given to the decoder) drop the reference
  // part; every other mode returns the decoded audio as is.
  at::Tensor waveform = decoded;
  const bool x_vector_only = c->json().value("x_vector_only", false);
  if (c->HasTensor("ref_codes") && !x_vector_only) {
    auto ref_codes = c->TensorChecked("ref_codes");
    ASSERT_TRUE(ref_codes.ok()) << ref_codes.status();
    auto codes = c->TensorChecked("decoder_input_codes");
    ASSERT_TRUE(codes.ok()) << codes.status();
    waveform = CutIclReference(decoded, ref_codes->size(0), codes->size(0));
  }
  auto expected = c->TensorChecked("waveform");
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_TRUE(TensorsMatch(waveform, *expected, c->ToleranceOf("waveform"), c->id() + " waveform"));
}

INSTANTIATE_TEST_SUITE_P(Manifest, GenerationDecodeGolden,
                         ::testing::ValuesIn(CaseIdsWithModes(kGenerationModes)),
                         QWEN3TTS_GOLDEN_CASE_NAMER);

// decoder_random_weights produces exactly the official names and shapes for each golden model's
// speech-tokenizer config.
TEST(CodecDecoderRandomWeights, MatchOfficialCheckpointLayout) {
  auto manifest = LoadManifest();
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  std::set<std::string> dirs;
  for (const auto& entry : (*manifest)["cases"]) {
    if (entry.contains("model_dir")) dirs.insert(GoldenPath(entry["model_dir"].get<std::string>()));
  }
  ASSERT_FALSE(dirs.empty());
  for (const std::string& dir : dirs) {
    const std::string st = dir + "/speech_tokenizer";
    auto config = ParseSpeechTokenizerConfig(st + "/config.json");
    ASSERT_TRUE(config.ok()) << config.status();
    auto ckpt = Checkpoint::Open(st);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    std::map<std::string, std::vector<int64_t>> official;
    for (const std::string& name : ckpt->NamesWithPrefix("decoder.")) {
      official[name] = ckpt->Find(name)->shape;
    }
    std::map<std::string, std::vector<int64_t>> generated;
    for (const auto& [name, tensor] : RandomDecoderWeights(config->decoder, 0)) {
      generated[name] = tensor.sizes().vec();
    }
    EXPECT_EQ(generated, official) << st;
  }
}

}  // namespace
}  // namespace qwen3tts
