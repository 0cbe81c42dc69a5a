// The one place where absl::Status meets grpc::Status, and the server bootstrap every stage uses
// (health checking and reflection enabled, metrics, TLS, graceful shutdown on SIGTERM/SIGINT).
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qwen3tts {

// Same canonical code and message in both directions.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Server-side TLS: a certificate chain and key (PEM files); with a client CA, clients must present
// a certificate signed by it (mutual TLS). All empty: plaintext.
struct ServerTlsFiles {
  std::string cert_file, key_file, client_ca_file;
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerTlsFiles& tls);

// Client-side TLS to a stage: the CA that signed the stage's certificate, and for mutual TLS this
// client's certificate and key. All empty: plaintext.
struct ChannelTlsFiles {
  std::string ca_file, cert_file, key_file;
  bool enabled() const { return !ca_file.empty() || !cert_file.empty() || !key_file.empty(); }
};
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const ChannelTlsFiles& tls);

struct ServerOptions {
  std::string name;             // binary name, for messages: "qwen3-tts-talker"
  std::string stage;            // metrics label: "talker", "vocoder", "gateway" or "all"
  std::string listen;           // HOST:PORT; port 0 picks a free port
  std::string metrics_listen;   // HOST:PORT of GET /metrics; empty: no metrics endpoint
  std::vector<std::string> metrics_bearer_keys;  // non-empty: /metrics needs one of them
  double drain_seconds = 30.0;  // SIGTERM: how long streams in flight may take to finish
  ServerTlsFiles tls;
  // Without TLS files a server refuses to start on a non-loopback address unless plaintext was
  // asked for explicitly: an unencrypted public port must be a decision, not an accident.
  bool allow_plaintext = false;
};

// True for 127.0.0.0/8, ::1 and localhost; `host_port` is "HOST:PORT", "[::1]:PORT" or a gRPC target
// ("dns:///host:port", "ipv4:a:p,b:p"), in which case every address must be loopback.
bool IsLoopbackAddress(const std::string& host_port);

using ServiceList = std::vector<std::shared_ptr<grpc::Service>>;

// Health service names: "" is readiness (SERVING once the models are loaded and warmed up, and
// NOT_SERVING again while draining); "liveness" is SERVING for as long as the process runs.
inline constexpr const char* kLivenessService = "liveness";

// Runs a stage until SIGTERM/SIGINT:
//  1. binds `listen` with a health-only server reporting NOT_SERVING (liveness SERVING) and prints
//     "<name> loading on HOST:PORT";
//  2. runs `load`, which loads and warms up the models and returns the services to serve;
//  3. serves them on the same port, runs `on_listening(server, port)` (to start a companion HTTP
//     server or wire in-process channels; false aborts), reports SERVING and prints
//     "<name> listening on HOST:PORT";
//  4. on SIGTERM stops accepting calls, lets calls in flight finish for up to drain_seconds,
//     cancels the rest and returns 0.
int RunServer(const ServerOptions& options, const std::function<absl::StatusOr<ServiceList>()>& load,
              const std::function<bool(grpc::Server*, int)>& on_listening = nullptr);

// A channel to an internal stage: client-side round_robin over every address the name resolves
// to (headless Services on Kubernetes), keepalive pings, reconnect backoff capped at a few
// seconds, and no message size limit surprises.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeStageChannel(const std::string& target,
                                                                const ChannelTlsFiles& tls = {});

}  // namespace qwen3tts
