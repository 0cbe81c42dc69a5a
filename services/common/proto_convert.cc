#include "services/common/proto_convert.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace qwen3tts {

absl::StatusOr<at::Tensor> FramesToTensor(const google::protobuf::RepeatedPtrField<v1::CodecFrame>& frames,
                                          const std::string& field) {
  const int64_t n = frames.size();
  if (n == 0) return at::zeros({0, 16}, at::kLong);
  const int64_t width = frames[0].codes_size();
  if (width == 0) return absl::InvalidArgumentError(absl::StrCat(field, "[0] has no codes"));
  at::Tensor out = at::empty({n, width}, at::kLong);
  int64_t* p = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (frames[i].codes_size() != width) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "] has ", frames[i].codes_size(),
                                                     " codes; every frame needs ", width));
    }
    for (int64_t j = 0; j < width; ++j) p[i * width + j] = frames[i].codes(j);
  }
  return out;
}

void AppendFrame(const std::vector<int64_t>& codes, v1::CodecFrame* frame) {
  for (int64_t c : codes) frame->add_codes(static_cast<int32_t>(c));
}

void TensorToFrames(const at::Tensor& codes, google::protobuf::RepeatedPtrField<v1::CodecFrame>* frames) {
  at::Tensor c = codes.to(at::kLong).contiguous();
  for (int64_t i = 0; i < c.size(0); ++i) {
    v1::CodecFrame* f = frames->Add();
    for (int64_t j = 0; j < c.size(1); ++j) f->add_codes(static_cast<int32_t>(c[i][j].item<int64_t>()));
  }
}

absl::StatusOr<TalkerRequest> ToTalkerRequest(const v1::GenerateRequest& r, const GenerationOptions& defaults,
                                              bool default_non_streaming_mode) {
  TalkerRequest t;
  t.input_ids.assign(r.input_ids().begin(), r.input_ids().end());
  t.instruct_ids.assign(r.instruct_ids().begin(), r.instruct_ids().end());
  t.speaker = r.speaker();
  t.language = r.language().empty() ? "auto" : r.language();
  if (r.speaker_embedding_size() > 0) {
    std::vector<float> e(r.speaker_embedding().begin(), r.speaker_embedding().end());
    t.speaker_embedding = at::tensor(e, at::kFloat);
  }
  t.ref_ids.assign(r.ref_ids().begin(), r.ref_ids().end());
  if (r.ref_frames_size() > 0) {
    ASSIGN_OR_RETURN(t.ref_codes, FramesToTensor(r.ref_frames(), "ref_frames"));
  }
  t.non_streaming_mode = r.has_non_streaming_mode() ? r.non_streaming_mode() : default_non_streaming_mode;
  GenerationOptions o = defaults;
  const v1::GenerationOptions& p = r.options();
  if (p.has_do_sample()) o.talker.do_sample = p.do_sample();
  if (p.has_temperature()) o.talker.temperature = p.temperature();
  if (p.has_top_k()) o.talker.top_k = p.top_k();
  if (p.has_top_p()) o.talker.top_p = p.top_p();
  if (p.has_code_predictor_do_sample()) o.code_predictor.do_sample = p.code_predictor_do_sample();
  if (p.has_code_predictor_temperature()) o.code_predictor.temperature = p.code_predictor_temperature();
  if (p.has_code_predictor_top_k()) o.code_predictor.top_k = p.code_predictor_top_k();
  if (p.has_code_predictor_top_p()) o.code_predictor.top_p = p.code_predictor_top_p();
  if (p.has_repetition_penalty()) o.repetition_penalty = p.repetition_penalty();
  if (p.has_seed()) o.seed = p.seed();
  if (p.max_frames() < 0) return absl::InvalidArgumentError("options.max_frames must be >= 0");
  if (p.max_frames() > 0) o.max_new_tokens = std::min<int64_t>(o.max_new_tokens, p.max_frames() + 1);
  t.options = o;
  return t;
}

std::string FloatsToBytes(const float* data, size_t n) {
  std::string out(n * sizeof(float), '\0');
  std::memcpy(out.data(), data, out.size());  // x86/ARM little-endian hosts
  return out;
}

absl::StatusOr<std::vector<float>> BytesToFloats(const std::string& bytes, const std::string& field) {
  if (bytes.size() % sizeof(float) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", bytes.size(), " bytes is not a whole number of float32 samples"));
  }
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) return absl::InvalidArgumentError(absl::StrCat(field, ": sample ", i, " is not finite"));
  }
  return out;
}

}  // namespace qwen3tts
