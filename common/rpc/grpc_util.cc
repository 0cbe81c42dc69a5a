#include "common/rpc/grpc_util.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/server_interceptor.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/metrics/metrics.h"
#include "common/rpc/admission.h"
#include "common/util/file_util.h"

namespace qwen3tts {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

absl::StatusOr<std::string> ReadPem(const std::string& path, const std::string& key) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(key, ": ", text.status().message()));
  if (text->find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", path, " is not a PEM file"));
  }
  return text;
}

// Audio and codes are small per message; uploads (reference clips) are bounded by the gateway's
// own limits while they stream. 64 MiB keeps one oversized message from exhausting memory.
constexpr int kMaxMessageBytes = 64 << 20;

std::string HostOf(const std::string& address) { return address.substr(0, address.rfind(':')); }

}  // namespace

bool IsLoopbackAddress(const std::string& host_port) {
  std::string rest = host_port;
  for (const char* scheme : {"dns:///", "dns:", "ipv4:", "ipv6:"}) {
    if (rest.rfind(scheme, 0) == 0) {
      rest = rest.substr(std::string(scheme).size());
      break;
    }
  }
  if (rest.empty()) return false;
  size_t start = 0;
  while (start <= rest.size()) {
    size_t comma = rest.find(',', start);
    if (comma == std::string::npos) comma = rest.size();
    std::string one = rest.substr(start, comma - start);
    std::string host = one.rfind(':') == std::string::npos ? one : one.substr(0, one.rfind(':'));
    const bool loopback = host.rfind("127.", 0) == 0 || host == "localhost" || host == "[::1]" || host == "::1";
    if (!loopback) return false;
    start = comma + 1;
  }
  return true;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerTlsFiles& tls) {
  if (!tls.enabled()) {
    if (!tls.client_ca_file.empty()) {
      return absl::InvalidArgumentError("tls_client_ca_file needs tls_cert_file and tls_key_file");
    }
    return grpc::InsecureServerCredentials();
  }
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError("tls_cert_file and tls_key_file must be set together");
  }
  absl::StatusOr<std::string> cert = ReadPem(tls.cert_file, "tls_cert_file");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(tls.key_file, "tls_key_file");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(tls.client_ca_file, "tls_client_ca_file");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const ChannelTlsFiles& tls) {
  if (!tls.enabled()) return grpc::InsecureChannelCredentials();
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError("stage_cert_file and stage_key_file must be set together");
  }
  grpc::SslCredentialsOptions options;
  if (!tls.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(tls.ca_file, "stage_ca_file");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
  }
  if (!tls.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadPem(tls.cert_file, "stage_cert_file");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem(tls.key_file, "stage_key_file");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *cert;
    options.pem_private_key = *key;
  }
  return grpc::SslCredentials(options);
}

int RunServer(const ServerOptions& options, const std::function<absl::StatusOr<ServiceList>()>& load,
              const std::function<bool(grpc::Server*, int)>& on_listening) {
  const char* name = options.name.c_str();
  auto fail = [&](const absl::Status& status) {
    std::fprintf(stderr, "%s: %s\n", name, std::string(status.message()).c_str());
    return 1;
  };
  if (!options.tls.enabled() && !options.allow_plaintext && !IsLoopbackAddress(options.listen)) {
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "listen: ", options.listen, " is not a loopback address and no TLS is configured; set tls_cert_file and ",
        "tls_key_file, or plaintext: true to serve without encryption")));
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeServerCredentials(options.tls);
  if (!credentials.ok()) return fail(credentials.status());
  std::unique_ptr<MetricsEndpoint> metrics;
  if (!options.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> started = MetricsEndpoint::Start(options.metrics_listen, options.metrics_bearer_keys);
    if (!started.ok()) return fail(started.status());
    metrics = std::move(*started);
    std::printf("%s metrics on %s:%d\n", name, HostOf(options.metrics_listen).c_str(), metrics->port());
  }
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  // Phase 1: only health, NOT_SERVING, while the models load (Kubernetes' startup and readiness
  // probes see the process alive but not ready).
  int port = 0;
  {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(options.listen, *credentials, &port);
    std::unique_ptr<grpc::Server> loading = builder.BuildAndStart();
    if (!loading || port == 0) return fail(absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen)));
    loading->GetHealthCheckService()->SetServingStatus(false);
    loading->GetHealthCheckService()->SetServingStatus(kLivenessService, true);
    std::printf("%s loading on %s:%d\n", name, HostOf(options.listen).c_str(), port);
    std::fflush(stdout);
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<ServiceList> services = load();
    if (!services.ok()) {
      loading->Shutdown(std::chrono::system_clock::now());
      return fail(services.status());
    }
    StageMetrics::For(options.stage.empty() ? "all" : options.stage)
        .model_load_seconds.Set(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    loading->Shutdown(std::chrono::system_clock::now());
    loading->Wait();
    loading.reset();

    // Phase 2: the real server on the same port.
    grpc::ServerBuilder serving;
    const std::string address = absl::StrCat(HostOf(options.listen), ":", port);
    int bound = 0;
    serving.AddListeningPort(address, *credentials, &bound);
    serving.SetMaxReceiveMessageSize(kMaxMessageBytes);
    serving.SetMaxSendMessageSize(kMaxMessageBytes);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
    interceptors.push_back(MakeRpcMetricsInterceptorFactory());
    serving.experimental().SetInterceptorCreators(std::move(interceptors));
    for (const std::shared_ptr<grpc::Service>& s : *services) serving.RegisterService(s.get());
    std::unique_ptr<grpc::Server> server = serving.BuildAndStart();
    if (!server || bound != port) return fail(absl::UnavailableError(absl::StrCat("cannot listen again on ", address)));
    if (on_listening && !on_listening(server.get(), port)) {
      server->Shutdown();
      return 1;
    }
    server->GetHealthCheckService()->SetServingStatus(true);
    server->GetHealthCheckService()->SetServingStatus(kLivenessService, true);
    std::printf("%s listening on %s:%d\n", name, HostOf(options.listen).c_str(), port);
    std::fflush(stdout);
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // Not ready any more (still alive); stop taking calls, let streams in flight finish up to the
    // drain deadline, then cancel what is left.
    BeginDraining();
    server->GetHealthCheckService()->SetServingStatus(false);
    server->GetHealthCheckService()->SetServingStatus(kLivenessService, true);
    std::printf("%s draining (up to %.1f s)\n", name, options.drain_seconds);
    std::fflush(stdout);
    server->Shutdown(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(options.drain_seconds * 1000)));
    server->Wait();
    std::printf("%s stopped\n", name);
    std::fflush(stdout);
  }
  return 0;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeStageChannel(const std::string& target, const ChannelTlsFiles& tls) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = MakeChannelCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  // A restarted stage is picked up within a few seconds instead of gRPC's default 2-minute cap.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 3000);
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  return grpc::CreateCustomChannel(target, *credentials, args);
}

}  // namespace qwen3tts
