#include "common/metrics/metrics.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/support/server_interceptor.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "common/util/secrets.h"
#include "common/util/tcp_listen.h"

#ifndef QWEN3TTS_VERSION
#define QWEN3TTS_VERSION "unknown"
#endif
#ifndef QWEN3TTS_GIT_SHA
#define QWEN3TTS_GIT_SHA "unknown"
#endif

namespace qwen3tts {

namespace {

using prometheus::Histogram;


Histogram::BucketBoundaries LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.08, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

Histogram::BucketBoundaries FactorBuckets() { return {0.1, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 5, 10}; }

Histogram::BucketBoundaries BatchBuckets() { return {1, 2, 4, 8, 16, 32, 64}; }

struct Families {
  prometheus::Family<prometheus::Gauge>& active_streams = prometheus::BuildGauge()
      .Name("qwen3tts_active_streams").Help("Streams being served now.").Register(MetricsRegistry());
  prometheus::Family<prometheus::Gauge>& queue_depth = prometheus::BuildGauge()
      .Name("qwen3tts_queue_depth").Help("Streams waiting for a free slot.").Register(MetricsRegistry());
  prometheus::Family<Histogram>& queue_wait = prometheus::BuildHistogram()
      .Name("qwen3tts_queue_wait_seconds").Help("Time a stream waited for a slot.").Register(MetricsRegistry());
  prometheus::Family<prometheus::Counter>& rejected = prometheus::BuildCounter()
      .Name("qwen3tts_rejected_streams_total").Help("Streams refused with RESOURCE_EXHAUSTED (limits reached).")
      .Register(MetricsRegistry());
  prometheus::Family<Histogram>& batch_size = prometheus::BuildHistogram()
      .Name("qwen3tts_batch_size").Help("Sequences advanced together in one talker step; streams decoded together in one vocoder round.").Register(MetricsRegistry());
  prometheus::Family<prometheus::Counter>& frames = prometheus::BuildCounter()
      .Name("qwen3tts_frames_total").Help("Codec frames (80 ms of audio each) generated, decoded or streamed.")
      .Register(MetricsRegistry());
  prometheus::Family<Histogram>& ttfa = prometheus::BuildHistogram()
      .Name("qwen3tts_time_to_first_audio_seconds").Help("Request start to first frame (talker) or first audio (gateway).")
      .Register(MetricsRegistry());
  prometheus::Family<Histogram>& rtf = prometheus::BuildHistogram()
      .Name("qwen3tts_real_time_factor").Help("Processing time divided by audio duration, per stream.")
      .Register(MetricsRegistry());
  prometheus::Family<Histogram>& talker_frame = prometheus::BuildHistogram()
      .Name("qwen3tts_talker_frame_seconds").Help("Talker transformer time per frame.").Register(MetricsRegistry());
  prometheus::Family<Histogram>& cp_frame = prometheus::BuildHistogram()
      .Name("qwen3tts_code_predictor_frame_seconds").Help("Code predictor time per frame (15 residual codes).")
      .Register(MetricsRegistry());
  prometheus::Family<Histogram>& decode = prometheus::BuildHistogram()
      .Name("qwen3tts_vocoder_decode_seconds").Help("Vocoder time per Decode message (frames to PCM).")
      .Register(MetricsRegistry());
  prometheus::Family<prometheus::Counter>& prompt_rows = prometheus::BuildCounter()
      .Name("qwen3tts_prompt_rows_total")
      .Help("Talker prompt rows: source=computed by the prefill, source=cached from the prompt-head cache.")
      .Register(MetricsRegistry());
  prometheus::Family<Histogram>& prefill_wait = prometheus::BuildHistogram()
      .Name("qwen3tts_prefill_wait_seconds").Help("Talker: time a request waited for the prefill thread (prefills run one at a time).")
      .Register(MetricsRegistry());
  prometheus::Family<Histogram>& prefill = prometheus::BuildHistogram()
      .Name("qwen3tts_prefill_seconds").Help("Talker: time of a request's prefill (its prompt through the talker).")
      .Register(MetricsRegistry());
  prometheus::Family<prometheus::Gauge>& model_load = prometheus::BuildGauge()
      .Name("qwen3tts_model_load_seconds").Help("Model loading and warm-up time at start-up.").Register(MetricsRegistry());
  prometheus::Family<prometheus::Gauge>& build_info = prometheus::BuildGauge()
      .Name("qwen3tts_build_info").Help("Build and runtime settings of this stage (value 1).").Register(MetricsRegistry());
  prometheus::Family<prometheus::Gauge>& resident = prometheus::BuildGauge()
      .Name("qwen3tts_process_resident_memory_bytes").Help("Resident set size of this process (read at scrape time).")
      .Register(MetricsRegistry());
  prometheus::Family<prometheus::Counter>& grpc_requests = prometheus::BuildCounter()
      .Name("qwen3tts_grpc_requests_total").Help("Finished gRPC calls by method and status code.").Register(MetricsRegistry());
  prometheus::Family<prometheus::Gauge>& grpc_active = prometheus::BuildGauge()
      .Name("qwen3tts_grpc_active_calls").Help("gRPC calls in progress by method.").Register(MetricsRegistry());
  prometheus::Family<Histogram>& grpc_duration = prometheus::BuildHistogram()
      .Name("qwen3tts_grpc_request_duration_seconds").Help("gRPC call duration by method.").Register(MetricsRegistry());
};

Families& F() {
  static auto* families = new Families();
  return *families;
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "OTHER";
  }
}

// "/pkg.Service/Method" of a method compiled into this binary, else "unknown": a client cannot
// create label values by calling made-up methods.
std::string BoundedMethodLabel(const char* path) {
  std::string method = path == nullptr ? "" : path;
  if (method.size() < 2 || method[0] != '/') return "unknown";
  std::string full = method.substr(1);
  const size_t slash = full.find('/');
  if (slash == std::string::npos) return "unknown";
  full[slash] = '.';
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full) != nullptr ? method : "unknown";
}

// The value of an HTTP header (case-insensitive name) in a raw request head; "" when absent.
std::string HeaderValue(const std::string& head, const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(head);
  const size_t at = lower.find("\r\n" + name + ":");
  if (at == std::string::npos) return "";
  const size_t start = at + 3 + name.size();
  const size_t end = head.find("\r\n", start);
  return std::string(absl::StripAsciiWhitespace(head.substr(start, end == std::string::npos ? end : end - start)));
}

// From /proc/self/statm (pages); 0 where it cannot be read.
int64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * ::sysconf(_SC_PAGESIZE) : 0;
}

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit RpcMetricsInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(BoundedMethodLabel(info->method())),
        active_(F().grpc_active.Add({{"method", method_}})),
        start_(std::chrono::steady_clock::now()) {
    active_.Increment();
  }
  ~RpcMetricsInterceptor() override { active_.Decrement(); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      F().grpc_requests.Add({{"method", method_}, {"code", CodeName(status.error_code())}}).Increment();
      F().grpc_duration.Add({{"method", method_}}, LatencyBuckets())
          .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  prometheus::Gauge& active_;
  std::chrono::steady_clock::time_point start_;
};

class RpcMetricsInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(info);
  }
};

}  // namespace

prometheus::Registry& MetricsRegistry() {
  static auto* registry = new prometheus::Registry();  // never destroyed: used until exit
  return *registry;
}

StageMetrics& StageMetrics::For(const std::string& stage) {
  static std::mutex mu;
  static auto* stages = new std::map<std::string, std::unique_ptr<StageMetrics>>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = stages->find(stage);
  if (it != stages->end()) return *it->second;
  const prometheus::Labels labels = {{"stage", stage}};
  Families& f = F();
  auto* m = new StageMetrics{
      f.active_streams.Add(labels),
      f.queue_depth.Add(labels),
      f.queue_wait.Add(labels, LatencyBuckets()),
      f.rejected.Add(labels),
      f.batch_size.Add(labels, BatchBuckets()),
      f.frames.Add(labels),
      f.ttfa.Add(labels, LatencyBuckets()),
      f.rtf.Add(labels, FactorBuckets()),
      f.talker_frame.Add(labels, LatencyBuckets()),
      f.cp_frame.Add(labels, LatencyBuckets()),
      f.decode.Add(labels, LatencyBuckets()),
      f.model_load.Add(labels),
      f.prompt_rows.Add({{"stage", stage}, {"source", "computed"}}),
      f.prompt_rows.Add({{"stage", stage}, {"source", "cached"}}),
      f.prefill_wait.Add(labels, LatencyBuckets()),
      f.prefill.Add(labels, LatencyBuckets()),
  };
  stages->emplace(stage, std::unique_ptr<StageMetrics>(m));
  return *m;
}

void SetBuildInfo(const std::string& stage, const std::string& precision, int threads) {
  F().build_info
      .Add({{"stage", stage},
            {"version", QWEN3TTS_VERSION},
            {"git_sha", QWEN3TTS_GIT_SHA},
            {"precision", precision},
            {"threads", std::to_string(threads)}})
      .Set(1);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptorFactory() {
  return std::make_unique<RpcMetricsInterceptorFactory>();
}

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const std::string& address,
                                                                        std::vector<std::string> bearer_keys) {
  absl::StatusOr<TcpListener> listener = ListenTcp(address, "metrics_listen");
  if (!listener.ok()) return listener.status();
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint());
  endpoint->bearer_keys_ = std::move(bearer_keys);
  endpoint->listen_fd_ = listener->fd;
  endpoint->port_ = listener->port;
  endpoint->thread_ = std::thread([e = endpoint.get()] { e->Serve(); });
  return endpoint;
}

void MetricsEndpoint::Serve() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
    }
    const std::string line = request.substr(0, request.find("\r\n"));
    std::string response;
    if (!bearer_keys_.empty() && !BearerMatchesAnyKey(HeaderValue(request, "authorization"), bearer_keys_)) {
      const std::string body = "missing or invalid bearer token\n";
      response = absl::StrCat("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Type: text/plain\r\n",
                              "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
    } else if (line.rfind("GET /metrics ", 0) == 0 || line == "GET /metrics") {
      F().resident.Add({}).Set(static_cast<double>(ResidentBytes()));
      const std::string body = prometheus::TextSerializer().Serialize(MetricsRegistry().Collect());
      response = absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n",
                              "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
    } else {
      const std::string body = "only GET /metrics is served here\n";
      response = absl::StrCat("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: ", body.size(),
                              "\r\nConnection: close\r\n\r\n", body);
    }
    SendAll(fd, response);
    ::close(fd);
  }
}

MetricsEndpoint::~MetricsEndpoint() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
}

}  // namespace qwen3tts
