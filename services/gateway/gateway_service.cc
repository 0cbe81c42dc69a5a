#include "services/gateway/gateway_service.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/audio/audio_encoder.h"
#include "common/audio/audio_file.h"
#include "common/rpc/grpc_util.h"
#include <ATen/ATen.h>
#include <fstream>

#include "common/rpc/reactors.h"
#include "common/text/chat_template.h"
#include "common/util/request_log.h"
#include "common/util/secrets.h"
#include "services/common/proto_convert.h"

namespace qwen3tts {
namespace {

constexpr int kSampleRate = 24000;
// Most frames per vocoder request. Up to 16 rows the decoder's linear layers take the same
// per-row path (common/nn), which keeps chunked decoding identical to frame-by-frame decoding.
constexpr int kMaxVocoderChunkFrames = 16;

// Unary handlers that only read in-memory state finish on the callback thread.
grpc::ServerUnaryReactor* Finished(grpc::CallbackServerContext* context, const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::Status Invalid(const std::string& message) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message); }

const char* VoiceKind(const v1::VoiceSelection& voice) {
  switch (voice.voice_case()) {
    case v1::VoiceSelection::kSpeaker: return "speaker";
    case v1::VoiceSelection::kDesign: return "design";
    case v1::VoiceSelection::kVoiceId: return "stored_clone";
    case v1::VoiceSelection::kReference: return "inline_clone";
    default: return "none";
  }
}

template <typename Map>
std::string Names(const Map& map) {
  std::vector<std::string> names;
  for (const auto& [k, v] : map) names.push_back(k);
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::StatusOr<std::vector<std::string>> LoadApiKeys(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("api_keys_file: cannot read ", path));
  std::vector<std::string> keys;
  std::string line;
  while (std::getline(in, line)) {
    std::string key(absl::StripAsciiWhitespace(line));
    if (key.empty() || key[0] == '#') continue;
    keys.push_back(key);
  }
  if (keys.empty()) return absl::InvalidArgumentError(absl::StrCat("api_keys_file: ", path, " holds no keys"));
  return keys;
}

grpc::Status GatewayService::Authorize(grpc::ServerContextBase* context) const {
  if (api_keys_.empty()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  const std::string value = it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
  if (BearerMatchesAnyKey(value, api_keys_)) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      it == metadata.end() ? "missing API key: send `authorization: Bearer <key>` metadata"
                                           : "invalid API key in `authorization` metadata");
}

void GatewayService::FinishSynthesis(const char* method, const std::string& request_id, const std::string& voice_kind,
                                     const v1::SynthesisSummary& summary, const grpc::Status& status) const {
  const double rtf = summary.audio_seconds() > 0 ? summary.total_seconds() / summary.audio_seconds() : 0.0;
  if (summary.frames() > 0) {
    metrics_.time_to_first_audio_seconds.Observe(summary.time_to_first_audio_seconds());
    metrics_.real_time_factor.Observe(rtf);
  }
  LogRequest({{"stage", "gateway"},
              {"method", method},
              {"request_id", request_id},
              {"voice_kind", voice_kind},
              {"frames", summary.frames()},
              {"audio_seconds", summary.audio_seconds()},
              {"ttfa_seconds", summary.frames() > 0 ? summary.time_to_first_audio_seconds() : 0.0},
              {"seconds", summary.total_seconds()},
              {"rtf", rtf},
              {"status", status.ok() ? "OK" : std::to_string(static_cast<int>(status.error_code()))},
              {"message", status.error_message()}});
}

GatewayService::GatewayService(ModelInfo info, std::shared_ptr<const TextTokenizer> tokenizer,
                               std::shared_ptr<grpc::Channel> talker, std::shared_ptr<grpc::Channel> vocoder,
                               GatewayLimits limits, VoiceStore* voices, std::vector<std::string> api_keys)
    : info_(std::move(info)),
      tokenizer_(std::move(tokenizer)),
      talker_(v1::Talker::NewStub(talker)),
      vocoder_(v1::Codec::NewStub(vocoder)),
      limits_(limits),
      voices_(voices),
      api_keys_(std::move(api_keys)),
      metrics_(StageMetrics::For("gateway")),
      admission_(limits.streams.max_streams, limits.streams.max_queue, &metrics_) {}

static void ToProto(const StoredVoice& v, v1::Voice* out) {
  out->set_voice_id(v.id);
  out->set_display_name(v.display_name);
  out->set_reference_text(v.reference_text);
  out->set_x_vector_only(v.x_vector_only);
  out->set_reference_seconds(v.reference_seconds);
  out->set_create_time_unix_seconds(v.create_time_unix_seconds);
}

grpc::Status GatewayService::CheckVoices() const {
  if (voices_ == nullptr) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "this gateway has no voice store (--voice-dir)");
  if (info_.config.variant != ModelVariant::kBase) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("stored voices need a Base model; this gateway serves a ", ModelVariantName(info_.config.variant), " model"));
  }
  return grpc::Status::OK;
}

grpc::Status GatewayService::EmbedReference(grpc::ServerContextBase* context, const std::string& audio_file, bool x_vector_only,
                                            const std::string& field, StoredVoice* out) {
  AudioLimits audio_limits;
  audio_limits.max_seconds = limits_.max_reference_seconds;
  absl::StatusOr<MonoAudio> audio = DecodeAudio(audio_file, kSampleRate, audio_limits);
  if (!audio.ok()) return ToGrpcStatus(absl::Status(audio.status().code(), absl::StrCat(field, ": ", audio.status().message())));
  if (audio->samples.size() < static_cast<size_t>(kSampleRate / 2)) {
    return Invalid(absl::StrCat(field, ": reference audio is shorter than 0.5 s"));
  }
  out->reference_seconds = static_cast<double>(audio->samples.size()) / kSampleRate;
  const std::string pcm = FloatsToBytes(audio->samples.data(), audio->samples.size());
  grpc::ClientContext embed_context;
  embed_context.set_deadline(context->deadline());
  v1::EmbedSpeakerRequest embed_request;
  embed_request.set_pcm_f32le(pcm);
  embed_request.set_sample_rate_hertz(kSampleRate);
  v1::EmbedSpeakerResponse embedding;
  grpc::Status s = talker_->EmbedSpeaker(&embed_context, embed_request, &embedding);
  if (!s.ok()) return s;
  std::vector<float> e(embedding.embedding().begin(), embedding.embedding().end());
  out->speaker_embedding = at::tensor(e, at::kFloat);
  out->x_vector_only = x_vector_only;
  if (x_vector_only) return grpc::Status::OK;
  grpc::ClientContext encode_context;
  encode_context.set_deadline(context->deadline());
  v1::EncodeRequest encode_request;
  encode_request.set_pcm_f32le(pcm);
  encode_request.set_sample_rate_hertz(kSampleRate);
  v1::EncodeResponse codes;
  s = vocoder_->Encode(&encode_context, encode_request, &codes);
  if (!s.ok()) return s;
  absl::StatusOr<at::Tensor> tensor = FramesToTensor(codes.frames(), "codes");
  if (!tensor.ok()) return ToGrpcStatus(tensor.status());
  out->reference_codes = *tensor;
  return grpc::Status::OK;
}

std::string GatewayService::VoiceKindsFor(ModelVariant variant) const {
  switch (variant) {
    case ModelVariant::kCustomVoice:
      return absl::StrCat("use config.voice.speaker: ", Names(info_.config.talker.spk_id));
    case ModelVariant::kVoiceDesign:
      return "use config.voice.design with a description of the voice";
    case ModelVariant::kBase:
      return "use config.voice.voice_id (see ListVoices) or config.voice.reference";
  }
  return "";
}

grpc::Status GatewayService::BuildTalkerRequest(grpc::ServerContextBase* context, const v1::SynthesizeRequest& request,
                                                v1::GenerateRequest* out) {
  const v1::SynthesisConfig& config = request.config();
  const v1::VoiceSelection& voice = config.voice();
  const ModelVariant variant = info_.config.variant;
  const char* variant_name = ModelVariantName(variant);
  if (request.text().empty()) return Invalid("text: must not be empty");
  if (static_cast<int64_t>(request.text().size()) > limits_.max_text_chars) {
    return Invalid(absl::StrCat("text: ", request.text().size(), " bytes exceeds the limit of ", limits_.max_text_chars));
  }
  absl::StatusOr<std::vector<int64_t>> ids = BuildAssistantTextIds(*tokenizer_, request.text());
  if (!ids.ok()) return Invalid(absl::StrCat("text: ", ids.status().message()));
  out->mutable_input_ids()->Add(ids->begin(), ids->end());
  if (config.has_non_streaming_mode()) out->set_non_streaming_mode(config.non_streaming_mode());
  std::string language = config.language().empty() ? "auto" : absl::AsciiStrToLower(config.language());
  if (language != "auto" && info_.config.talker.codec_language_id.count(language) == 0) {
    return Invalid(absl::StrCat("config.language: unknown language '", config.language(), "' (available: auto, ",
                                Names(info_.config.talker.codec_language_id), ")"));
  }
  out->set_language(language);
  std::string instruct = voice.instruct();
  switch (voice.voice_case()) {
    case v1::VoiceSelection::kSpeaker:
      if (variant != ModelVariant::kCustomVoice) {
        return Invalid(absl::StrCat("config.voice.speaker: preset speakers need a CustomVoice model; this gateway serves a ",
                                    variant_name, " model (", VoiceKindsFor(variant), ")"));
      }
      if (info_.config.talker.spk_id.count(absl::AsciiStrToLower(voice.speaker())) == 0) {
        return Invalid(absl::StrCat("config.voice.speaker: unknown speaker '", voice.speaker(), "' (available: ",
                                    Names(info_.config.talker.spk_id), ")"));
      }
      out->set_speaker(voice.speaker());
      break;
    case v1::VoiceSelection::kDesign:
      if (variant != ModelVariant::kVoiceDesign) {
        return Invalid(absl::StrCat("config.voice.design: designed voices need a VoiceDesign model; this gateway serves a ",
                                    variant_name, " model (", VoiceKindsFor(variant), ")"));
      }
      instruct = voice.design();
      break;
    case v1::VoiceSelection::kVoiceId:
    case v1::VoiceSelection::kReference: {
      const bool stored = voice.voice_case() == v1::VoiceSelection::kVoiceId;
      const char* field = stored ? "config.voice.voice_id" : "config.voice.reference";
      if (variant != ModelVariant::kBase) {
        return Invalid(absl::StrCat(field, ": voice cloning needs a Base model; this gateway serves a ", variant_name,
                                    " model (", VoiceKindsFor(variant), ")"));
      }
      StoredVoice clone;
      if (stored) {
        grpc::Status ready = CheckVoices();
        if (!ready.ok()) return ready;
        absl::StatusOr<StoredVoice> found = voices_->Get(voice.voice_id());
        if (!found.ok()) return ToGrpcStatus(absl::Status(found.status().code(), absl::StrCat(field, ": ", found.status().message())));
        clone = *found;
      } else {
        const v1::ReferenceAudio& ref = voice.reference();
        if (!ref.x_vector_only() && ref.text().empty()) {
          return Invalid("config.voice.reference.text: the transcript is required for in-context cloning (or set x_vector_only)");
        }
        grpc::Status embedded = EmbedReference(context, ref.audio(), ref.x_vector_only(), "config.voice.reference.audio", &clone);
        if (!embedded.ok()) return embedded;
        clone.reference_text = ref.text();
      }
      at::Tensor e = clone.speaker_embedding.contiguous();
      out->mutable_speaker_embedding()->Add(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
      if (!clone.x_vector_only) {
        absl::StatusOr<std::vector<int64_t>> ref_ids = BuildRefTextIds(*tokenizer_, clone.reference_text);
        if (!ref_ids.ok()) return Invalid(absl::StrCat(field, ": reference text: ", ref_ids.status().message()));
        out->mutable_ref_ids()->Add(ref_ids->begin(), ref_ids->end());
        TensorToFrames(clone.reference_codes, out->mutable_ref_frames());
      }
      break;
    }
    case v1::VoiceSelection::VOICE_NOT_SET:
      if (variant == ModelVariant::kCustomVoice) {
        return Invalid(absl::StrCat("config.voice: choose a speaker (available: ", Names(info_.config.talker.spk_id), ")"));
      }
      if (variant == ModelVariant::kBase) return Invalid("config.voice: a Base model needs config.voice.reference (or voice_id)");
      break;
  }
  if (!instruct.empty()) {
    absl::StatusOr<std::vector<int64_t>> instruct_ids = BuildInstructIds(*tokenizer_, instruct);
    if (!instruct_ids.ok()) return Invalid(absl::StrCat("config.voice.instruct: ", instruct_ids.status().message()));
    out->mutable_instruct_ids()->Add(instruct_ids->begin(), instruct_ids->end());
  }
  const v1::SamplingOptions& sampling = config.sampling();
  v1::GenerationOptions* options = out->mutable_options();
  if (sampling.greedy()) {
    options->set_do_sample(false);
    options->set_code_predictor_do_sample(false);
  }
  if (sampling.has_temperature()) options->set_temperature(sampling.temperature());
  if (sampling.has_top_k()) options->set_top_k(sampling.top_k());
  if (sampling.has_top_p()) options->set_top_p(sampling.top_p());
  if (sampling.has_repetition_penalty()) options->set_repetition_penalty(sampling.repetition_penalty());
  if (sampling.has_seed()) options->set_seed(sampling.seed());
  const double duration = config.max_duration_seconds();
  if (duration < 0 || !std::isfinite(duration) || duration > limits_.max_duration_seconds) {
    return Invalid(absl::StrCat("config.max_duration_seconds: must be in [0, ", limits_.max_duration_seconds, "]"));
  }
  // One frame is 80 ms.
  const double frame_seconds = static_cast<double>(info_.speech_tokenizer ? info_.speech_tokenizer->decode_upsample_rate : 1920) / kSampleRate;
  const double limit = duration > 0 ? duration : limits_.max_duration_seconds;
  options->set_max_frames(std::max(1, static_cast<int>(std::floor(limit / frame_seconds + 1e-9))));
  return grpc::Status::OK;
}

namespace {
absl::StatusOr<OutputFormat> ToOutputFormat(v1::AudioEncoding encoding) {
  switch (encoding) {
    case v1::AUDIO_ENCODING_UNSPECIFIED:
    case v1::PCM_S16LE: return OutputFormat::kPcm16;
    case v1::PCM_F32LE: return OutputFormat::kPcmF32;
    case v1::WAV: return OutputFormat::kWav;
    case v1::OGG_OPUS: return OutputFormat::kOggOpus;
    case v1::MP3: return OutputFormat::kMp3;
    default: return absl::InvalidArgumentError("config.audio.encoding: unknown encoding (supported: PCM_S16LE, PCM_F32LE, WAV, OGG_OPUS, MP3)");
  }
}

}  // namespace

grpc::Status GatewayService::CheckAudioConfig(const v1::AudioConfig& audio, v1::AudioEncoding* encoding) const {
  *encoding = audio.encoding() == v1::AUDIO_ENCODING_UNSPECIFIED ? v1::PCM_S16LE : audio.encoding();
  absl::StatusOr<OutputFormat> format = ToOutputFormat(*encoding);
  if (!format.ok()) return ToGrpcStatus(format.status());
  // Building an encoder checks that the format can carry the requested rate.
  absl::StatusOr<std::unique_ptr<AudioOutputEncoder>> encoder =
      MakeAudioOutputEncoder(*format, kSampleRate, audio.sample_rate_hertz());
  if (!encoder.ok()) return Invalid(absl::StrCat("config.audio.sample_rate_hertz: ", encoder.status().message()));
  return grpc::Status::OK;
}

template <typename FrameStream, typename ClientWriter>
grpc::Status GatewayService::Pump(grpc::ServerContextBase* context, const std::string& request_id,
                                  const v1::GenerateRequest& generate, const v1::AudioConfig& audio, FrameStream* frames,
                                  grpc::ClientContext* talker_context, ClientWriter* writer,
                                  v1::SynthesisSummary* summary_out) {
  const v1::AudioEncoding encoding = audio.encoding() == v1::AUDIO_ENCODING_UNSPECIFIED ? v1::PCM_S16LE : audio.encoding();
  absl::StatusOr<OutputFormat> format = ToOutputFormat(encoding);
  if (!format.ok()) return ToGrpcStatus(format.status());
  absl::StatusOr<std::unique_ptr<AudioOutputEncoder>> encoder =
      MakeAudioOutputEncoder(*format, kSampleRate, audio.sample_rate_hertz());
  if (!encoder.ok()) return Invalid(absl::StrCat("config.audio.sample_rate_hertz: ", encoder.status().message()));
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  // Deadlines and cancellation of the client's call propagate to the vocoder too.
  std::unique_ptr<grpc::ClientContext> vocoder_context = grpc::ClientContext::FromServerContext(*context);
  vocoder_context->AddMetadata("x-request-id", request_id);
  std::unique_ptr<grpc::ClientReaderWriter<v1::DecodeRequest, v1::DecodeResponse>> decode =
      vocoder_->Decode(vocoder_context.get());
  v1::SynthesizeResponse metadata;
  metadata.mutable_metadata()->set_encoding(encoding);
  metadata.mutable_metadata()->set_sample_rate_hertz((*encoder)->output_rate());
  metadata.mutable_metadata()->set_channels(1);
  metadata.mutable_metadata()->set_request_id(request_id);
  if (!writer->Write(metadata)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  if (generate.ref_frames_size() > 0) {
    // In-context cloning: the decoder continues from the reference clip, as the reference decodes
    // reference + generated codes together and cuts the reference part.
    v1::DecodeRequest prime;
    *prime.mutable_prime_frames() = generate.ref_frames();
    if (!decode->Write(prime)) return decode->Finish();
  }
  v1::SynthesisSummary& summary = *summary_out;
  // Frames are read from the talker on their own thread, so that reading the talker never waits
  // for the vocoder, and every frame that arrived while the vocoder was busy goes to it in one
  // request: the first chunk is a single frame (time to first audio); behind, the gateway catches
  // up in one round trip instead of one per frame, and the vocoder reads its pre-transformer's
  // weights once per chunk, and int8 convolutions' weights once per 4 frames (int8 + int8
  // convolutions: 4-frame chunks take ~0.71x a single frame's time per frame, bench/RESULTS.md). The decoder's output does not depend on the chunking (bit for bit), so
  // neither does the audio.
  std::mutex mu;
  std::condition_variable arrived;
  std::deque<v1::CodecFrame> queue;
  bool talker_done = false;
  v1::GenerateResponse talker_summary;
  std::thread reader([&] {
    v1::GenerateResponse generated;
    while (frames->Read(&generated)) {
      std::lock_guard<std::mutex> lock(mu);
      if (generated.has_summary()) talker_summary = generated;
      for (v1::CodecFrame& f : *generated.mutable_frames()) queue.push_back(std::move(f));
      arrived.notify_one();
    }
    std::lock_guard<std::mutex> lock(mu);
    talker_done = true;
    arrived.notify_one();
  });
  // Whatever way the loop ends, the reader thread is stopped and joined before returning.
  struct JoinReader {
    std::thread* reader;
    grpc::ClientContext* talker_context;
    ~JoinReader() {
      if (!reader->joinable()) return;
      talker_context->TryCancel();  // an early return: stop the talker, which ends the reader's Read
      reader->join();
    }
  } join_reader{&reader, talker_context};
  int64_t samples = 0;
  while (true) {
    v1::DecodeRequest to_vocoder;
    {
      std::unique_lock<std::mutex> lock(mu);
      arrived.wait(lock, [&] { return !queue.empty() || talker_done; });
      if (queue.empty()) break;  // the talker stream ended and every frame was decoded
      // The first request is one frame even when more have arrived (a fast talker, frames batched
      // in one talker message): its audio is the time to first audio.
      const int limit = summary.frames() == 0 ? 1 : kMaxVocoderChunkFrames;
      while (!queue.empty() && to_vocoder.frames_size() < limit) {
        *to_vocoder.add_frames() = std::move(queue.front());
        queue.pop_front();
      }
    }
    const int chunk_frames = to_vocoder.frames_size();
    v1::DecodeResponse pcm;
    if (!decode->Write(to_vocoder) || !decode->Read(&pcm)) {
      grpc::Status s = decode->Finish();
      return s.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "vocoder stream ended early") : s;
    }
    std::vector<float> floats(pcm.pcm_f32le().size() / sizeof(float));
    std::memcpy(floats.data(), pcm.pcm_f32le().data(), floats.size() * sizeof(float));
    if (summary.frames() == 0) {
      summary.set_time_to_first_audio_seconds(std::chrono::duration<double>(Clock::now() - start).count());
    }
    summary.set_frames(summary.frames() + chunk_frames);
    metrics_.frames_total.Increment(chunk_frames);
    samples += static_cast<int64_t>(floats.size());
    absl::StatusOr<std::string> encoded = (*encoder)->Encode(floats.data(), floats.size());
    if (!encoded.ok()) return ToGrpcStatus(encoded.status());
    v1::SynthesizeResponse chunk;
    chunk.mutable_audio()->set_data(std::move(*encoded));
    if (!writer->Write(chunk)) {
      vocoder_context->TryCancel();
      return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
  }
  reader.join();  // the talker stream ended by itself
  if (talker_summary.has_summary()) {
    summary.set_finished_by_eos(talker_summary.summary().finished_by_eos());
    for (const std::string& w : talker_summary.summary().warnings()) summary.add_warnings(w);
  }
  summary.set_total_seconds(std::chrono::duration<double>(Clock::now() - start).count());
  summary.set_audio_seconds(static_cast<double>(samples) / kSampleRate);
  grpc::Status talker_status = frames->Finish();
  decode->WritesDone();
  grpc::Status vocoder_status = decode->Finish();
  if (!talker_status.ok()) return talker_status;
  if (!vocoder_status.ok()) return vocoder_status;
  absl::StatusOr<std::string> tail = (*encoder)->Finish();
  if (!tail.ok()) return ToGrpcStatus(tail.status());
  if (!tail->empty()) {
    v1::SynthesizeResponse chunk;
    chunk.mutable_audio()->set_data(std::move(*tail));
    writer->Write(chunk);
  }
  summary.set_audio_seconds(static_cast<double>(samples) / kSampleRate);
  summary.set_total_seconds(std::chrono::duration<double>(Clock::now() - start).count());
  v1::SynthesizeResponse last;
  *last.mutable_summary() = summary;
  writer->Write(last);
  return grpc::Status::OK;
}

grpc::ServerWriteReactor<v1::SynthesizeResponse>* GatewayService::Synthesize(grpc::CallbackServerContext* context,
                                                                             const v1::SynthesizeRequest* request) {
  return new BlockingWriteReactor<v1::SynthesizeResponse>(
      [this, context, request](auto* writer) { return DoSynthesize(context, request, writer); });
}

template <typename Writer>
grpc::Status GatewayService::DoSynthesize(grpc::ServerContextBase* context, const v1::SynthesizeRequest* request,
                                          Writer* writer) {
  const std::string request_id = NewRequestId();
  v1::SynthesisSummary summary;
  grpc::Status status = [&]() -> grpc::Status {
    grpc::Status authorized = Authorize(context);
    if (!authorized.ok()) return authorized;
    v1::AudioEncoding encoding;
    grpc::Status checked = CheckAudioConfig(request->config().audio(), &encoding);
    if (!checked.ok()) return checked;
    absl::StatusOr<AdmissionControl::Slot> slot = admission_.Acquire([context] { return context->IsCancelled(); });
    if (!slot.ok()) return ToGrpcStatus(slot.status());
    v1::GenerateRequest generate;
    grpc::Status built = BuildTalkerRequest(context, *request, &generate);
    if (!built.ok()) return built;
    std::unique_ptr<grpc::ClientContext> talker_context = grpc::ClientContext::FromServerContext(*context);
    talker_context->AddMetadata("x-request-id", request_id);
    std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> frames = talker_->Generate(talker_context.get(), generate);
    return Pump(context, request_id, generate, request->config().audio(), frames.get(), talker_context.get(), writer,
                &summary);
  }();
  FinishSynthesis("Synthesize", request_id, VoiceKind(request->config().voice()), summary, status);
  return status;
}

namespace {

// Streaming text is forwarded in whole pre-tokenization units: everything up to the last
// whitespace is ready, the rest waits for more text (so " wor" + "ld" tokenizes as " world").
std::string TakeReadyText(std::string* pending, bool closed) {
  if (closed) return std::exchange(*pending, std::string());
  size_t cut = pending->find_last_of(" \t\n\r");
  if (cut == std::string::npos || cut == 0) return "";
  std::string ready = pending->substr(0, cut);
  pending->erase(0, cut);
  return ready;
}

}  // namespace

grpc::ServerBidiReactor<v1::StreamingSynthesizeRequest, v1::SynthesizeResponse>* GatewayService::StreamingSynthesize(
    grpc::CallbackServerContext* context) {
  return new BlockingBidiReactor<v1::StreamingSynthesizeRequest, v1::SynthesizeResponse>(
      [this, context](auto* stream) { return DoStreamingSynthesize(context, stream); });
}

template <typename Stream>
grpc::Status GatewayService::DoStreamingSynthesize(grpc::ServerContextBase* context, Stream* stream) {
  const std::string request_id = NewRequestId();
  v1::SynthesisSummary summary;
  std::string voice_kind = "none";
  grpc::Status status = RunStreamingSynthesis(context, stream, request_id, &summary, &voice_kind);
  FinishSynthesis("StreamingSynthesize", request_id, voice_kind, summary, status);
  return status;
}

template <typename Stream>
grpc::Status GatewayService::RunStreamingSynthesis(grpc::ServerContextBase* context, Stream* stream,
                                                   const std::string& request_id, v1::SynthesisSummary* summary,
                                                   std::string* voice_kind) {
  grpc::Status authorized = Authorize(context);
  if (!authorized.ok()) return authorized;
  v1::StreamingSynthesizeRequest message;
  if (!stream->Read(&message) || !message.has_config()) {
    return Invalid("the first message must carry `config`; later messages carry `text`");
  }
  v1::SynthesizeRequest request;
  *request.mutable_config() = message.config();
  *voice_kind = VoiceKind(request.config().voice());
  v1::AudioEncoding encoding;
  grpc::Status checked = CheckAudioConfig(request.config().audio(), &encoding);
  if (!checked.ok()) return checked;
  absl::StatusOr<AdmissionControl::Slot> slot = admission_.Acquire([context] { return context->IsCancelled(); });
  if (!slot.ok()) return ToGrpcStatus(slot.status());
  // Wait for the first ready piece of text (or the end of the input).
  std::string pending, ready;
  bool closed = false;
  while (ready.empty() && !closed) {
    if (!stream->Read(&message)) {
      closed = true;
    } else if (!message.has_text()) {
      return Invalid("after the first message only `text` messages are allowed");
    } else {
      pending += message.text();
    }
    ready = TakeReadyText(&pending, closed);
  }
  if (ready.find_first_not_of(" \t\n\r") == std::string::npos) return Invalid("text: no text before the input was closed");
  request.set_text(ready);
  v1::GenerateRequest generate;
  grpc::Status built = BuildTalkerRequest(context, request, &generate);
  if (!built.ok()) return built;
  if (generate.ref_frames_size() > 0) {
    return Invalid("config.voice.reference: in-context cloning needs the whole text; use Synthesize, or x_vector_only");
  }
  if (request.config().non_streaming_mode()) {
    return Invalid("config.non_streaming_mode: must be unset or false for streaming text input (the text is not known up front)");
  }
  // The talker takes <|im_start|>assistant\n{text so far} and the rest as it comes.
  absl::StatusOr<std::vector<int64_t>> open_ids = tokenizer_->Encode("assistant\n" + ready, false);
  if (!open_ids.ok()) return Invalid(absl::StrCat("text: ", open_ids.status().message()));
  generate.clear_input_ids();
  generate.add_input_ids(info_.config.im_start_token_id);
  generate.mutable_input_ids()->Add(open_ids->begin(), open_ids->end());

  std::unique_ptr<grpc::ClientContext> talker_context = grpc::ClientContext::FromServerContext(*context);
  talker_context->AddMetadata("x-request-id", request_id);
  auto talker = talker_->GenerateStreamingText(talker_context.get());
  v1::GenerateStreamingTextRequest first;
  *first.mutable_request() = generate;
  if (!talker->Write(first)) return talker->Finish();
  grpc::Status input_status;
  std::atomic<bool> input_failed{false};  // set before the talker call is cancelled for it
  // Text keeps arriving from the client on this thread while audio flows back on the caller's.
  std::thread forward([&] {
    auto send = [&](const std::string& text) {
      if (text.empty()) return true;
      absl::StatusOr<std::vector<int64_t>> ids = tokenizer_->Encode(text, false);
      if (!ids.ok()) {
        input_status = Invalid(absl::StrCat("text: ", ids.status().message()));
        return false;
      }
      v1::GenerateStreamingTextRequest piece;
      piece.mutable_text()->mutable_ids()->Add(ids->begin(), ids->end());
      return talker->Write(piece);
    };
    v1::StreamingSynthesizeRequest in;
    bool ok = true;
    while (ok && !closed && stream->Read(&in)) {
      if (!in.has_text()) {
        input_status = Invalid("after the first message only `text` messages are allowed");
        ok = false;
        break;
      }
      pending += in.text();
      ok = send(TakeReadyText(&pending, false));
    }
    if (ok) send(TakeReadyText(&pending, true));
    // An input error stops the talker (the client gets that error). A failed write to the talker
    // does not: the talker's own status (UNAVAILABLE for a dead stage) reaches the pump.
    if (!input_status.ok()) {
      input_failed.store(true);
      talker_context->TryCancel();
    }
    talker->WritesDone();
  });
  grpc::Status status = Pump(context, request_id, generate, request.config().audio(), talker.get(),
                             talker_context.get(), stream, summary);
  // A stage failed (or the client went away) while the text input may still be open: end the call
  // with that status now, which also ends the forward thread's blocked read. An input error ends
  // that thread by itself, and its status is the one the client gets.
  if (!status.ok() && !input_failed.load()) stream->FinishOnce(status);
  forward.join();
  if (!input_status.ok()) return input_status;
  return status;
}

grpc::ServerReadReactor<v1::CreateVoiceRequest>* GatewayService::CreateVoice(grpc::CallbackServerContext* context,
                                                                             v1::Voice* response) {
  return new BlockingReadReactor<v1::CreateVoiceRequest>(
      [this, context, response](auto* reader) { return DoCreateVoice(context, reader, response); });
}

template <typename Reader>
grpc::Status GatewayService::DoCreateVoice(grpc::ServerContextBase* context, Reader* reader, v1::Voice* response) {
  grpc::Status authorized = Authorize(context);
  if (!authorized.ok()) return authorized;
  grpc::Status ready = CheckVoices();
  if (!ready.ok()) return ready;
  v1::CreateVoiceRequest message;
  if (!reader->Read(&message) || !message.has_spec()) {
    return Invalid("the first message must carry `spec`; later messages carry `audio_chunk`");
  }
  const v1::VoiceSpec spec = message.spec();
  if (!spec.x_vector_only() && spec.reference_text().empty()) {
    return Invalid("spec.reference_text: the transcript is required for in-context cloning (or set x_vector_only)");
  }
  if (spec.display_name().size() > 256) return Invalid("spec.display_name: at most 256 bytes");
  std::string audio;
  while (reader->Read(&message)) {
    if (!message.has_audio_chunk()) return Invalid("after the first message only `audio_chunk` messages are allowed");
    if (static_cast<int64_t>(audio.size() + message.audio_chunk().size()) > limits_.max_upload_bytes) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("audio_chunk: the upload exceeds ", limits_.max_upload_bytes, " bytes"));
    }
    audio += message.audio_chunk();
  }
  if (audio.empty()) return Invalid("audio_chunk: no reference audio was sent");
  StoredVoice voice;
  grpc::Status embedded = EmbedReference(context, audio, spec.x_vector_only(), "audio_chunk", &voice);
  if (!embedded.ok()) return embedded;
  voice.display_name = spec.display_name();
  voice.reference_text = spec.x_vector_only() ? "" : spec.reference_text();
  absl::StatusOr<StoredVoice> created = voices_->Create(std::move(voice));
  if (!created.ok()) return ToGrpcStatus(created.status());
  ToProto(*created, response);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* GatewayService::ListVoices(grpc::CallbackServerContext* context, const v1::ListVoicesRequest*,
                                                     v1::ListVoicesResponse* response) {
  grpc::Status authorized = Authorize(context);
  return Finished(context, authorized.ok() ? DoListVoices(response) : authorized);
}

grpc::Status GatewayService::DoListVoices(v1::ListVoicesResponse* response) {
  grpc::Status ready = CheckVoices();
  if (!ready.ok()) return ready;
  for (const StoredVoice& v : voices_->List()) ToProto(v, response->add_voices());
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* GatewayService::GetVoice(grpc::CallbackServerContext* context, const v1::GetVoiceRequest* request,
                                                   v1::Voice* response) {
  grpc::Status authorized = Authorize(context);
  return Finished(context, authorized.ok() ? DoGetVoice(request, response) : authorized);
}

grpc::Status GatewayService::DoGetVoice(const v1::GetVoiceRequest* request, v1::Voice* response) {
  grpc::Status ready = CheckVoices();
  if (!ready.ok()) return ready;
  absl::StatusOr<StoredVoice> v = voices_->Get(request->voice_id());
  if (!v.ok()) return ToGrpcStatus(absl::Status(v.status().code(), absl::StrCat("voice_id: ", v.status().message())));
  ToProto(*v, response);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* GatewayService::DeleteVoice(grpc::CallbackServerContext* context, const v1::DeleteVoiceRequest* request,
                                                      v1::DeleteVoiceResponse*) {
  grpc::Status authorized = Authorize(context);
  return Finished(context, authorized.ok() ? DoDeleteVoice(request) : authorized);
}

grpc::Status GatewayService::DoDeleteVoice(const v1::DeleteVoiceRequest* request) {
  grpc::Status ready = CheckVoices();
  if (!ready.ok()) return ready;
  absl::Status s = voices_->Delete(request->voice_id());
  if (!s.ok()) return ToGrpcStatus(absl::Status(s.code(), absl::StrCat("voice_id: ", s.message())));
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* GatewayService::ListSpeakers(grpc::CallbackServerContext* context, const v1::ListSpeakersRequest*,
                                                       v1::ListSpeakersResponse* response) {
  grpc::Status authorized = Authorize(context);
  if (!authorized.ok()) return Finished(context, authorized);
  for (const auto& [name, id] : info_.config.talker.spk_id) {
    v1::Speaker* s = response->add_speakers();
    s->set_name(name);
    auto dialect = info_.config.talker.spk_is_dialect.find(name);
    if (dialect != info_.config.talker.spk_is_dialect.end()) s->set_dialect(dialect->second);
  }
  return Finished(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GatewayService::GetModelInfo(grpc::CallbackServerContext* context, const v1::GetModelInfoRequest*,
                                                       v1::ModelInfo* response) {
  grpc::Status authorized = Authorize(context);
  if (!authorized.ok()) return Finished(context, authorized);
  response->set_variant(ModelVariantName(info_.config.variant));
  response->set_size(info_.config.SizeLabel());
  for (const auto& [name, id] : info_.config.talker.spk_id) response->add_speakers(name);
  response->add_languages("auto");
  for (const auto& [name, id] : info_.config.talker.codec_language_id) response->add_languages(name);
  for (v1::AudioEncoding e : {v1::PCM_S16LE, v1::PCM_F32LE, v1::WAV, v1::OGG_OPUS, v1::MP3}) response->add_encodings(e);
  response->set_native_sample_rate_hertz(kSampleRate);
  return Finished(context, grpc::Status::OK);
}

}  // namespace qwen3tts
