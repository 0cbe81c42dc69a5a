// The one place where absl::Status meets grpc::Status, and the server bootstrap every stage uses
// (health checking and reflection enabled, graceful shutdown on SIGTERM/SIGINT).
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace qwen3tts {

// Same canonical code and message in both directions.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Builds and runs a server on `address` (e.g. "127.0.0.1:0" for a free port) with the given
// services. Prints "listening on HOST:PORT" (the port actually bound) to stdout, marks the health
// service SERVING, and blocks until SIGTERM/SIGINT, then drains with `drain_seconds` deadline.
// `on_listening(server, port)` runs once the port is bound and before the server reports SERVING
// (to start a companion HTTP server, or to wire in-process channels); returning false aborts start-up.
int RunServer(const std::string& name, const std::string& address, const std::vector<grpc::Service*>& services,
              double drain_seconds = 10.0,
              const std::function<bool(grpc::Server*, int)>& on_listening = nullptr);

// A channel to an internal stage: client-side round_robin over every address the name resolves
// to (headless Services on Kubernetes), keepalive pings, and no message size limit surprises.
std::shared_ptr<grpc::Channel> MakeStageChannel(const std::string& target);

}  // namespace qwen3tts
