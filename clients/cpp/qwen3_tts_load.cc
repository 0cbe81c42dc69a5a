// qwen3-tts-load: a closed-loop load generator and soak monitor for the gateway.
//
//   qwen3-tts-load --target HOST:PORT [--streams N] [--duration S] [--text T]... [--speaker NAME]
//       [--language NAME] [--max-seconds S] [--deadline S] [--metrics URL]... [--sample-interval S]
//       [--warmup S] [--json FILE] [--prompt default|streaming|non-streaming]
//
// --prompt streaming asks for the streaming prompt layout (non_streaming_mode false: the text is
// fed one token per frame, so the prefill is a few positions instead of the whole sentence).
// N streams each run Synthesize calls back to back for the duration (closed loop: a stream never
// has more than one call in flight, so the offered load adapts to the server instead of piling up
// queues). Time to first audio and latency come from this process's own clock, so they include the
// network and every stage, unlike the servers' histograms. While the load runs, each --metrics URL
// (a stage's Prometheus endpoint) is scraped for its resident set size, to spot leaks: the RSS
// "start" figure is taken after a warm-up, because allocator pools, caches and thread stacks grow
// during the first requests and would otherwise read as drift.
//
// Exit status: 0 when every request succeeded, 1 when any failed (or none completed), 2 on usage errors.
#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "qwen3tts/v1/tts.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;
namespace v1 = qwen3tts::v1;

double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// ---------------------------------------------------------------------------------------------
// Options

// Short sentences of different lengths and punctuation, rotated so that the talker does not see the
// same prompt length every time (a fixed length can hide allocations that depend on it).
const std::vector<std::string> kDefaultTexts = {
    "The quick brown fox jumps over the lazy dog.",
    "Reliability is measured in hours of uninterrupted service, not in single requests.",
    "Hello! How are you doing today?",
    "Please keep your ticket until the end of the journey, thank you.",
};

struct Options {
  std::string target;
  int streams = 4;
  double duration = 60;
  std::vector<std::string> texts;
  std::string speaker = "ryan";
  std::string language = "english";
  // "default" (the model's: whole text in the prompt for CustomVoice), "streaming" (one text token
  // per frame: non_streaming_mode false) or "non-streaming".
  std::string prompt = "default";
  double max_seconds = 5;
  double deadline = 120;
  std::vector<std::string> metrics_urls;
  double sample_interval = 5;
  std::optional<double> warmup;  // unset: derived from the duration, see WarmupSeconds()
  std::string json_path;
};

int Usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "qwen3-tts-load: %s\n", error.c_str());
  std::fprintf(stderr,
               "usage: qwen3-tts-load --target HOST:PORT [--streams N] [--duration S] [--text T]...\n"
               "         [--speaker NAME] [--language NAME] [--max-seconds S] [--deadline S]\n"
               "         [--prompt default|streaming|non-streaming]\n"
               "         [--metrics URL]... [--sample-interval S] [--warmup S] [--json FILE]\n");
  return 2;
}

bool ParseNumber(const std::string& text, double* out) {
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size();
}

// Returns an error message, empty on success. --text and --metrics accumulate; others overwrite.
std::string ParseOptions(int argc, char** argv, Options* o) {
  const std::map<std::string, std::string*> strings = {
      {"target", &o->target}, {"speaker", &o->speaker}, {"language", &o->language}, {"json", &o->json_path},
      {"prompt", &o->prompt}};
  const std::map<std::string, std::vector<std::string>*> lists = {{"text", &o->texts}, {"metrics", &o->metrics_urls}};
  double streams = o->streams, warmup = -1;
  const std::map<std::string, double*> numbers = {
      {"streams", &streams},         {"duration", &o->duration},     {"max-seconds", &o->max_seconds},
      {"deadline", &o->deadline},    {"sample-interval", &o->sample_interval}, {"warmup", &warmup}};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) return "unexpected argument '" + arg + "'";
    const std::string name = arg.substr(2);
    if (!strings.count(name) && !lists.count(name) && !numbers.count(name)) return "unknown option " + arg;
    if (i + 1 >= argc) return arg + " needs a value";
    const std::string value = argv[++i];
    if (strings.count(name)) {
      *strings.at(name) = value;
    } else if (lists.count(name)) {
      lists.at(name)->push_back(value);
    } else if (!ParseNumber(value, numbers.at(name)) || *numbers.at(name) < 0) {
      return arg + ": not a non-negative number";
    }
  }
  if (o->target.empty()) return "--target is required";
  if (o->prompt != "default" && o->prompt != "streaming" && o->prompt != "non-streaming") {
    return "--prompt must be default, streaming or non-streaming, got '" + o->prompt + "'";
  }
  if (streams < 1 || streams != std::floor(streams)) return "--streams must be a positive integer";
  if (o->duration <= 0) return "--duration must be positive";
  if (o->sample_interval <= 0) return "--sample-interval must be positive";
  if (o->deadline <= 0) return "--deadline must be positive";
  o->streams = static_cast<int>(streams);
  if (warmup >= 0) o->warmup = warmup;
  if (o->texts.empty()) o->texts = kDefaultTexts;
  return "";
}

// Long soaks warm up for 10% of the run; short runs for 5 s, but never past half of the run so
// that a smoke test still gets post-warm-up samples.
double WarmupSeconds(const Options& o) {
  if (o.warmup) return *o.warmup;
  return std::min(std::max(0.1 * o.duration, 5.0), 0.5 * o.duration);
}

// ---------------------------------------------------------------------------------------------
// Load

struct RequestResult {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  double ttfa = -1;  // seconds from the call to the first non-empty audio chunk; -1 without audio
  double latency = 0;
  int64_t frames = 0;
  double audio_seconds = 0;
};

v1::SynthesizeRequest BuildRequest(const Options& o, const std::string& text) {
  v1::SynthesizeRequest request;
  request.set_text(text);
  v1::SynthesisConfig* config = request.mutable_config();
  config->mutable_voice()->set_speaker(o.speaker);
  config->set_language(o.language);
  // Raw PCM keeps encoder cost out of the measurement; the figures are about the model stages.
  config->mutable_audio()->set_encoding(v1::PCM_F32LE);
  config->set_max_duration_seconds(static_cast<float>(o.max_seconds));
  if (o.prompt != "default") config->set_non_streaming_mode(o.prompt == "non-streaming");
  return request;
}

RequestResult RunOne(v1::TextToSpeech::Stub& stub, const Options& o, const std::string& text) {
  RequestResult r;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(o.deadline * 1000)));
  const v1::SynthesizeRequest request = BuildRequest(o, text);
  const auto start = Clock::now();
  auto reader = stub.Synthesize(&context, request);
  v1::SynthesizeResponse response;
  while (reader->Read(&response)) {
    if (response.has_audio() && !response.audio().data().empty() && r.ttfa < 0) r.ttfa = SecondsSince(start);
    if (response.has_summary()) {
      r.frames = response.summary().frames();
      r.audio_seconds = response.summary().audio_seconds();
    }
  }
  const grpc::Status status = reader->Finish();
  r.latency = SecondsSince(start);
  r.code = status.error_code();
  r.message = status.error_message();
  return r;
}

// One stream: calls back to back until the load window closes. A call already running when the
// window closes is finished, not cancelled, so that no request is counted as a failure by design.
std::vector<RequestResult> RunStream(v1::TextToSpeech::Stub& stub, const Options& o, int stream_index,
                                     Clock::time_point stop_at) {
  std::vector<RequestResult> results;
  for (size_t n = 0; Clock::now() < stop_at; ++n) {
    const std::string& text = o.texts[(stream_index + n) % o.texts.size()];
    results.push_back(RunOne(stub, o, text));
    // An unreachable or refusing target fails calls in microseconds; pausing keeps a broken run from
    // spinning a core (which would starve the servers on a shared machine) and flooding the counts.
    if (results.back().code != grpc::StatusCode::OK) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// RSS sampling over plain HTTP

struct Url {
  std::string host, port, path;
};

std::optional<Url> ParseUrl(std::string text) {
  const std::string scheme = "http://";
  if (text.rfind(scheme, 0) == 0) text = text.substr(scheme.size());
  const size_t slash = text.find('/');
  Url url;
  url.path = slash == std::string::npos ? "/metrics" : text.substr(slash);
  const std::string authority = text.substr(0, slash);
  const size_t colon = authority.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == authority.size()) return std::nullopt;
  url.host = authority.substr(0, colon);
  url.port = authority.substr(colon + 1);
  return url;
}

// A minimal HTTP/1.0 GET: the metrics endpoints close the connection after the body, so reading
// to EOF is enough and no chunked decoding is needed. Timeouts keep a hung stage from stalling the
// sampler (a missing sample is reported, the load goes on).
std::optional<std::string> HttpGet(const Url& url) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  if (getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &addresses) != 0) return std::nullopt;
  int fd = -1;
  for (addrinfo* a = addresses; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    timeval timeout{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(addresses);
  if (fd < 0) return std::nullopt;
  const std::string request = "GET " + url.path + " HTTP/1.0\r\nHost: " + url.host + "\r\nConnection: close\r\n\r\n";
  bool ok = send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size());
  std::string reply;
  char buffer[8192];
  for (ssize_t n; ok && (n = recv(fd, buffer, sizeof(buffer), 0)) != 0;) {
    if (n < 0) ok = false;
    else reply.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  // "HTTP/1.x 200 OK": the status code follows the first space.
  const size_t space = reply.find(' ');
  const bool status_ok = reply.rfind("HTTP/", 0) == 0 && space != std::string::npos && reply.compare(space + 1, 4, "200 ") == 0;
  const size_t body = reply.find("\r\n\r\n");
  if (!ok || !status_ok || body == std::string::npos) return std::nullopt;
  return reply.substr(body + 4);
}

// The value of an unlabelled Prometheus sample, e.g. "name 1234".
std::optional<double> FindSample(const std::string& text, const std::string& name) {
  for (size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) {
    const bool line_start = at == 0 || text[at - 1] == '\n';
    if (line_start && at + name.size() < text.size() && text[at + name.size()] == ' ') {
      double value = 0;
      const size_t end = text.find('\n', at);
      if (ParseNumber(text.substr(at + name.size() + 1, end - at - name.size() - 1), &value)) return value;
    }
  }
  return std::nullopt;
}

// Each stage labels its build_info with stage="..."; that names the row in the report.
std::optional<std::string> FindStage(const std::string& text) {
  const std::string marker = "\nqwen3tts_build_info{";
  const size_t at = text.find(marker);
  if (at == std::string::npos) return std::nullopt;
  const size_t line_end = text.find('\n', at + 1);
  const size_t label = text.find("stage=\"", at);
  if (label == std::string::npos || label > line_end) return std::nullopt;
  const size_t value = label + 7;
  return text.substr(value, text.find('"', value) - value);
}

struct RssSample {
  double t;  // seconds since the load started
  double bytes;
};

struct StageMemory {
  std::string url;
  std::string stage;  // from build_info; the URL until the first successful scrape
  std::vector<RssSample> samples;
  int scrape_errors = 0;
};

void SampleOnce(std::vector<StageMemory>& stages, Clock::time_point start) {
  for (StageMemory& s : stages) {
    const std::optional<Url> url = ParseUrl(s.url);
    const std::optional<std::string> body = url ? HttpGet(*url) : std::nullopt;
    const std::optional<double> rss = body ? FindSample(*body, "qwen3tts_process_resident_memory_bytes") : std::nullopt;
    if (!rss) {
      ++s.scrape_errors;
      continue;
    }
    if (const auto stage = FindStage(*body); stage && s.stage == s.url) s.stage = *stage;
    s.samples.push_back({SecondsSince(start), *rss});
  }
}

// Samples at the start (before any load), every interval, and once more when the load is over.
class RssSampler {
 public:
  RssSampler(const std::vector<std::string>& urls, double interval, Clock::time_point start)
      : interval_(interval), start_(start) {
    for (const std::string& url : urls) stages_.push_back({url, url, {}, 0});
  }

  void Start() {
    SampleOnce(stages_, start_);
    thread_ = std::thread([this] { Loop(); });
  }

  std::vector<StageMemory> Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    SampleOnce(stages_, start_);
    return stages_;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (auto next = Clock::now();;) {
      next += std::chrono::microseconds(static_cast<int64_t>(interval_ * 1e6));
      if (wake_.wait_until(lock, next, [this] { return stopping_; })) return;
      SampleOnce(stages_, start_);  // stages_ is only touched by this thread until Stop joins it
    }
  }

  double interval_;
  Clock::time_point start_;
  std::vector<StageMemory> stages_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

// ---------------------------------------------------------------------------------------------
// Summaries

struct Percentiles {
  double p50 = 0, p95 = 0, p99 = 0, max = 0;
  size_t count = 0;
};

// Nearest-rank percentiles: with few samples they return a value that was actually observed.
Percentiles ComputePercentiles(std::vector<double> values) {
  Percentiles p;
  p.count = values.size();
  if (values.empty()) return p;
  std::sort(values.begin(), values.end());
  auto rank = [&](double q) {
    const size_t index = static_cast<size_t>(std::ceil(q * values.size()));
    return values[std::min(values.size(), std::max<size_t>(index, 1)) - 1];
  };
  p.p50 = rank(0.50);
  p.p95 = rank(0.95);
  p.p99 = rank(0.99);
  p.max = values.back();
  return p;
}

struct MemorySummary {
  std::string stage;
  bool valid = false;
  double baseline = 0, start = 0, end = 0, max = 0, drift_percent = 0;
  double slope_mib_per_min = 0;  // least-squares slope after warm-up: linear growth shows a leak
  size_t samples = 0;
  int scrape_errors = 0;
};

double SlopeBytesPerSecond(const std::vector<RssSample>& samples) {
  if (samples.size() < 2) return 0;
  double mt = 0, mb = 0;
  for (const RssSample& s : samples) mt += s.t, mb += s.bytes;
  mt /= samples.size();
  mb /= samples.size();
  double num = 0, den = 0;
  for (const RssSample& s : samples) num += (s.t - mt) * (s.bytes - mb), den += (s.t - mt) * (s.t - mt);
  return den > 0 ? num / den : 0;
}

MemorySummary SummarizeMemory(const StageMemory& m, double warmup) {
  MemorySummary s;
  s.stage = m.stage;
  s.samples = m.samples.size();
  s.scrape_errors = m.scrape_errors;
  std::vector<RssSample> after;
  for (const RssSample& r : m.samples)
    if (r.t >= warmup) after.push_back(r);
  if (after.empty()) return s;
  s.valid = true;
  s.baseline = m.samples.front().bytes;
  s.start = after.front().bytes;
  s.end = m.samples.back().bytes;
  for (const RssSample& r : m.samples) s.max = std::max(s.max, r.bytes);
  s.drift_percent = s.start > 0 ? 100.0 * (s.end - s.start) / s.start : 0;
  s.slope_mib_per_min = SlopeBytesPerSecond(after) * 60 / (1024.0 * 1024.0);
  return s;
}

struct LoadSummary {
  size_t ok = 0, failed = 0;
  std::map<std::string, size_t> failures_by_code;
  std::map<std::string, std::string> first_message_by_code;  // one example per code, for diagnosis
  int64_t frames = 0;
  double audio_seconds = 0;
  double wall_seconds = 0;
  Percentiles ttfa, latency;
};

std::string CodeName(grpc::StatusCode code) {
  static const std::map<int, std::string> names = {
      {0, "OK"},          {1, "CANCELLED"},          {2, "UNKNOWN"},          {3, "INVALID_ARGUMENT"},
      {4, "DEADLINE_EXCEEDED"}, {5, "NOT_FOUND"},    {6, "ALREADY_EXISTS"},   {7, "PERMISSION_DENIED"},
      {8, "RESOURCE_EXHAUSTED"}, {9, "FAILED_PRECONDITION"}, {10, "ABORTED"}, {11, "OUT_OF_RANGE"},
      {12, "UNIMPLEMENTED"}, {13, "INTERNAL"},       {14, "UNAVAILABLE"},     {15, "DATA_LOSS"},
      {16, "UNAUTHENTICATED"}};
  const auto it = names.find(static_cast<int>(code));
  return it != names.end() ? it->second : "CODE_" + std::to_string(static_cast<int>(code));
}

LoadSummary SummarizeLoad(const std::vector<RequestResult>& results, double wall_seconds) {
  LoadSummary s;
  s.wall_seconds = wall_seconds;
  std::vector<double> ttfa, latency;
  for (const RequestResult& r : results) {
    // A call that ends OK without any audio is a broken stream to a client, so it counts as a failure.
    const std::string code = r.code != grpc::StatusCode::OK ? CodeName(r.code) : r.ttfa < 0 ? "OK_WITHOUT_AUDIO" : "";
    if (!code.empty()) {
      ++s.failed;
      if (s.failures_by_code[code]++ == 0) s.first_message_by_code[code] = r.message;
      continue;
    }
    ++s.ok;
    s.frames += r.frames;
    s.audio_seconds += r.audio_seconds;
    ttfa.push_back(r.ttfa);
    latency.push_back(r.latency);
  }
  s.ttfa = ComputePercentiles(ttfa);
  s.latency = ComputePercentiles(latency);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Reports

constexpr double kMiB = 1024.0 * 1024.0;

void PrintReport(const Options& o, const LoadSummary& l, const std::vector<MemorySummary>& memory, double warmup) {
  std::printf("\nqwen3-tts-load: %d streams for %.0f s against %s (wall %.1f s)\n", o.streams, o.duration,
              o.target.c_str(), l.wall_seconds);
  std::printf("  requests ok %zu, failed %zu\n", l.ok, l.failed);
  for (const auto& [code, count] : l.failures_by_code)
    std::printf("    %-20s %6zu  e.g. \"%s\"\n", code.c_str(), count, l.first_message_by_code.at(code).c_str());
  std::printf("  throughput %.2f frames/s, %.3f audio s per wall s (%ld frames, %.1f audio s)\n",
              l.frames / l.wall_seconds, l.audio_seconds / l.wall_seconds, static_cast<long>(l.frames),
              l.audio_seconds);
  std::printf("  %-14s %9s %9s %9s %9s\n", "ms", "p50", "p95", "p99", "max");
  for (const auto& [name, p] : {std::pair<const char*, Percentiles>{"time to audio", l.ttfa}, {"latency", l.latency}})
    std::printf("  %-14s %9.1f %9.1f %9.1f %9.1f\n", name, p.p50 * 1e3, p.p95 * 1e3, p.p99 * 1e3, p.max * 1e3);
  if (memory.empty()) return;
  std::printf("  RSS MiB (start = first sample after %.1f s warm-up)\n", warmup);
  std::printf("  %-10s %9s %9s %9s %9s %8s %11s %8s\n", "stage", "idle", "start", "end", "max", "drift%",
              "MiB/min", "samples");
  for (const MemorySummary& m : memory) {
    if (!m.valid) {
      std::printf("  %-10s no samples after warm-up (%d scrape errors)\n", m.stage.c_str(), m.scrape_errors);
      continue;
    }
    std::printf("  %-10s %9.1f %9.1f %9.1f %9.1f %+8.2f %+11.3f %8zu\n", m.stage.c_str(), m.baseline / kMiB,
                m.start / kMiB, m.end / kMiB, m.max / kMiB, m.drift_percent, m.slope_mib_per_min, m.samples);
  }
}

Json PercentilesJson(const Percentiles& p) {
  return {{"count", p.count}, {"p50", p.p50}, {"p95", p.p95}, {"p99", p.p99}, {"max", p.max}};
}

Json ReportJson(const Options& o, const LoadSummary& l, const std::vector<MemorySummary>& memory,
                const std::vector<StageMemory>& raw, double warmup) {
  Json j;
  j["config"] = {{"target", o.target},       {"streams", o.streams},         {"duration_seconds", o.duration},
                 {"speaker", o.speaker},     {"language", o.language},       {"max_seconds", o.max_seconds},
                 {"texts", o.texts},         {"sample_interval_seconds", o.sample_interval},
                 {"warmup_seconds", warmup}};
  j["requests"] = {{"ok", l.ok}, {"failed", l.failed}, {"failed_by_code", l.failures_by_code},
                   {"example_error_by_code", l.first_message_by_code}};
  j["wall_seconds"] = l.wall_seconds;
  j["frames"] = l.frames;
  j["audio_seconds"] = l.audio_seconds;
  j["frames_per_second"] = l.frames / l.wall_seconds;
  j["audio_seconds_per_wall_second"] = l.audio_seconds / l.wall_seconds;
  j["ttfa_seconds"] = PercentilesJson(l.ttfa);
  j["latency_seconds"] = PercentilesJson(l.latency);
  j["rss"] = Json::array();
  for (size_t i = 0; i < memory.size(); ++i) {
    const MemorySummary& m = memory[i];
    Json stage = {{"stage", m.stage}, {"url", raw[i].url}, {"valid", m.valid}, {"scrape_errors", m.scrape_errors}};
    if (m.valid) {
      stage.update({{"idle_bytes", m.baseline}, {"start_bytes", m.start}, {"end_bytes", m.end}, {"max_bytes", m.max},
                    {"drift_percent", m.drift_percent}, {"slope_mib_per_minute", m.slope_mib_per_min}});
    }
    Json series = Json::array();
    for (const RssSample& s : raw[i].samples) series.push_back({s.t, s.bytes});
    stage["samples"] = series;  // [seconds, bytes] pairs, to plot growth over time
    j["rss"].push_back(stage);
  }
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const std::string error = ParseOptions(argc, argv, &options); !error.empty()) return Usage(error);
  const double warmup = WarmupSeconds(options);

  // One channel for all streams: HTTP/2 multiplexes them, as a real front end sharing a connection would.
  auto stub = v1::TextToSpeech::NewStub(grpc::CreateChannel(options.target, grpc::InsecureChannelCredentials()));
  const auto start = Clock::now();
  const auto stop_at = start + std::chrono::microseconds(static_cast<int64_t>(options.duration * 1e6));
  RssSampler sampler(options.metrics_urls, options.sample_interval, start);
  sampler.Start();

  std::vector<std::vector<RequestResult>> per_stream(options.streams);
  std::vector<std::thread> streams;
  for (int i = 0; i < options.streams; ++i)
    streams.emplace_back([&, i] { per_stream[i] = RunStream(*stub, options, i, stop_at); });
  for (std::thread& t : streams) t.join();
  const double wall = SecondsSince(start);
  const std::vector<StageMemory> raw = sampler.Stop();

  std::vector<RequestResult> results;
  for (auto& r : per_stream) results.insert(results.end(), r.begin(), r.end());
  const LoadSummary load = SummarizeLoad(results, wall);
  std::vector<MemorySummary> memory;
  for (const StageMemory& m : raw) memory.push_back(SummarizeMemory(m, warmup));

  PrintReport(options, load, memory, warmup);
  if (!options.json_path.empty()) {
    std::ofstream out(options.json_path);
    out << ReportJson(options, load, memory, raw, warmup).dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "qwen3-tts-load: cannot write %s\n", options.json_path.c_str());
      return 1;
    }
  }
  return load.failed == 0 && load.ok > 0 ? 0 : 1;
}
